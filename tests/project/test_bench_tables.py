"""Numbers in README.md and docs/training.md come from bench/results/*.json, which strict JSON parsers read."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted((ROOT / "bench" / "results").glob("*.json")), ids=lambda p: p.name)
def test_result_files_are_strict_json(path):
    def refuse(constant):
        raise ValueError(f"{path.name}: {constant} is not JSON")

    json.loads(path.read_text(), parse_constant=refuse)


def test_docs_tables_match_the_result_files():
    assert load("tables").main(["--check"]) == 0, "run python bench/tables.py"


def test_a_section_is_rendered_from_its_result_file(tmp_path, monkeypatch):
    tables = load("tables")
    result = {"machine": "m", "load_average_before": [1.5, 1, 1], "model": "M", "samples": 64, "batch_size": 8,
              "warmup_steps": 2, "repeats": 3, "mean_tokens_per_pair": 12.0, "naive_samples_per_s": 10.0,
              "ours_samples_per_s": 30.0, "naive_samples_per_s_range": [9.0, 11.0],
              "ours_samples_per_s_range": [28.0, 31.0], "ratio": 3.0}
    (tmp_path / "train_throughput.json").write_text(json.dumps(result))
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- bench:train_throughput (generated) -->\nold 4.7×\n"
                   "<!-- /bench:train_throughput -->\nafter\n")
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    monkeypatch.setattr(tables, "SECTIONS", {doc: {"train_throughput": tables.train_throughput}})
    assert tables.main(["--check"]) == 1
    tables.main([])
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "4.7" not in text
    assert "**3.0×**" in text and "load average 1.5" in text and "median of 3 runs" in text
    assert "ranges 9.0–11.0 and 28.0–31.0" in text


def test_benchmark_results_are_written_with_nan_as_null(tmp_path):
    bench_io = load("bench_io")
    bench_io.write_result(tmp_path / "r.json", {"mae": float("nan"), "rows": [1.0, float("inf")], "ok": 2})
    assert json.loads((tmp_path / "r.json").read_text()) == {"mae": None, "rows": [1.0, None], "ok": 2}


def test_sweep_summaries_are_read_in_job_order(tmp_path, monkeypatch):
    """Hydra names sweep jobs ``<n>_<overrides>``: job 10 comes after job 2, a single run is read as one job."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    summaries = load("demo_runs").summaries
    for number, model in ((10, "llama"), (2, "gpt"), (0, "bert")):
        job = tmp_path / "train" / "multiruns" / "sweep" / f"{number}_model={model},task=risk"
        job.mkdir(parents=True)
        (job / "summary.json").write_text(json.dumps({"model": model}))
    assert [s["model"] for s in summaries(tmp_path, "sweep")] == ["bert", "gpt", "llama"]
    single = tmp_path / "train" / "runs" / "one"
    single.mkdir(parents=True)
    (single / "summary.json").write_text(json.dumps({"model": "bert"}))
    assert summaries(tmp_path, "one") == [{"model": "bert"}]


def test_a_benchmark_refuses_a_run_folder_left_by_an_earlier_run(tmp_path, monkeypatch):
    """A benchmark times a fresh run: an earlier run's folder is named before train.py starts (it would resume or
    refuse it)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    timed_run = load("demo_runs").timed_run
    (tmp_path / "train" / "multiruns" / "sweep").mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"multiruns/sweep holds an earlier run"):
        timed_run(["-m", "model=bert,gpt", "name=sweep"], tmp_path, [], ("model",))


def test_t2s2_median_hour_error_resamples_whole_reports():
    """bench/t2s2_annotators.py: row 0 is the median over every report's errors; a resample's median is taken over
    the errors of the reports it drew, as many times as it drew them."""
    import sys

    import numpy as np

    sys.path.insert(0, str(ROOT / "bench"))
    from cts.bootstrap import ClusterBootstrap

    errors = [np.array([1.0, 2.0]), np.array([]), np.array([100.0])]
    boot = ClusterBootstrap(np.array(["b", "c", "a"]), n_resamples=50, seed=0)
    samples = load("t2s2_annotators").median_samples(errors, boot)
    assert samples[0] == 2.0 and len(samples) == 51
    for weights, value in zip(boot.counts, samples[1:]):
        drawn = np.concatenate([np.repeat(errors[i], int(weights[boot.codes[i]])) for i in range(3)] + [[]])
        assert (np.isnan(value) and not len(drawn)) or value == np.median(drawn)


def test_the_headline_table_judges_each_compared_metric_in_its_own_direction(tmp_path, monkeypatch):
    """Top-5 is better higher, bits per event lower: an interval below 0 on bits is a win, above 0 a loss."""
    tables = load("tables")

    def block(metric, delta, lo, hi):
        return {"metric_name": metric, "name": "kn", "value": 1.0, "delta": delta, "delta_ci95": [lo, hi]}

    job = {"model": "M", "metrics": {"test/top5_tied": 0.7, "test/event_bits": 3.0},
           "best_baseline": block("test/top5_tied", 0.05, 0.02, 0.08),
           "also_compared": [block("test/event_bits", -0.4, -0.6, -0.2)]}
    worse = {**job, "also_compared": [block("test/event_bits", 0.2, 0.1, 0.3)]}
    (tmp_path / "demo_runs.json").write_text(json.dumps({"runs": {"a": {"jobs": [job]}, "b": {"jobs": [worse]}}}))
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    rows = [line for line in tables.headline().splitlines() if line.startswith("| demo")]
    verdicts = {(row.split("|")[2].strip(), row.split("|")[4].strip()): row.split("|")[-2].strip() for row in rows}
    assert verdicts == {("`a`", "test/top5_tied"): "**beats**", ("`a`", "test/event_bits"): "**beats**",
                        ("`b`", "test/top5_tied"): "**beats**", ("`b`", "test/event_bits"): "loses"}
