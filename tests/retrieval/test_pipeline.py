"""stage=notes end to end: schema, offsets, skips, resume exactly once, sharding, workers, and the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cts.data.notes import NotesError
from cts.retrieval import pipeline
from cts.retrieval.chunking import Chunker
from cts.retrieval.pipeline import SCHEMA, run_notes
from cts.sharding import Shard

from .helpers import mimic_rows, note_text, write_mimic

ROOT = Path(__file__).resolve().parents[2]


def _run(input, output, retriever, **kwargs):
    return run_notes(input, output, retriever, Chunker(), **{"workers": 0, "progress": False, **kwargs})


def _summary(output: Path) -> dict:
    return json.loads(output.with_name(output.stem + ".summary.json").read_text())


def test_candidates_schema_offsets_and_summary(tmp_path, bm25_retriever):  # noqa: F811
    notes = write_mimic(tmp_path / "discharge.csv.gz", mimic_rows(5))
    output = tmp_path / "out" / "candidates.parquet"
    summary = _run(notes, output, bm25_retriever, batch_size=2)
    file = pq.ParquetFile(output)
    assert file.schema_arrow.remove_metadata() == SCHEMA and file.num_row_groups == 3  # one per batch of notes
    table = file.read().to_pandas()
    assert table.groupby("note_id")["rank"].apply(list).map(lambda r: r == list(range(1, len(r) + 1))).all()
    assert table.groupby("note_id").size().max() == 10  # top_k
    for row in table.itertuples():
        text = note_text(int(row.note_id.split("-")[0]))
        assert text[row.start:row.end] == row.text and row.text in row.context and row.text in row.neighbours
    assert table["dense"].isna().all() and (table["bm25"] > 0).all()
    assert summary["notes_written"] == 5 and summary["kept"] == len(table) and summary == _summary(output)
    assert not output.with_name("candidates.parquet.parts").exists()


def test_bad_notes_are_counted_and_the_rest_is_written(tmp_path, bm25_retriever):  # noqa: F811
    rows = mimic_rows(6)
    rows[0]["text"] = " \n "
    rows[1]["hadm_id"] = ""
    rows[2]["text"] = "word " * 200_000
    rows[3]["text"] = "___  ___"
    rows.append(dict(rows[5]))  # the same note twice
    rows.append({**rows[5], "note_id": "6-DS-1", "hadm_id": 20000006, "text": "lorem ipsum dolor sit amet"})
    notes = write_mimic(tmp_path / "discharge.csv", rows)
    summary = _run(notes, tmp_path / "c.parquet", bm25_retriever)
    assert summary["skipped"] == {"empty_text": 1, "no_hadm_id": 1, "too_long": 1, "no_tokens": 1,
                                  "duplicate_note_id": 1, "no_retained_chunk": 1}
    assert summary["notes_written"] == 2 and summary["examples"]["no_retained_chunk"] == ["note 6-DS-1"]
    assert "note 2-DS-1 (200,000 tokens > max_tokens=30,000)" in summary["examples"]["too_long"]
    assert sorted(pq.read_table(tmp_path / "c.parquet")["note_id"].unique().to_pylist()) == ["4-DS-1", "5-DS-1"]


def test_missing_input_fails_before_writing_anything(tmp_path, bm25_retriever):  # noqa: F811
    with pytest.raises(NotesError, match="absent.csv.gz: no such file"):
        _run(tmp_path / "absent.csv.gz", tmp_path / "c.parquet", bm25_retriever)
    assert list(tmp_path.iterdir()) == []


def test_truncated_gzip_keeps_finished_notes_then_raises(tmp_path, bm25_retriever):  # noqa: F811
    notes = write_mimic(tmp_path / "discharge.csv.gz", mimic_rows(400))
    notes.write_bytes(notes.read_bytes()[:-3000])
    output = tmp_path / "c.parquet"
    with pytest.raises(NotesError, match="last complete note"):
        _run(notes, output, bm25_retriever, batch_size=16)
    written = pq.read_table(output)["note_id"].unique().to_pylist()
    assert 16 < len(written) < 400 and written == [f"{i}-DS-1" for i in range(len(written))]
    assert f"last complete note {len(written) - 1}-DS-1" in _summary(output)["error"]


def test_resume_after_an_interrupted_run_writes_each_note_exactly_once(tmp_path, bm25_retriever, monkeypatch):  # noqa: F811
    notes = write_mimic(tmp_path / "discharge.csv.gz", mimic_rows(7))
    output = tmp_path / "c.parquet"
    real, calls = pipeline.candidates_table, []

    def crash_on_third_batch(ranked):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(ranked)

    monkeypatch.setattr(pipeline, "candidates_table", crash_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        _run(notes, output, bm25_retriever, batch_size=2)
    assert not output.exists() and len(list(tmp_path.glob("c.parquet.parts/part-*.parquet"))) == 2
    monkeypatch.setattr(pipeline, "candidates_table", real)
    summary = _run(notes, output, bm25_retriever, batch_size=2)
    assert summary["already_done"] == 4 and summary["notes_written"] == 3
    table = pq.read_table(output).to_pandas()
    assert sorted(table["note_id"].unique()) == [f"{i}-DS-1" for i in range(7)]
    assert not table.duplicated(["note_id", "chunk_id"]).any()
    again = _run(notes, output, bm25_retriever, batch_size=2)  # nothing left to do: output unchanged
    assert again["already_done"] == 7 and again["notes_written"] == 0 and pq.read_table(output).num_rows == len(table)


def test_resume_refuses_other_settings_unless_overwriting(tmp_path, bm25_retriever):  # noqa: F811
    notes = write_mimic(tmp_path / "discharge.csv", mimic_rows(2))
    output = tmp_path / "c.parquet"
    _run(notes, output, bm25_retriever)
    with pytest.raises(ValueError, match="c.parquet was written with other chunk/retrieval settings"):
        run_notes(notes, output, bm25_retriever, Chunker(size=7), workers=0, progress=False)
    summary = run_notes(notes, output, bm25_retriever, Chunker(size=7), workers=0, progress=False, overwrite=True)
    assert summary["notes_written"] == 2 and summary["already_done"] == 0


def test_shards_partition_the_notes_by_admission(tmp_path, bm25_retriever):  # noqa: F811
    rows = mimic_rows(12)
    rows.append({**rows[4], "note_id": "4-DS-2"})  # a second note of admission 20000004 stays in its shard
    notes = write_mimic(tmp_path / "discharge.csv.gz", rows)
    seen = {}
    for index in range(3):
        summary = _run(notes, tmp_path / "c.parquet", bm25_retriever, shard={"index": index, "count": 3})
        path = tmp_path / f"c-{index:05d}-of-00003.parquet"
        seen[index] = sorted(pq.read_table(path)["note_id"].unique().to_pylist())
        assert summary["other_shard"] == 13 - summary["notes_written"]
    # hadm_id 20000000 + i: 20000000 mod 3 = 2, so note i is in shard (2 + i) mod 3
    assert seen[0] == ["1-DS-1", "10-DS-1", "4-DS-1", "4-DS-2", "7-DS-1"]
    assert seen[1] == ["11-DS-1", "2-DS-1", "5-DS-1", "8-DS-1"]
    assert seen[2] == ["0-DS-1", "3-DS-1", "6-DS-1", "9-DS-1"]


def test_worker_processes_give_the_same_candidates(tmp_path, bm25_retriever):  # noqa: F811
    notes = write_mimic(tmp_path / "discharge.csv.gz", mimic_rows(6))
    _run(notes, tmp_path / "serial.parquet", bm25_retriever, batch_size=2)
    _run(notes, tmp_path / "pool.parquet", bm25_retriever, batch_size=2, workers=2)
    assert pq.read_table(tmp_path / "pool.parquet").equals(pq.read_table(tmp_path / "serial.parquet"))


@pytest.mark.e2e
def test_command_lines_notes_then_coverage(tmp_path):
    notes = write_mimic(tmp_path / "discharge.csv.gz", mimic_rows(3))
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "20000001.bsv").write_text("chest pain | 0\nshortness of breath | 0\nfurosemide | 2\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    output = tmp_path / "c.parquet"
    subprocess.run([sys.executable, "preprocess.py", "stage=notes", f"input={notes}", f"output={output}",
                    "retrieval=bm25", "stage.workers=0", "stage.progress=false", f"hydra.run.dir={tmp_path}/run"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    candidates = pq.read_table(output).to_pandas()
    assert candidates["note_id"].unique().tolist() == ["0-DS-1", "1-DS-1", "2-DS-1"]
    # short notes (≤ retrieval.whole_note_tokens) keep every chunk: one passage, the whole note
    assert (candidates["passage_start"] == 0).all() and candidates.groupby("note_id")["chunk_id"].nunique().eq(
        candidates["n_chunks"].groupby(candidates["note_id"]).first()).all()
    result = subprocess.run([sys.executable, "preprocess.py", "stage=coverage", f"input={notes}",
                             f"reference={reference}", "retrieval=bm25", f"hydra.run.dir={tmp_path}/run2"],
                            cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    report = json.loads((tmp_path / "discharge.coverage.json").read_text())
    curve = {r["policy"]: r for r in report["curve"]}
    assert report["notes"] == 1 and curve["whole note"]["events"] == 3 and curve["whole note"]["covered"] == 3
    assert "chest pain" not in result.stdout + result.stderr  # no event or note text in logs


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "cascade"])
def test_every_retrieval_config_composes_and_instantiates(mode):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("preprocess", overrides=["stage=notes", f"retrieval={mode}", "shard.count=4", "shard.index=1"])
    retriever, chunker = instantiate(cfg.retrieval), instantiate(cfg.chunk)
    assert retriever.mode == mode and (retriever.encoder is None) == (mode == "bm25")
    assert chunker == Chunker(5, 5, 2) and instantiate(cfg.shard).resolve({}) == Shard(1, 4)
    assert cfg.stage.input.endswith("data/demo/notes.csv.gz") and cfg.stage.output.endswith("candidates.parquet")
