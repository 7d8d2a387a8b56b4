"""The runner end to end on the fake OpenAI server: outputs, resume, shards, kill -9, failures (one refused admission,
an unusable server), two notes of one admission, secrets, disk full."""

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from cts.annotation.backends import BackendError
from cts.annotation.consolidate import consolidate
from cts.annotation.outputs import AnnotationError
from cts.annotation.runner import run
from cts.data.event_table import read_event_table
from cts.reports.evaluation import evaluate

from .helpers import SENTENCES, write_notes

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "conf" / "annotate" / "prompt"


def llm(url, **overrides):
    return OmegaConf.create({
        "_target_": "cts.annotation.backends.openai.OpenAIBackend", "model": "m", "base_url": url,
        "max_new_tokens": 64, "temperature": 0.0, "batch_size": 4, "max_prompt_tokens": 2048, "window_overlap": 0.1,
        "concurrency": 4, "timeout_s": 5, "max_retries": 1, "backoff_s": 0.01, **overrides})


def annotate(notes, output, url, task="events", prompt="timeline", shard=(None, None), **kwargs):
    return run(task=task, input=str(notes), output=str(output), llm=llm(url, **kwargs.pop("llm", {})),
               prompt=OmegaConf.load(PROMPTS / f"{prompt}.yaml"), corpus_dir="unused",
               shard=OmegaConf.create({"index": shard[0], "count": shard[1]}), **{"candidates": None, **kwargs})


def contents(directory):
    """Every admission file without the fields that legitimately differ between runs (creation time)."""
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        record = json.loads(path.read_text())
        record["manifest"].pop("created")
        out[path.name] = record
    return out


def test_one_file_per_admission_with_manifest_and_consolidated_table(tmp_path, notes_dir, fake_server):
    summary = annotate(notes_dir, tmp_path / "out", fake_server.url)
    files = sorted((tmp_path / "out").glob("*.json"))
    assert [f.stem for f in files] == [str(100 + k) for k in range(12)]
    record = json.loads(files[0].read_text())
    manifest = record["manifest"]
    assert manifest["prompt"] == "timeline" and len(manifest["prompt_hash"]) == 12
    assert manifest["generation"]["model"] == "m" and manifest["generation"]["temperature"] == 0.0
    assert manifest["completion_tokens"] > 0 and manifest["notes"][0]["windows"] == 1 and manifest["created"]
    assert manifest["note_ids"] == ["100"] and manifest["retries"] == 0
    assert record["events"][0] == {"event": "Fever and rash", "time": -48.0, "note_id": "100"}
    assert summary["counts"]["written"] == 12 and summary["counts"]["events"] == 48
    table = read_event_table(tmp_path / "out" / "events.parquet")
    released = read_event_table(tmp_path / "out" / "events.csv")
    assert len(table) == 48 and table["hadm_id"].nunique() == 12
    assert list(table["note_id"].unique()[:2]) == ["100", "101"]
    pd.testing.assert_frame_equal(table.drop(columns="note_id"), released)
    assert (tmp_path / "out" / "events.csv").read_text().startswith("Hadm_id,Event,Time,Time_bin\n")
    reference = tmp_path / "reference"  # what the fake server answers: first three words | 24 × sentence - 48
    reference.mkdir()
    for k in range(12):
        picks = [SENTENCES[(k + i) % len(SENTENCES)] for i in range(4)]
        (reference / f"{100 + k}.bsv").write_text(
            "".join(f"{' '.join(s.split()[:3])} | {24 * i - 48}\n" for i, s in enumerate(picks)))
    scores = evaluate(tmp_path / "out", reference, n_resamples=10)["overall"]  # run dir's events/rejects.csv left out
    assert (scores["notes"], scores["matched"], scores["f1"], scores["mae_hours"]) == (12, 48, 1.0, 0.0)
    assert not any((tmp_path / "out").glob(".*.tmp"))


def test_resume_skips_finished_admissions_without_loading_the_model(tmp_path, notes_dir, fake_server):
    annotate(notes_dir, tmp_path / "out", fake_server.url)
    before = contents(tmp_path / "out")
    summary = annotate(notes_dir, tmp_path / "out", "http://127.0.0.1:9/v1")  # a dead server: must not be asked
    assert summary["counts"]["already done"] == 12 and summary["counts"].get("written", 0) == 0
    assert contents(tmp_path / "out") == before


def test_shards_cover_every_admission_exactly_once(tmp_path, notes_dir, fake_server):
    seen = []
    for index in range(3):
        summary = annotate(notes_dir, tmp_path / "out", fake_server.url, shard=(index, 3))
        assert "consolidated" not in summary  # a shard cannot know the others are finished
        seen += [p.stem for p in (tmp_path / "out").glob("*.json") if p.stem not in seen]
        assert summary["counts"]["written"] == 4
    assert sorted(seen) == [str(100 + k) for k in range(12)] and len(seen) == len(set(seen))
    assert consolidate(tmp_path / "out")["admissions"] == 12


def _annotate_cli(notes, output, url, tmp_path):
    command = [sys.executable, str(ROOT / "annotate.py"), "llm=openai", f"llm.base_url={url}", f"input={notes}",
               f"output={output}", "block_size=2", "llm.concurrency=1", f"hydra.run.dir={tmp_path / 'hydra'}"]
    return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.e2e
def test_kill_9_at_any_moment_then_resume_equals_an_uninterrupted_run(tmp_path):
    notes = write_notes(tmp_path / "notes", 24)
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_openai.py")), "0.03"],
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        assert _annotate_cli(notes, tmp_path / "whole", url, tmp_path).wait(60) == 0
        for kill_after in (1, 7, 15):  # admissions finished when the kill lands
            job = _annotate_cli(notes, tmp_path / "killed", url, tmp_path)
            while len(list((tmp_path / "killed").glob("*.json"))) < kill_after and job.poll() is None:
                time.sleep(0.01)
            job.send_signal(signal.SIGKILL)
            job.wait(10)
        assert _annotate_cli(notes, tmp_path / "killed", url, tmp_path).wait(60) == 0
    finally:
        server.kill()
    assert contents(tmp_path / "killed") == contents(tmp_path / "whole")
    assert not list((tmp_path / "killed").glob(".*"))
    whole = read_event_table(tmp_path / "whole" / "events.parquet")
    pd.testing.assert_frame_equal(read_event_table(tmp_path / "killed" / "events.parquet"), whole)


def test_unusable_server_stops_the_run_keeping_the_blocks_finished_admissions(tmp_path, notes_dir, fake_server):
    fake_server.script = [("reply", "fever | 0")] * 6 + ["500"] * 100
    with pytest.raises(BackendError, match=r"\(2 not done, rerun to resume\): 106: .* no valid reply after 2 attempts"):
        annotate(notes_dir, tmp_path / "out", fake_server.url, block_size=4, llm={"concurrency": 1})
    # block 1 (100-103) and the two answered admissions of block 2 (104, 105); nothing partial, no failure records
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.json")) == [str(h) for h in range(100, 106)]
    assert not (tmp_path / "out" / "_failures").exists()
    stopped = json.loads((tmp_path / "out" / "_runs" / "shard-0-of-1.json").read_text())
    assert stopped["counts"]["written"] == 6 and "no valid reply after 2 attempts" in stopped["stopped"]
    fake_server.script = []
    summary = annotate(notes_dir, tmp_path / "out", fake_server.url, block_size=4)
    assert len(list((tmp_path / "out").glob("*.json"))) == 12 and summary["counts"]["written"] == 6


def test_a_refused_admission_is_recorded_and_the_run_goes_on(tmp_path, notes_dir, fake_server):
    marker = (notes_dir / "105.txt").read_text().split(".")[0]  # 105's first sentence: no other note starts so
    assert sum(p.read_text().startswith(marker + ".") for p in notes_dir.glob("*.txt")) == 1
    fake_server.refuse_text = '"""\n' + marker + "."
    fake_server.script = ["500"]  # one retried hiccup, reported
    summary = annotate(notes_dir, tmp_path / "out", fake_server.url)
    assert sorted(int(p.stem) for p in (tmp_path / "out").glob("*.json")) == [h for h in range(100, 112) if h != 105]
    failure = json.loads((tmp_path / "out" / "_failures" / "105.json").read_text())
    assert failure["status"] == "HTTP 400" and failure["kind"] == "prompt refused"
    assert failure["message"] == "maximum context length […] 2048 tokens"  # "is" is a word of the prompt
    assert failure["note_ids"] == ["105"] and marker not in json.dumps(failure)  # never note text
    assert len(failure["prompt_hash"]) == 16
    assert summary["failures"] == [{"hadm_id": 105, "status": "HTTP 400", "kind": "prompt refused",
                                    "message": failure["message"]}]
    assert summary["counts"]["failed"] == 1 and summary["counts"]["written"] == 11 and summary["counts"]["retries"] == 1
    shard_file = json.loads((tmp_path / "out" / "_runs" / "shard-0-of-1.json").read_text())
    assert shard_file["failures"] == summary["failures"] and summary["consolidated"]["admissions"] == 11
    asked = len(fake_server.requests)
    rerun = annotate(notes_dir, tmp_path / "out", fake_server.url)  # a plain rerun does not ask again
    assert len(fake_server.requests) == asked and rerun["counts"]["failed earlier, not retried"] == 1
    fake_server.refuse_text = None
    retried = annotate(notes_dir, tmp_path / "out", fake_server.url, retry_failed=True)
    assert len(fake_server.requests) == asked + 1  # only admission 105
    assert retried["counts"]["written"] == 1 and retried["counts"]["already done"] == 11
    assert (tmp_path / "out" / "105.json").exists() and not (tmp_path / "out" / "_failures" / "105.json").exists()


def test_a_malformed_reply_fails_its_admission_alone_and_the_rerun_goes_on(tmp_path, notes_dir, fake_server):
    marker = '"""\n' + (notes_dir / "105.txt").read_text().split(".")[0] + "."  # 105's prompt alone
    fake_server.always = {marker: ("body", b'{"choices": [{"message": {"content": ["fever | 0"]}}]}')}
    summary = annotate(notes_dir, tmp_path / "out", fake_server.url)
    assert sorted(int(p.stem) for p in (tmp_path / "out").glob("*.json")) == [h for h in range(100, 112) if h != 105]
    failure = json.loads((tmp_path / "out" / "_failures" / "105.json").read_text())
    assert (failure["status"], failure["kind"]) == ("HTTP 200", "malformed reply") and summary["stopped"] is None
    assert summary["counts"]["retries"] == 1  # llm.max_retries=1: asked twice, then recorded
    rerun = annotate(notes_dir, tmp_path / "out", fake_server.url)  # skips it: no failing the same way again
    assert rerun["counts"]["failed earlier, not retried"] == 1 and rerun["stopped"] is None


def test_an_echoed_note_stays_out_of_failure_records_summaries_and_logs(tmp_path, notes_dir, fake_server, caplog,
                                                                          capsys):
    note = (notes_dir / "105.txt").read_text()
    fake_server.refuse_text, fake_server.echo_prompt = '"""\n' + note.split(".")[0] + ".", True
    annotate(notes_dir, tmp_path / "out", fake_server.url)
    stored = "".join(p.read_text() for p in (tmp_path / "out").glob("_*/*.json"))
    shown = stored + caplog.text + "".join(capsys.readouterr())
    words = {w for w in re.findall(r"[A-Za-z]{5,}", note)} - {"admission"}  # "admission 105 failed" is ours
    assert words and not [w for w in words if w in shown]
    failure = json.loads((tmp_path / "out" / "_failures" / "105.json").read_text())
    assert failure["kind"] == "prompt refused" and "maximum context length" in failure["message"]


def test_two_notes_of_one_admission_are_annotated_apart_and_merged(tmp_path, fake_server):
    notes = tmp_path / "discharge.csv"
    pd.DataFrame({"note_id": ["7-DS-1", "8-DS-1", "7-DS-2", "7-DS-1"], "hadm_id": [7, 8, 7, 7],
                  "text": ["Fever began. Rash followed.", "Cough began.", "Rash followed. Sepsis began.",
                           "Fever began. Rash followed."]}).to_csv(notes, index=False)
    # chunks: each note's own; admission 7's second note's chunk starts where only that note has text
    pd.DataFrame({"hadm_id": [7, 7, 8], "note_id": ["7-DS-1", "7-DS-2", "8-DS-1"], "chunk_id": [0, 0, 0],
                  "start": [0, 15, 0], "end": [11, 28, 12], "text": ["Fever began", "Sepsis began", "Cough began"],
                  "rank": [1, 1, 1]}).to_parquet(tmp_path / "cands.parquet")
    summary = annotate(notes, tmp_path / "out", fake_server.url, candidates=str(tmp_path / "cands.parquet"),
                       llm={"concurrency": 1})
    prompts = [r["messages"][1]["content"] for r in fake_server.requests]
    assert len(prompts) == 3  # one per note, each with its own note and its own chunk
    assert sum('"""\nFever began. Rash followed.\n"""' in p and p.endswith("[1] Fever began") for p in prompts) == 1
    assert sum('"""\nRash followed. Sepsis began.\n"""' in p and p.endswith("[1] Sepsis began") for p in prompts) == 1
    record = json.loads((tmp_path / "out" / "7.json").read_text())
    assert record["manifest"]["note_ids"] == ["7-DS-1", "7-DS-2"]
    # the fake answers each sentence of the note: 7-DS-1 → Fever began -48, Rash followed -24;
    # 7-DS-2 → Rash followed -48, Sepsis began -24 ("Sepsis began | -24" repeats nothing: different text)
    assert record["events"] == [{"event": "Fever began", "time": -48.0, "note_id": "7-DS-1"},
                                {"event": "Rash followed", "time": -24.0, "note_id": "7-DS-1"},
                                {"event": "Rash followed", "time": -48.0, "note_id": "7-DS-2"},
                                {"event": "Sepsis began", "time": -24.0, "note_id": "7-DS-2"}]
    assert summary["counts"]["notes"] == 3 and summary["reader"]["skipped"] == {"repeated note_id": 1}
    table = read_event_table(tmp_path / "out" / "events.parquet")
    assert table[table["hadm_id"] == 7]["note_id"].tolist().count("7-DS-2") == 2


def test_duplicate_events_across_notes_are_merged_and_counted(tmp_path, fake_server):
    notes = tmp_path / "discharge.csv"
    pd.DataFrame({"note_id": ["7-DS-1", "7-DS-2"], "hadm_id": [7, 7],
                  "text": ["Fever began. Rash followed.", "Fever began. Sepsis began."]}).to_csv(notes, index=False)
    summary = annotate(notes, tmp_path / "out", fake_server.url)
    record = json.loads((tmp_path / "out" / "7.json").read_text())
    assert [(e["event"], e["time"], e["note_id"]) for e in record["events"]] == [
        ("Fever began", -48.0, "7-DS-1"), ("Rash followed", -24.0, "7-DS-1"), ("Sepsis began", -24.0, "7-DS-2")]
    assert record["counts"]["duplicates across notes"] == 1 and summary["counts"]["duplicates"] == 1


def test_candidates_without_note_id_cannot_serve_a_two_note_admission(tmp_path, fake_server):
    notes = tmp_path / "discharge.csv"
    pd.DataFrame({"note_id": ["7-DS-1", "7-DS-2"], "hadm_id": [7, 7], "text": ["Fever.", "Rash."]}).to_csv(
        notes, index=False)
    pd.DataFrame({"hadm_id": [7], "chunk_id": [0], "start": [0], "end": [5], "text": ["Fever"]}).to_parquet(
        tmp_path / "c.parquet")
    with pytest.raises(AnnotationError, match=r"c.parquet: no note_id column, and admission 7 has 2 notes"):
        annotate(notes, tmp_path / "out", fake_server.url, candidates=str(tmp_path / "c.parquet"))
    pd.DataFrame({"hadm_id": [7], "note_id": [None], "chunk_id": [0], "start": [0], "end": [5],
                  "text": ["Fever"]}).to_parquet(tmp_path / "c.parquet")
    with pytest.raises(AnnotationError, match=r"c.parquet: column 'note_id' is empty for admission 7"):
        annotate(notes, tmp_path / "out", fake_server.url, candidates=str(tmp_path / "c.parquet"))
    assert len(fake_server.requests) == 0


@pytest.mark.e2e
def test_a_key_on_the_command_line_is_refused_before_hydra_writes_anything(tmp_path, fake_server):
    notes = write_notes(tmp_path / "notes", 2)
    base = [sys.executable, str(ROOT / "annotate.py"), "llm=openai", f"input={notes}", f"output={tmp_path / 'out'}",
            f"hydra.run.dir={tmp_path / 'hydra'}"]
    for secret in ("llm.api_key=sk-SECRET-1", f"llm.base_url=http://user:sk-SECRET-2@{fake_server.url[7:]}"):
        done = subprocess.run([*base, secret], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert (done.returncode == 1
                and "on the command line are refused" in done.stderr.replace("is refused", "are refused"))
        assert "SECRET" not in done.stdout + done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "hydra").exists() and not (tmp_path / "out").exists()
    # the key from the environment, a URL with credentials from the environment: used, never stored
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENAI_API_KEY": "sk-SECRET-3",
           "MY_URL": f"http://user:sk-SECRET-4@{fake_server.url[7:]}"}
    done = subprocess.run([*base, "llm.base_url=${oc.env:MY_URL}"], cwd=tmp_path, capture_output=True, text=True,
                          check=False,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(fake_server.auth) == {"Basic dXNlcjpzay1TRUNSRVQtNA=="}  # base64("user:sk-SECRET-4"): the URL's user
    assert "base_url: ${oc.env:MY_URL}" in (tmp_path / "hydra" / ".hydra" / "config.yaml").read_text()
    written = [p for folder in (tmp_path / "out", tmp_path / "hydra") for p in folder.rglob("*") if p.is_file()]
    assert len(written) > 5 and any(".hydra" in str(p) for p in written)
    assert not [p for p in written if "SECRET" in p.read_text(errors="replace")]
    manifest = json.loads((tmp_path / "out" / "100.json").read_text())["manifest"]
    assert manifest["generation"]["base_url"] == fake_server.url


def test_disk_full_write_leaves_no_partial_file(tmp_path, fake_server):
    notes = write_notes(tmp_path / "notes", 3)
    (notes / "103.txt").write_text(". ".join(f"Sentence number {k} about fever" for k in range(400)) + ".")
    out = tmp_path / "out"

    def limit_file_size():  # a real write failure (EFBIG) instead of a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import tests.annotation.test_runner as t; "
            f"t.annotate({str(notes)!r}, {str(out)!r}, {fake_server.url!r}, consolidate=False)")
    done = subprocess.run([sys.executable, "-c", code], preexec_fn=limit_file_size, capture_output=True, text=True,
                          timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode != 0
    assert f"cannot write {out / '103.json'}" in done.stderr and "nothing partial was kept" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["100.json", "101.json", "102.json"]


def test_candidates_select_what_is_annotated(tmp_path, notes_dir, fake_server):
    text = (notes_dir / "100.txt").read_text()
    start = text.index("Chest pain")
    pd.DataFrame({"hadm_id": [100, 100, 101], "chunk_id": [0, 1, 0], "start": [start, 0, 0],
                  "end": [start + 10, 5, 10], "text": ["Chest pain", "Fever", "Metoprolol"], "context": None,
                  "bm25": 1.0, "dense": 1.0, "score": 1.0, "rank": [1, 0, 0]}).to_parquet(tmp_path / "cands.parquet")
    summary = annotate(notes_dir, tmp_path / "out", fake_server.url, candidates=str(tmp_path / "cands.parquet"))
    prompts = [r["messages"][1]["content"] for r in fake_server.requests]  # concurrent: any arrival order
    assert sum("Excerpts:\n[1] Fever\n[2] Chest pain" in p for p in prompts) == 1  # admission 100's, note order
    assert len(fake_server.requests) == 2 and summary["counts"]["no request: no candidate chunks"] == 10
    assert json.loads((tmp_path / "out" / "105.json").read_text())["events"] == []
    pd.DataFrame({"hadm_id": ["a"], "chunk_id": [0], "start": [0], "end": [1], "text": ["x"]}).to_parquet(
        tmp_path / "bad.parquet")
    with pytest.raises(AnnotationError, match=r"bad.parquet: column 'hadm_id' must hold integers, found "):
        annotate(notes_dir, tmp_path / "o3", fake_server.url, candidates=str(tmp_path / "bad.parquet"))
    wider = {**OmegaConf.to_container(OmegaConf.load(PROMPTS / "timeline.yaml")), "chunk": "[{index}] {neighbours}"}
    with pytest.raises(AnnotationError, match=r"cands.parquet: missing candidate column\(s\) \['neighbours'\]"):
        run(task="events", input=str(notes_dir), candidates=str(tmp_path / "cands.parquet"),
            output=str(tmp_path / "o2"), llm=llm(fake_server.url), prompt=OmegaConf.create(wider),
            corpus_dir="unused", shard=OmegaConf.create({"index": None, "count": None}))


def test_long_note_is_windowed_and_merged_and_an_empty_note_counted(tmp_path, fake_server):
    notes = write_notes(tmp_path / "notes", 1, sentences=40)
    (notes / "200.txt").write_text(" \n")
    summary = annotate(notes, tmp_path / "out", fake_server.url, llm={"max_prompt_tokens": 400})
    record = json.loads((tmp_path / "out" / "100.json").read_text())
    assert record["manifest"]["notes"][0]["windows"] == len(fake_server.requests) > 1
    assert summary["counts"]["events"] == len(record["events"]) > 8
    assert summary["reader"]["skipped"] == {"empty_text": 1} and not (tmp_path / "out" / "200.json").exists()


def test_bad_model_output_is_counted_and_kept(tmp_path, notes_dir, fake_server):
    fake_server.script = [("reply", "Here you go:\nfever | 0\nrash | soon"), ("reply", ""),
                          ("reply", "The patient did well.")]
    summary = annotate(notes_dir, tmp_path / "out", fake_server.url, llm={"concurrency": 1}, limit=3)
    assert summary["counts"]["rejects"] == 4 and summary["counts"]["events"] == 1
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv")
    assert sorted(rejects["reason"]) == sorted(["no 'event | hours' separator", "time is not a number of hours",
                                                "empty output", "no 'event | hours' separator"])


def test_context_and_summary_modes(tmp_path, notes_dir, fake_server):
    chunks = pd.DataFrame({"hadm_id": [100, 100, 101], "chunk_id": [0, 1, 0], "start": [0, 20, 0],
                           "end": [10, 30, 10], "text": ["Fever", "rash", "Chest pain"]})
    chunks.to_parquet(tmp_path / "chunks.parquet")
    with pytest.raises(AnnotationError, match="stage=context needs candidates=PATH"):
        annotate(notes_dir, tmp_path / "ctx", fake_server.url, task="context", prompt="context")
    annotate(notes_dir, tmp_path / "ctx", fake_server.url, task="context", prompt="context",
             candidates=str(tmp_path / "chunks.parquet"))
    contexts = pd.read_parquet(tmp_path / "ctx" / "contexts.parquet")
    assert list(contexts[["hadm_id", "chunk_id"]].itertuples(index=False, name=None)) == [(100, 0), (100, 1), (101, 0)]
    assert "Here is one excerpt from it" in fake_server.requests[0]["messages"][1]["content"]
    annotate(notes_dir, tmp_path / "sum", fake_server.url, task="summary", prompt="summary", limit=2)
    summaries = pd.read_parquet(tmp_path / "sum" / "summaries.parquet")
    assert list(summaries["hadm_id"]) == [100, 101] and summaries["summary"].str.len().min() > 0


def test_consolidate_rejects_corrupt_or_mixed_directories(tmp_path, notes_dir, fake_server):
    annotate(notes_dir, tmp_path / "out", fake_server.url, limit=2, consolidate=False)
    (tmp_path / "out" / "999.json").write_text('{"manifest": {"kind": "summary", "hadm_id": 999}, "summary": ""}')
    with pytest.raises(AnnotationError, match="999.json: kind 'summary' differs"):
        consolidate(tmp_path / "out")
    (tmp_path / "out" / "999.json").write_text('{"manifest": ')
    with pytest.raises(AnnotationError, match="999.json: not a readable annotation file"):
        consolidate(tmp_path / "out")
    with pytest.raises(AnnotationError, match="no such annotation directory"):
        consolidate(tmp_path / "missing")
