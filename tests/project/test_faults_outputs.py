"""Nothing lost under faults (issue #20): a second run on the same output stops or waits (7), a full disk or a kill
leaves the complete old set of outputs or the complete new one (9), human-facing files are safe to open (10), and
a stage's setting given at the wrong key is one line naming the right one (11)."""

import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from markdown_it import MarkdownIt
from omegaconf import OmegaConf

from cts.annotation.consolidate import consolidate
from cts.annotation.outputs import write_atomic
from cts.data import normalize
from cts.data.normalize import normalize_file
from cts.errors import UserError, user_message
from cts.io import atomic_open, output_set, recover, spreadsheet_safe, write_csv, write_text
from cts.locks import LockedError, output_lock, run_stage, stage_output
from cts.reports import card
from cts.reports.card import write_stats
from cts.reports.sweep import write_sweep_report

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "[click](javascript:alert(3))",
           "pain | fever", '=HYPERLINK("http://evil.example","x")', "@SUM(A1:A2)", "+cmd", "-rf now", "\tpad"]
HOLD = ("import sys, time\nfrom cts.locks import output_lock\nwith output_lock(sys.argv[1]):\n"
        "    print('held', flush=True)\n    time.sleep(float(sys.argv[2]))\n")


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".lock" not in p.name}


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the lock on ``path``; returns once it holds it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE,
                              text=True, env=ENV)
    assert holder.stdout.readline().strip() == "held"
    return holder


def disk_full_after(nbytes: int):
    """A writer whose disk fills up part-way: the real atomic writer gets ``nbytes`` of the content, then the write
    fails as a library's does on a full disk (ENOSPC, no file named)."""
    def write(path, content, *args, **kwargs):
        with atomic_open(path) as handle:
            handle.write(str(content)[:nbytes])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return write


def annotation_dir(folder: Path, events: dict[int, list[str]], rejects=()) -> Path:
    for hadm_id, names in events.items():
        write_atomic(folder / f"{hadm_id}.json", {
            "manifest": {"kind": "events", "hadm_id": hadm_id},
            "events": [{"event": name, "time": float(k)} for k, name in enumerate(names)],
            "rejects": [{"window": 0, "reason": "unparsed", "line": line} for line in rejects]})
    return folder


# -- 7: a second run on the same output --------------------------------------------------------------------------

def test_a_second_run_stops_at_once_naming_the_holders_pid_and_host(tmp_path):
    output = tmp_path / "candidates.parquet"
    holder = hold_lock(output, 30)
    try:
        started = time.monotonic()
        with pytest.raises(LockedError) as caught, output_lock(output):
            pass
        message = user_message(caught.value)
        assert time.monotonic() - started < 2 and "\n" not in message
        assert f"pid {holder.pid} on {socket.gethostname()}" in message and "lock_wait_s=" in message
    finally:
        holder.kill()
        holder.wait()
    with output_lock(output):  # the kernel dropped the killed holder's lock: never stale
        pass


def test_lock_wait_s_waits_for_the_holder_to_finish(tmp_path):
    output = tmp_path / "card"
    holder = hold_lock(output, 1.0)
    started = time.monotonic()
    with output_lock(output, wait_s=30):
        waited = time.monotonic() - started
        assert holder.poll() is not None or holder.wait(5) == 0  # it finished before we got the lock
    assert 0.3 < waited < 20


def test_the_stage_lock_is_taken_where_stages_are_dispatched(tmp_path):
    run_dir = annotation_dir(tmp_path / "run", {7: ["fever"]})
    stage = OmegaConf.create({"_target_": "cts.annotation.consolidate.consolidate", "input": str(run_dir),
                              "output": None})
    assert stage_output(stage) == run_dir  # output null: the stage writes into its input
    holder = hold_lock(run_dir, 30)
    try:
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            run_stage(OmegaConf.create({"stage": stage, "lock_wait_s": 0}))
        assert not (run_dir / "events.parquet").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_stage(OmegaConf.create({"stage": stage, "lock_wait_s": 0}))["admissions"] == 1


def test_shards_of_one_output_lock_apart_and_run_side_by_side(tmp_path):
    def stage(index):
        return OmegaConf.create({"output": str(tmp_path / "ann"), "shard": {"index": index, "count": 2}})

    first, second = stage_output(stage(0)), stage_output(stage(1))
    assert first != second and first.name == "ann.shard-0-of-2"
    with output_lock(first), output_lock(second):
        pass


@pytest.mark.e2e
def test_a_second_notes_run_on_the_command_line_is_one_line_and_writes_nothing(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "101.txt").write_text("Chest pain began two days before admission.\n")
    output = tmp_path / "candidates.parquet"
    holder = hold_lock(output, 60)
    try:
        done = subprocess.run([sys.executable, str(ROOT / "preprocess.py"), "stage=notes", f"input={notes}",
                               f"output={output}", "stage.workers=0", "retrieval=bm25", f"paths.log_dir={tmp_path}"],
                              cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.wait()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "Traceback" not in done.stderr
    assert f"pid {holder.pid} on {socket.gethostname()}" in lines[0] and str(output) in lines[0]
    assert not output.exists() and not output.with_name("candidates.parquet.parts").exists()


def test_a_live_writers_temp_file_is_never_removed_as_stale(tmp_path):
    from cts.annotation.outputs import stale_temp_files

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        ours = tmp_path / f".100.json.{live.pid}.abcd1234.tmp"  # another run's write in progress
        left = tmp_path / f".101.json.{dead.pid}.efgh5678.tmp"  # a killed run's leftover
        ours.write_text("{")
        left.write_text("{")
        assert [p for _, p in stale_temp_files(tmp_path)] == [left]
    finally:
        live.kill()
        live.wait()


# -- 9: a full disk or a kill never leaves a mixed set -------------------------------------------------------------

def test_consolidate_on_a_full_disk_keeps_the_old_table_csv_and_rejects_together(tmp_path, monkeypatch):
    run_dir = annotation_dir(tmp_path / "run", {1: ["fever"]}, rejects=["old"])
    consolidate(run_dir)
    before = digests(run_dir)
    annotation_dir(run_dir, {2: ["cough"], 3: ["rash"]}, rejects=["new"])
    before = {**before, **{k: v for k, v in digests(run_dir).items() if k.endswith(".json")}}
    monkeypatch.setattr("cts.annotation.consolidate.write_csv",
                        lambda frame, path: disk_full_after(10)(path, frame.to_csv()))  # rejects.csv, written last
    with pytest.raises(OSError) as caught:
        consolidate(run_dir)
    assert digests(run_dir) == before  # parquet and csv of the old run, not the new parquet beside the old csv
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []
    message = user_message(caught.value)
    assert message.startswith(f"{run_dir / 'rejects.csv'}: No space left on device (") and " free in " in message
    assert "(no file named)" not in message


def test_stats_on_a_full_disk_keeps_the_previous_card_whole(tmp_path, demo_dir, monkeypatch):
    events = demo_dir / "events_normalized.parquet"
    write_stats(events, tmp_path / "card", name="old run")
    before = digests(tmp_path / "card")
    monkeypatch.setattr(card, "write_json", disk_full_after(20))  # stats.json, the card's manifest
    with pytest.raises(OSError) as caught:
        write_stats(events, tmp_path / "card", name="new run")
    assert digests(tmp_path / "card") == before
    assert "old run" in (tmp_path / "card" / "card.html").read_text()
    assert user_message(caught.value).startswith(f"{tmp_path / 'card' / 'stats.json'}: No space left on device")


def test_a_card_without_a_figure_does_not_keep_the_earlier_runs_figure(tmp_path, demo_dir):
    events = demo_dir / "events_normalized.parquet"
    write_stats(events, tmp_path / "card")
    assert (tmp_path / "card" / "split_sizes.png").exists()
    table = tmp_path / "alone" / "events.parquet"  # no splits.parquet, no counts beside it
    table.parent.mkdir()
    table.write_bytes(events.read_bytes())
    write_stats(table, tmp_path / "card")
    assert not (tmp_path / "card" / "split_sizes.png").exists()
    assert not (tmp_path / "card" / "normalization.png").exists()


def test_normalize_on_a_full_disk_keeps_the_table_and_its_reports_matching(tmp_path, monkeypatch):
    source = tmp_path / "in.csv"
    source.write_text("Hadm_id,Event,Time\n1,fever,-24\n1,cough,3\n")
    output = tmp_path / "out.parquet"
    normalize_file(source, output)
    before = digests(tmp_path)
    source.write_text("Hadm_id,Event,Time\n1,fever,-24\n1,cough,3\n2,rash,5\n3,pain,-\n")
    before["in.csv"] = digests(tmp_path)["in.csv"]
    monkeypatch.setattr(normalize, "write_json", disk_full_after(5))
    with pytest.raises(OSError):
        normalize_file(source, output)
    assert digests(tmp_path) == before
    assert json.loads(output.with_name("out.parquet.read.json").read_text())["rows_kept"] == len(pq.read_table(output))


def test_a_kill_between_renames_is_finished_by_the_next_run(tmp_path):
    folder = tmp_path / "out"
    with output_set(folder) as staged:
        for name in "abc":
            write_text(staged / f"{name}.txt", "old\n")
    code = ("import os, signal, sys\nfrom pathlib import Path\nfrom cts.io import output_set, write_text\n"
            "folder = Path(sys.argv[1]); real = os.replace; moved = []\n"
            "def replace(source, target):\n"
            "    real(source, target)\n"
            "    if Path(target).parent == folder:\n"
            "        moved.append(target)\n"
            "        if len(moved) == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
            "os.replace = replace\n"
            "with output_set(folder) as staged:\n"
            "    for name in 'abc': write_text(staged / f'{name}.txt', 'new\\n')\n")
    killed = subprocess.run([sys.executable, "-c", code, str(folder)], env=ENV, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert sorted(p.read_text() for p in folder.glob("*.txt")) == ["new\n", "new\n", "old\n"]  # mid-commit
    recover(folder)
    assert {p.name: p.read_text() for p in folder.iterdir()} == {f"{n}.txt": "new\n" for n in "abc"}


def test_a_kill_before_the_commit_leaves_the_old_set_and_no_staging(tmp_path):
    folder = tmp_path / "out"
    with output_set(folder) as staged:
        write_text(staged / "a.txt", "old\n")
    code = ("import os, signal, sys\nfrom cts.io import output_set, write_text\n"
            "with output_set(sys.argv[1]) as staged:\n"
            "    write_text(staged / 'a.txt', 'new\\n'); os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(folder)], env=ENV, timeout=60)
    assert len(list(folder.iterdir())) == 2  # a.txt and the killed run's staging folder
    with output_set(folder) as staged:  # the next run cleans it up first
        write_text(staged / "b.txt", "next\n")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.txt": "old\n", "b.txt": "next\n"}


def test_notes_merge_on_a_full_disk_keeps_parts_and_a_rerun_writes_each_chunk_once(tmp_path, monkeypatch):
    from cts.retrieval import pipeline
    from cts.retrieval.chunking import Chunker
    from cts.retrieval.retriever import Retriever

    notes = tmp_path / "notes"
    notes.mkdir()
    for k in range(4):
        (notes / f"{100 + k}.txt").write_text(f"Fever and cough for {k + 2} days before admission. Chest pain.\n")
    output = tmp_path / "candidates.parquet"

    def run():
        retriever = Retriever(mode="bm25", queries=ROOT / "conf" / "preprocess" / "queries", top_k=5)
        return pipeline.run_notes(notes, output, retriever, Chunker(), workers=0, progress=False, batch_size=2)

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "write_json", disk_full_after(3))  # the summary, in the merge's commit
        with pytest.raises(OSError):
            run()
    assert not output.exists() and len(list(output.with_name("candidates.parquet.parts").glob("*.parquet"))) == 2
    summary = run()
    table = pq.read_table(output).to_pandas()
    assert summary["already_done"] == 4 and table["note_id"].nunique() == 4
    assert not table.duplicated(["note_id", "chunk_id"]).any()
    assert not output.with_name("candidates.parquet.parts").exists()


# -- 10: files for people are safe to open -----------------------------------------------------------------------

def test_cells_a_spreadsheet_would_run_are_neutralised_and_numbers_kept():
    assert [spreadsheet_safe(v) for v in ("=1+1", "+cmd", "-rf", "@SUM(A1)", "\tx", "\rx", "-24", "+1.5e3", "a=b")] \
        == ["'=1+1", "'+cmd", "'-rf", "'@SUM(A1)", "'\tx", "'\rx", "-24", "+1.5e3", "a=b"]


def test_rejects_csv_is_neutralised_and_events_csv_stays_release_data(tmp_path):
    run_dir = annotation_dir(tmp_path / "run", {1: ['=HYPERLINK("http://evil.example","x")', "fever"]},
                             rejects=HOSTILE)
    consolidate(run_dir)
    rejects = pd.read_csv(run_dir / "rejects.csv", keep_default_na=False)
    assert not rejects["line"].str.match(r"[=+\-@\t\r]").any()
    assert set(rejects["line"].str.lstrip("'")) == set(HOSTILE)
    released = (run_dir / "events.csv").read_text()  # data in the 22MCTS format: byte-compatible, kept verbatim
    assert released.splitlines()[1].startswith('1,"=HYPERLINK(""http://evil.example"",""x"")",0.0,')


def rendered(markdown_text: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown_text)


class Elements(HTMLParser):
    def __init__(self, page: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_inert(page: str, scripts: int = 0) -> None:
    """No element, handler or link that the hostile strings could have made (the page's own tooltip script, its
    figures: PNG files beside card.md, inlined data in card.html)."""
    found = Elements(page).found
    assert [tag for tag, _ in found].count("script") == scripts
    assert all(a.get("src", "").startswith("data:image/png;base64,") or a.get("src", "").endswith(".png")
               and "/" not in a.get("src", "") for tag, a in found if tag == "img")
    assert not [name for _, a in found for name in a if name.startswith("on")]
    assert not [a for _, a in found if (a.get("href") or "").lower().lstrip().startswith("javascript")]


def test_card_pages_show_hostile_event_text_as_text(tmp_path):
    events = tmp_path / "events.parquet"
    rows = [(1, text, -24.0 + k) for k, text in enumerate(HOSTILE)] + [(2, "fever", 3.0)]
    pd.DataFrame(rows, columns=["hadm_id", "event", "time"]).to_parquet(events)
    write_stats(events, tmp_path / "card", name="<b>x</b> | [y](javascript:z)")
    markdown = (tmp_path / "card" / "card.md").read_text()
    page = rendered(markdown)
    assert_inert(page)
    assert_inert((tmp_path / "card" / "card.html").read_text(), scripts=1)
    top = markdown.split("## Top events")[1].split("##")[0]
    body = [line for line in top.splitlines() if line.startswith("|")][2:]
    assert len(body) == len(HOSTILE) + 1 and all(line.replace("\\|", "").count("|") == 3 for line in body)
    assert "pain | fever" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_sweep_report_markdown_and_csv_are_safe_with_hostile_override_values(tmp_path):
    sweep = tmp_path / "sweep"
    for k, value in enumerate(["<script>alert(1)</script>", "=HYPERLINK(1)"]):
        job = sweep / f"{k}_name=x"
        job.mkdir(parents=True)
        (job / "summary.json").write_text(json.dumps({"metrics": {"val/f1": 0.5 + k / 10}, "overrides": [
            f"model.tag={value}", f"seed={k}"], "optimized_metric": "val/f1", "optimized_mode": "max"}))
    write_sweep_report(sweep)
    assert_inert(rendered((sweep / "summary.md").read_text()))
    jobs = pd.read_csv(sweep / "summary.csv")
    assert "'=HYPERLINK(1)" in set(jobs["model.tag"]) and "<script>alert(1)</script>" in set(jobs["model.tag"])


def test_write_csv_names_headers_safely_too(tmp_path):
    write_csv(pd.DataFrame({"=cmd": ["=1"], "n": [-3]}), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "'=cmd,n\n'=1,-3\n"


# -- 11: a stage's setting at the wrong key ---------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize(("script", "arguments", "key"), [
    ("preprocess.py", ["stage=stats", "name=X"], "stage.name=X"),
    ("preprocess.py", ["stage=notes", "overwrite=true"], "stage.overwrite=true"),
    ("annotate.py", ["stage=evaluate", "+threshold=3"], "stage.threshold=3"),
])
def test_a_stage_setting_given_as_a_top_level_key_is_one_line_naming_the_key(tmp_path, script, arguments, key):
    done = subprocess.run([sys.executable, str(ROOT / script), *arguments], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "To append" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and f"write {key}" in done.stderr
    assert not list(tmp_path.iterdir())


def test_resume_with_other_settings_names_the_stage_key(tmp_path):
    from cts.retrieval.pipeline import PartStore

    output = tmp_path / "c.parquet"
    store = PartStore(output, {"chunk": 1})
    store.merge(tmp_path / "c.summary.json", {})
    with pytest.raises(ValueError, match=r"stage\.overwrite=true"):
        PartStore(output, {"chunk": 2}).done()


def test_an_error_with_its_own_message_keeps_it_and_names_the_stage_key(tmp_path, demo_dir):
    with pytest.raises(FileNotFoundError) as caught:
        write_stats(demo_dir / "events_normalized.parquet", tmp_path / "card", normalization=tmp_path / "x.json")
    assert user_message(caught.value).startswith(f"stage.normalization={tmp_path / 'x.json'}: no such file")


def test_timeline_page_shows_hostile_event_and_note_text_as_text(tmp_path):
    from cts.reports.timeline import write_timeline

    events = tmp_path / "events.parquet"
    pd.DataFrame([(5, text, float(k)) for k, text in enumerate(HOSTILE)],
                 columns=["hadm_id", "event", "time"]).to_parquet(events)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "5.txt").write_text("Admitted. " + " ".join(HOSTILE) + " </pre><script>alert(9)</script>\n")
    page = write_timeline(events, 5, tmp_path / "5.html", notes=notes).read_text()
    assert_inert(page, scripts=1)
    assert "&lt;script&gt;alert(9)&lt;/script&gt;" in page


def test_a_lock_wait_that_is_not_a_number_is_one_line_naming_the_key(tmp_path):
    stage = OmegaConf.create({"_target_": "cts.io.write_text", "path": str(tmp_path / "x"), "text": "x"})
    with pytest.raises(UserError, match=r"lock_wait_s='soon': give seconds"):
        run_stage(OmegaConf.create({"stage": stage, "lock_wait_s": "soon"}))
    assert not (tmp_path / "x").exists()


@pytest.mark.e2e
def test_a_real_write_failure_on_the_command_line_keeps_the_old_set_and_is_one_line(tmp_path):
    """Not a patched writer: the kernel refuses the write (a file size limit, EFBIG), as a full disk would."""
    import resource

    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("Hadm_id,Event,Time\n1,fever,-24\n1,cough,3\n")
    normalize_file(source, output)
    before = digests(tmp_path)
    source.write_text("Hadm_id,Event,Time\n" + "".join(f"{k},event number {k},{k}\n" for k in range(20_000)))
    before["in.csv"] = digests(tmp_path)["in.csv"]

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    done = subprocess.run([sys.executable, str(ROOT / "preprocess.py"), "stage=normalize", f"input={source}",
                           f"output={output}", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {output}: File too large (")
    assert "ulimit -f" in done.stderr
    assert {k: v for k, v in digests(tmp_path).items() if not k.startswith("run/")} == before


def test_a_smaller_meds_export_leaves_no_shard_of_the_earlier_one(tmp_path, demo_dir):
    from cts.data.meds import export_meds

    events, output = demo_dir / "events_normalized.parquet", tmp_path / "meds"
    export_meds(events, output, shard_size=50)
    many = sorted(output.rglob("*.parquet"))
    export_meds(events, output)
    few = sorted(output.rglob("*.parquet"))
    assert len(few) < len(many) and {p.name for p in (output / "data" / "train").iterdir()} == {"0.parquet"}
