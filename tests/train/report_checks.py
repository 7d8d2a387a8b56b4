"""What every finished run's report holds: report.html and the PNGs of its figures (the runner's and the task's)."""

from pathlib import Path

TASK_FIGURES = {"relation": {"confusion_matrix_test"}, "nextevent": {"accuracy_test", "accuracy_by_time_test"},
                "forecast": {"accuracy_test", "hours_error_test"},
                "risk": {"reliability_test", "roc_test", "pr_test"},
                "pubmedqa": {"confusion_matrix_test"}, "trials": {"confusion_matrix_test"}}


def is_png(path: Path, min_bytes: int = 5_000) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= min_bytes


def assert_run_report(run_dir: Path, task: str, curves: bool = False) -> str:
    """The task's figures and model vs baselines (and learning curves with a CSV log) as valid PNGs, each inlined
    in report.html; returns the page."""
    expected = TASK_FIGURES[task] | {"model_vs_baselines"} | ({"learning_curves"} if curves else set())
    for name in expected:
        assert is_png(run_dir / f"{name}.png"), name
    page = (run_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(set(p.stem for p in run_dir.glob("*.png")))
    assert "http://" not in page and "https://" not in page
    return page
