"""Mutation kill rates per package, from the verdicts mutmut left in ``mutants/`` (run ``make mutation``).

Reads each mutated module's ``mutants/<path>.meta`` (mutmut's own record of one exit code per mutant), maps the exit
codes with mutmut's ``status_by_exit_code`` and writes ``logs/bench/mutation.json`` (copy it to ``bench/results/`` to
publish it, as every benchmark): per module and per package, killed (a test failed, or the mutant timed out),
survived, no tests, not checked, and the kill rate over the checked mutants. The modules and tests are
``[tool.mutmut]`` in pyproject.toml.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from bench_io import RESULTS, machine, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def verdicts(meta: Path) -> Counter:
    from mutmut.stats import status_by_exit_code

    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return Counter(status_by_exit_code[code] for code in codes.values())


def rate(counts: Counter) -> dict:
    killed = sum(counts[s] for s in KILLED)
    checked = sum(counts.values()) - counts["not checked"]
    return {"mutants": sum(counts.values()), "killed": killed, "survived": counts["survived"],
            "no_tests": counts["no tests"], "suspicious": counts["suspicious"],
            "not_checked": counts["not checked"], "kill_rate": round(killed / checked, 4) if checked else None}


def package_of(module: str) -> str:
    return module.removeprefix("src/cts/").split("/")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    parser.add_argument("--output", type=Path, default=RESULTS / "mutation.json")
    args = parser.parse_args()
    metas = sorted(args.mutants.glob("src/cts/**/*.py.meta"))
    if not metas:
        sys.exit(f"{args.mutants}: no mutmut verdicts (*.py.meta); run `make mutation` first")
    modules = {str(m.relative_to(args.mutants)).removesuffix(".meta"): verdicts(m) for m in metas}
    packages: dict[str, Counter] = {}
    for module, counts in modules.items():
        packages.setdefault(package_of(module), Counter()).update(counts)
    result = {"tool": "mutmut " + __import__("mutmut").__version__, "machine": machine(),
              "modules": {m: rate(c) for m, c in modules.items()},
              "packages": {p: rate(c) for p, c in sorted(packages.items())},
              "all": rate(sum(modules.values(), Counter()))}
    write_result(args.output, result)
    for name, row in [*result["packages"].items(), ("all", result["all"])]:
        print(f"{name:12s} {row['killed']:5d}/{row['mutants'] - row['not_checked']:<5d} killed  "
              f"{row['kill_rate'] if row['kill_rate'] is not None else '-'}  ({row['not_checked']} not checked)")


if __name__ == "__main__":
    main()
