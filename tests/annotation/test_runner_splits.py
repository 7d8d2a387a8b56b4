"""``annotate.py split=test``: only that split's admissions are annotated (the rest counted); and stage=evaluate
against an event table scores the annotated admissions of the table."""

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from cts.annotation.outputs import AnnotationError
from cts.annotation.runner import run
from cts.data.event_table import write_event_table
from cts.data.splits import write_splits
from cts.reports.evaluation import evaluate

from .helpers import write_notes

ROOT = Path(__file__).resolve().parents[2]


def annotate(notes, output, url, **kwargs):
    llm = OmegaConf.create({"_target_": "cts.annotation.backends.openai.OpenAIBackend", "model": "m", "base_url": url,
                            "max_new_tokens": 64, "temperature": 0.0, "batch_size": 4, "max_prompt_tokens": 2048,
                            "window_overlap": 0.1, "concurrency": 4, "timeout_s": 5, "max_retries": 1,
                            "backoff_s": 0.01})
    return run(task="events", input=str(notes), candidates=None, output=str(output), llm=llm,
               prompt=OmegaConf.load(ROOT / "conf" / "annotate" / "prompt" / "timeline.yaml"), corpus_dir="unused",
               shard=OmegaConf.create({"index": None, "count": None}), consolidate=False, **kwargs)


@pytest.fixture
def split_notes(tmp_path):
    notes = write_notes(tmp_path / "notes", 8)  # admissions 100..107
    splits = pd.DataFrame({"hadm_id": [100, 101, 102, 103, 104, 105, 106],  # 107 is in no split
                           "split": pd.Categorical(["train", "test", "train", "val", "test", "train", "test"])})
    return notes, write_splits(splits, tmp_path / "splits.parquet")


def test_split_test_annotates_only_test_admissions(tmp_path, split_notes, fake_server, caplog):
    notes, splits = split_notes
    with caplog.at_level("INFO", logger="cts"):
        summary = annotate(notes, tmp_path / "out", fake_server.url, split="test", splits=str(splits))
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.json")) == ["101", "104", "106"]
    assert summary["counts"]["admissions"] == 3
    assert "3 admissions kept, 4 of other splits skipped, 1 absent from the splits file skipped" in caplog.text


def test_split_needs_a_splits_file_and_a_known_name(tmp_path, split_notes, fake_server):
    notes, splits = split_notes
    with pytest.raises(AnnotationError, match="split=test needs splits=PATH"):
        annotate(notes, tmp_path / "a", fake_server.url, split="test")
    with pytest.raises(AnnotationError, match="split='held_out': choose one of train, val, test"):
        annotate(notes, tmp_path / "b", fake_server.url, split="held_out", splits=str(splits))
    with pytest.raises(AnnotationError, match="no splits file at"):
        annotate(notes, tmp_path / "c", fake_server.url, split="val", splits=str(tmp_path / "missing.parquet"))


def test_evaluate_against_an_event_table_scores_its_annotated_admissions(tmp_path):
    predictions = tmp_path / "pred"
    predictions.mkdir()
    (predictions / "1.bsv").write_text("fever | -48\ncough | 0\n")
    (predictions / "2.bsv").write_text("none\n")
    table = pd.DataFrame({"hadm_id": [1, 1, 2, 3], "event": ["fever", "rash", "sepsis", "never annotated"],
                          "time": [-48.0, 0.0, 0.0, 5.0]})
    write_event_table(table, tmp_path / "events.parquet")
    overall = evaluate(predictions, tmp_path / "events.parquet", n_resamples=50)["overall"]
    assert (overall["notes"], overall["reference"], overall["predicted"], overall["matched"]) == (2, 3, 2, 1)
    assert overall["f1"] == pytest.approx(2 * 1 / (2 + 3))
