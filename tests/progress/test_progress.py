"""Progress off a terminal (SLURM logs): plain log lines with count, total, rate and ETA, not tqdm frames; nothing
when progress is off."""

import logging

from cts import progress as progress_module
from cts.progress import PlainProgress, Silent, StepProgress, progress


def test_plain_lines_every_interval_with_total_rate_and_eta(monkeypatch, caplog):
    clock = iter([100.0, 130.0, 161.0, 161.0, 170.0, 200.0])  # start, updates (+ the line's own reading), close
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    caplog.set_level(logging.INFO, logger="cts.progress")
    bar = PlainProgress(total=8, desc="annotate shard 0/1", unit="admission", interval_s=60)
    bar.update(2)  # t=30 s: under the interval, nothing logged
    bar.set_postfix({"failed": 0})
    bar.update(2)  # t=61 s: 4 of 8 at 4/61 per s → 61 s left
    bar.update(4)  # t=70 s: 9 s after the last line, nothing logged
    bar.close()  # t=100 s: the final line, 8/100 per s
    assert caplog.messages == [
        "annotate shard 0/1: 4/8 admissions (50.0%), 0.07 admission/s, ETA 0:01:01, failed=0",
        "annotate shard 0/1: 8/8 admissions (100.0%), 0.08 admission/s, ETA 0:00:00, failed=0",
    ]


def test_progress_is_plain_when_stdout_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert isinstance(progress(10, "notes", "note"), PlainProgress)
    assert isinstance(progress(10, "notes", "note", enabled=False), Silent)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert type(progress(10, "notes", "note")).__module__.startswith("tqdm")
    assert isinstance(progress(10, "notes", "note", enabled=False), Silent)  # off on a terminal too


def test_steps_off_a_terminal_are_a_line_each(monkeypatch, caplog):
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    caplog.set_level(logging.INFO, logger="cts.progress")
    with StepProgress("normalize", ["read", "apply recipe"]) as steps:
        steps.advance()
        steps.advance()
    assert [m.rsplit(", ", 1)[1] for m in caplog.messages] == ["read", "apply recipe", "done"]
    assert caplog.messages[0].startswith("normalize: 1/2 steps (50.0%)")
