"""The README and docs/ point only at things that exist: every repository path they name (outside what .gitignore
says a user creates, e.g. conf/local/default.yaml, and what a command shown writes, written ``→ PATH``) and every test
they cite as holding a guarantee."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH = re.compile(r"(?<![\w/.-])(?<!→ )((?:src|tests|bench|conf|docs)/[\w/.-]+\.(?:py|yaml|json|md))")
TEST = re.compile(r"(?:(tests/[\w/]+\.py))?::(test_\w+)")


def _user_created() -> set[str]:
    return {line.strip().lstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_a_page_names_exists(page):
    named = set(PATH.findall(page.read_text())) - _user_created()
    assert not [p for p in sorted(named) if not (ROOT / p).exists()], f"{page.name} names paths that do not exist"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_test_a_page_cites_exists(page):
    text = page.read_text()
    every_test = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing = []
    for file, name in TEST.findall(text):
        source = (ROOT / file).read_text() if file and (ROOT / file).exists() else every_test
        if not re.search(rf"^def {name}\(", source, re.MULTILINE):
            missing.append(f"{file}::{name}")
    assert not missing, f"{page.name} cites tests that do not exist"


def test_the_readme_names_every_task_stage_and_config_group():
    """Its tables (each with a one-line purpose) list every ``conf/task``, ``conf/stage`` and
    ``conf/annotate/stage`` option and every config group (``conf/annotate/<group>`` is annotate.py's ``<group>``)."""
    readme, conf = (ROOT / "README.md").read_text(), ROOT / "conf"
    options = [p.stem for folder in ("task", "stage", "annotate/stage") for p in (conf / folder).glob("*.yaml")]
    groups = {folder.relative_to(conf).as_posix().removeprefix("annotate/") for folder in conf.rglob("*")
              if folder.is_dir() and any(folder.glob("*.yaml")) and folder.parent.name != "experiment"}
    missing = sorted(name for name in {*options, *groups} if f"`{name}`" not in readme)
    assert not missing, f"README.md does not name {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_cites_an_issue_number(page):
    """An issue number means nothing to a user: a page says the thing itself."""
    assert not re.findall(r"\bissues? #?\d+|(?<![\w&])#\d+\b", page.read_text(), re.IGNORECASE), page.name
