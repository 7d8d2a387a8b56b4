"""``python -m cts.reports sweep`` on fixture runs also writes summary.png (headline metric per job, or per setting
over seeds, with intervals) and a self-contained summary.html."""

import re

import pytest
from test_report import _job

from cts.reports.__main__ import main
from cts.reports.sweep import comparison_rows, job_table, read_sweep, varying_keys


def _png_ok(path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


@pytest.fixture
def runs(tmp_path):
    sweep = tmp_path / "sweep"
    _job(sweep, "0_lr=1e-4,seed=1", ["lr=1e-4", "seed=1"], 0.70, 0.68, 0.08, [0.02, 0.14])
    _job(sweep, "1_lr=1e-4,seed=2", ["lr=1e-4", "seed=2"], 0.74, 0.66, 0.06, [0.00, 0.12])
    _job(sweep, "2_lr=5e-5,seed=1", ["lr=5e-5", "seed=1"], 0.60, 0.58, -0.02, [-0.08, 0.04])
    return sweep


def test_seeds_are_averaged_in_the_comparison(runs):
    finished, failed = read_sweep(runs)
    keys = varying_keys(finished + failed)
    metric, rows = comparison_rows(job_table(finished, keys), keys)
    assert metric == "test/macro_f1"
    assert rows[0][0] == "lr=1e-4 (2 seeds)" and rows[0][1:] == pytest.approx((0.67, 0.57, 0.77))
    assert rows[1] == ("lr=5e-5 (1 seed)", pytest.approx(0.58), pytest.approx(0.48), pytest.approx(0.68))


def test_without_seeds_each_job_is_a_bar(runs):
    finished, _ = read_sweep(runs)
    finished = [job for job in finished if job["override_values"]["seed"] == "1"]
    keys = varying_keys(finished)
    assert keys == ["lr"]
    _, rows = comparison_rows(job_table(finished, keys), keys)
    assert [name for name, *_ in rows] == ["lr=1e-4", "lr=5e-5"]  # best first


def test_cli_writes_the_picture_and_the_page(runs):
    assert main(["sweep", str(runs)]) == 0
    assert _png_ok(runs / "summary.png")
    page = (runs / "summary.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "3 finished, 0 failed" in page
    assert "Over seeds" in page and "1e-4" in page
    assert not re.search(r'(?:src|href)="(?!data:)', page)  # nothing to fetch


def test_only_failed_jobs_get_a_page_without_a_picture(tmp_path):
    job = tmp_path / "sweep" / "0_model=gpt"
    job.mkdir(parents=True)
    assert main(["sweep", str(tmp_path / "sweep")]) == 0
    assert not (tmp_path / "sweep" / "summary.png").exists()
    assert "0 finished, 1 failed" in (tmp_path / "sweep" / "summary.html").read_text()
