"""A dataset card for an event table: counts, events per admission, time structure, top events, time histogram."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cts.data.event_table import read_event_table  # noqa: E402
from cts.data.time_bins import N_PAPER_BINS, PAPER_BIN_EDGES  # noqa: E402
from cts.io import atomic_path, refuse_overwrite, write_json, write_text  # noqa: E402
from cts.utils import announce  # noqa: E402


def _bin_labels() -> list[str]:
    edges = ["-inf", *(f"{e:g}" for e in PAPER_BIN_EDGES), "inf"]
    return [f"[{edges[i]}, {edges[i + 1]})" for i in range(N_PAPER_BINS)]


def describe_events(events, top: int = 20) -> dict:
    per_admission = events.groupby("hadm_id", sort=False).size().to_numpy()
    time = events["time"].to_numpy()
    counts = events["event"].value_counts()
    stats = {
        "rows": int(len(events)),
        "admissions": int(len(per_admission)),
        "distinct_events": int((counts > 0).sum()),
        "events_per_admission": {
            "mean": float(per_admission.mean()), "median": float(np.median(per_admission)),
            "p10": float(np.percentile(per_admission, 10)), "p90": float(np.percentile(per_admission, 90)),
            "min": int(per_admission.min()), "max": int(per_admission.max()),
        },
        "share_of_events": {"before_admission": float((time < 0).mean()), "at_admission": float((time == 0).mean()),
                            "after_admission": float((time > 0).mean())},
        "time_hours": {"min": float(time.min()), "median": float(np.median(time)), "max": float(time.max())},
        "time_bins": dict(zip(_bin_labels(), np.bincount(events["time_bin"], minlength=N_PAPER_BINS).tolist())),
        "top_events": {str(k): int(v) for k, v in counts.head(top).items()},
    }
    if "subject_id" in events.columns:
        stats["subjects"] = int(events["subject_id"].nunique())
    return stats


def _plot_times(time: np.ndarray, path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    signed_log = np.sign(time) * np.log10(1 + np.abs(time))
    left.hist(signed_log, bins=80, color="#336699")
    ticks = np.array([-87600, -8760, -720, -24, 0, 24, 720, 8760])
    left.set_xticks(np.sign(ticks) * np.log10(1 + np.abs(ticks)),
                    ["-10y", "-1y", "-1mo", "-1d", "0", "1d", "1mo", "1y"])
    left.set_xlabel("hours relative to admission (signed log scale)")
    left.set_ylabel("events")
    bins = np.bincount(np.searchsorted(PAPER_BIN_EDGES, time, side="right"), minlength=N_PAPER_BINS)
    right.bar(range(N_PAPER_BINS), bins, color="#993333")
    right.set_xticks(range(N_PAPER_BINS), _bin_labels(), rotation=45, ha="right", fontsize=7)
    right.set_title("the authors' 9 time bins (hours)")
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as temp:
        figure.savefig(temp, dpi=110)
    plt.close(figure)


def _card(stats: dict, source: str) -> str:
    epa, share = stats["events_per_admission"], stats["share_of_events"]
    lines = [
        f"# Dataset card: `{source}`", "",
        f"- rows (events): {stats['rows']:,}", f"- admissions: {stats['admissions']:,}",
        *([f"- subjects: {stats['subjects']:,}"] if "subjects" in stats else []),
        f"- distinct event strings: {stats['distinct_events']:,}",
        f"- events per admission: mean {epa['mean']:.1f}, median {epa['median']:g},"
        f" p10–p90 {epa['p10']:g}–{epa['p90']:g},"
        f" range {epa['min']}–{epa['max']}",
        f"- events before admission {share['before_admission']:.1%}, at admission {share['at_admission']:.1%},"
        f" after admission {share['after_admission']:.1%}", "",
        "## Time bins", "", "| bin (hours) | events |", "|---|---|",
        *(f"| {k} | {v:,} |" for k, v in stats["time_bins"].items()), "",
        "## Top events", "", "| event | count |", "|---|---|",
        *(f"| {k} | {v:,} |" for k, v in stats["top_events"].items()), "",
        "![time histogram](time_histogram.png)", "",
    ]
    return "\n".join(lines)


def write_stats(input: str | Path, output: str | Path, top: int = 20, time_policy: str = "drop") -> dict:
    """Stage ``stats``: ``card.md``, ``stats.json`` and ``time_histogram.png`` under ``output``."""
    output = Path(output)
    refuse_overwrite([input], [output / name for name in ("stats.json", "card.md", "time_histogram.png")])
    events = read_event_table(input, time_policy=time_policy)
    stats = describe_events(events, top)
    write_json(output / "stats.json", stats)
    write_text(output / "card.md", _card(stats, Path(input).name))
    _plot_times(events["time"].to_numpy(), output / "time_histogram.png")
    announce(f"stats: {stats['rows']:,} events, {stats['admissions']:,} admissions → {output}/card.md")
    return stats
