"""stage=import: a folder of reports beside `event | hours` timelines becomes a corpus every stage reads."""

import json

import numpy as np
import pandas as pd
import pytest

from cts.data.event_table import read_event_table
from cts.data.notes import read_notes
from cts.data.splits import read_splits
from cts.data.timeline_corpus import CorpusError, import_timeline_corpus, map_ids, source_id, split_by_count
from tests.shared_data import require_shared

from .test_preprocess_cli import preprocess


def write_reports(root, reports: dict[str, str], timelines: dict[str, str]):
    (root / "body").mkdir(parents=True, exist_ok=True)
    (root / "ann").mkdir(exist_ok=True)
    for name, text in reports.items():
        (root / "body" / f"{name}_body.txt").write_text(text)
    for name, text in timelines.items():
        (root / "ann" / f"{name}_body.bsv").write_text(text)
    return root


GOOD = "A 54-year-old man presented with abdominal pain two days before admission. He had a fever."


@pytest.fixture
def folder(tmp_path):
    return write_reports(tmp_path / "src", {
        "PMC100": GOOD,
        "PMC200": "She was admitted with chest pain and had a stroke 2 years ago.",
        "PMC300": "   \n",                                        # empty report
        "PMC400": "A report nobody annotated.",                   # no timeline
    }, {
        "PMC100": "abdominal pain | -48\nfever | 0\nmalformed line without a time\nbad | inf\nworse | nan\n",
        "PMC200": "chest pain | 0\nstroke | -17520\nflag | true\n",
        "PMC300": "x | 0\n",
        "PMC999": "orphan | 0\n",                                 # no report
    })


def test_import_writes_the_demo_layout_and_counts_every_skip(folder, tmp_path):
    out = tmp_path / "corpus"
    summary = import_timeline_corpus(folder, out, val=0, test=1, seed=3)
    assert {"notes.csv.gz", "events.parquet", "events_normalized.parquet", "splits.parquet", "ids.parquet",
            "import_report.json"} <= {p.name for p in out.iterdir()}
    assert summary["imported"] == 2
    skipped = summary["skipped"]
    assert skipped["report without a timeline (left out)"] == 1
    assert skipped["timeline without a report (left out)"] == 1
    assert skipped["empty report (left out)"] == 1
    assert skipped["timeline line dropped: no 'event | hours' separator"] == 1
    assert skipped["timeline line dropped: time is not a number of hours"] == 3   # inf, nan, true
    examples = summary["examples"]
    assert examples["report without a timeline (left out)"] == ["PMC400_body.txt"]
    assert examples["timeline without a report (left out)"] == ["PMC999_body.bsv"]
    assert "PMC100_body.bsv:3" in examples["timeline line dropped: no 'event | hours' separator"]
    assert json.loads((out / "import_report.json").read_text())["skipped"] == skipped

    ids = pd.read_parquet(out / "ids.parquet")
    assert ids.to_dict("list") == {"hadm_id": [100, 200], "source_id": ["PMC100", "PMC200"],
                                   "report": ["body/PMC100_body.txt", "body/PMC200_body.txt"],
                                   "timeline": ["ann/PMC100_body.bsv", "ann/PMC200_body.bsv"]}
    notes = list(read_notes(out / "notes.csv.gz"))
    assert [(n.note_id, n.hadm_id, n.text) for n in notes] == [("PMC100", 100, GOOD), (
        "PMC200", 200, "She was admitted with chest pain and had a stroke 2 years ago.")]
    events = read_event_table(out / "events.parquet")
    assert list(zip(events["hadm_id"], events["event"].astype(str), events["time"], events["note_id"])) == [
        (100, "abdominal pain", -48.0, "PMC100"), (100, "fever", 0.0, "PMC100"),
        (200, "stroke", -17520.0, "PMC200"), (200, "chest pain", 0.0, "PMC200")]     # sorted by time per report
    splits = read_splits(out / "splits.parquet")
    assert sorted(splits["split"].astype(str)) == ["test", "train"]
    assert (splits["subject_id"] == splits["hadm_id"]).all()   # one patient per case report: split by patient


def test_split_by_count_is_exact_seeded_and_order_free():
    ids = np.arange(1000, 3000, dtype=np.int64)
    split = split_by_count(ids, val=100, test=100, seed=7)
    assert (pd.Series(split).value_counts().to_dict()) == {"train": 1800, "val": 100, "test": 100}
    shuffled = np.random.default_rng(0).permutation(len(ids))
    assert (split_by_count(ids[shuffled], 100, 100, 7) == split[shuffled]).all()
    assert (split_by_count(ids, 100, 100, 8) != split).any()
    with pytest.raises(CorpusError, match="leave train reports"):
        split_by_count(ids[:10], val=5, test=5, seed=0)


def test_ids_are_the_number_in_the_name_when_distinct_else_ranks():
    assert source_id(__import__("pathlib").Path("x/PMC10010815_body.txt")) == "PMC10010815"
    assert map_ids(["PMC7", "PMC9"])[0].tolist() == [7, 9]
    values, rule = map_ids(["a1", "b1", "case"])           # a collision and a name without a number
    assert values.tolist() == [1, 2, 3] and rule.startswith("rank")


def test_bad_folders_are_one_clear_error(folder, tmp_path):
    with pytest.raises(CorpusError, match="inside input"):
        import_timeline_corpus(folder, folder / "out")
    with pytest.raises(CorpusError, match="not a folder"):
        import_timeline_corpus(tmp_path / "missing", tmp_path / "out")
    empty = write_reports(tmp_path / "none", {"A1": "text"}, {"B2": "x | 0"})
    with pytest.raises(CorpusError, match="no report with a readable timeline"):
        import_timeline_corpus(empty, tmp_path / "out")
    (folder / "body" / "PMC100_body.bsv").write_text("fever | 0\n")
    with pytest.raises(CorpusError, match="two files match"):
        import_timeline_corpus(folder, tmp_path / "out2")


@pytest.mark.e2e
def test_every_stage_reads_an_imported_corpus(folder, tmp_path):
    """From the command line: import, then build, stats, timeline and notes on the corpus (corpus.dir=...)."""
    corpus = tmp_path / "corpus"
    run = preprocess("stage=import", f"input={folder}", f"output={corpus}", "stage.val=0", "stage.test=1",
                     tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "skipped:" in run.stdout + run.stderr
    for stage in ("stage=build task=nextevent", "stage=stats", "stage=timeline hadm_id=200",
                  "stage=notes retrieval=bm25 stage.workers=0 stage.progress=false"):
        run = preprocess(*stage.split(), f"corpus.dir={corpus}", tmp_path=tmp_path)
        assert run.returncode == 0, (stage, run.stderr[-2000:])
    assert json.loads((corpus / "tasks" / "nextevent" / "meta.json").read_text())["rows"]["train"] == 1
    assert (corpus / "card" / "stats.json").exists() and (corpus / "timelines" / "200.html").exists()
    assert set(pd.read_parquet(corpus / "candidates.parquet")["hadm_id"]) == {100, 200}


def test_t2s2_imports_with_the_documented_counts(tmp_path):
    source = require_shared("timelines", "t2s2_train")
    summary = import_timeline_corpus(source, tmp_path / "t2s2", reports="body/*_body.txt",
                                     timelines="l33_70b_annotations/*.bsv", seed=1234)
    assert summary["imported"] == 2039 and summary["splits"] == {"train": 1839, "val": 100, "test": 100}
    assert summary["id_rule"] == "number in the id"
    assert sum(summary["skipped"].values()) < 0.01 * summary["events"]   # a few hundred unreadable 70B lines
