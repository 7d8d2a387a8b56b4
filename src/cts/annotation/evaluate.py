"""Compare predicted timelines with reference timelines (``event | hours`` files or our annotation outputs).

Matching, per note, is one-to-one and optimal (``scipy.optimize.linear_sum_assignment`` on rapidfuzz scores):
among the pairs whose similarity reaches the threshold and that are not opposites (see :func:`opposites`), it
matches as many events as possible, then maximizes the total similarity, then — among equally similar pairs, such
as a name that occurs several times — prefers the closest times. On matched events: mean and median absolute error
in hours, agreement of sign (before / at / after admission) and pairwise order concordance (pairs with different
reference times; a predicted tie counts half). Overall numbers get 95% bootstrap intervals over notes. The stage
that writes them (``annotate.py stage=evaluate``) is ``cts.reports.evaluation.evaluate``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from scipy.optimize import linear_sum_assignment

from cts.annotation.outputs import AnnotationError, read_output
from cts.bootstrap import ClusterBootstrap, interval, mean, ratio
from cts.data import timelines
from cts.data.event_table import read_event_table
from cts.data.notes import hadm_id_from_name
from cts.io import nan_to_none
from cts.utils import announce

SUFFIXES = (".json", ".bsv", ".csv")  # preferred first when one note has several
SCORERS = {"ratio": fuzz.ratio, "token_sort_ratio": fuzz.token_sort_ratio, "token_set_ratio": fuzz.token_set_ratio,
           "partial_ratio": fuzz.partial_ratio}
METRICS = ("precision", "recall", "f1", "mae_hours", "median_ae_hours", "sign_agreement", "order_concordance")


def read_timeline(path: Path) -> tuple[list[tuple[str, float]], int]:
    """(events, unreadable lines) of one file: our ``.json`` output, an ``event | hours`` ``.bsv`` or an
    ``event,time`` ``.csv`` (times in the same grammar as ``.bsv``)."""
    if path.suffix == ".json":  # times that are not finite numbers (``true``, ``NaN``) are unreadable, not guessed
        events = [(e.get("event"), timelines.hours_of(e.get("time"))) for e in read_output(path).get("events", [])]
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        frame.columns = frame.columns.str.strip().str.lower()
        if not {"event", "time"} <= set(frame.columns):
            raise AnnotationError(f"{path}: expected columns 'event,time', found {list(frame.columns)}")
        events = [(event.strip(), timelines.parse_hours(time)) for event, time in zip(frame["event"], frame["time"])]
    else:
        timeline = timelines.read_timeline(path)
        return timeline.events, len(timeline.rejects)
    kept = [(event, hours) for event, hours in events if isinstance(event, str) and event and hours is not None]
    return kept, len(events) - len(kept)


def load_timelines(directory: str | Path) -> dict[str, tuple[list[tuple[str, float]], int]]:
    """Timelines of a folder keyed by admission: the first integer of the file name, as notes are keyed. Files
    without one (a run's ``events.csv``, ``rejects.csv``) are not timelines and are left out."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AnnotationError(f"{directory}: no such folder of timelines")
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir(), key=lambda p: (SUFFIXES.index(p.suffix) if p.suffix in SUFFIXES else 9,
                                                             p.name)):
        number = hadm_id_from_name(path.stem)
        if path.suffix in SUFFIXES and path.is_file() and not path.name.startswith(".") and number is not None:
            found.setdefault(str(number), path)
    return {key: read_timeline(path) for key, path in found.items()}


def table_timelines(path: str | Path, predicted: dict) -> dict[str, tuple[list[tuple[str, float]], int]]:
    """Timelines of the admissions of ``predicted`` from an event table (rows with unreadable times are dropped by
    the reader, which reports them)."""
    table = read_event_table(path)
    table = table[table["hadm_id"].astype("int64").astype(str).isin(set(predicted))]
    found = {str(h): (list(zip(g["event"].astype(str), g["time"].astype(float))), 0)
             for h, g in table.groupby("hadm_id", observed=True, sort=False)}
    announce(f"evaluate: reference table {path}: scoring the {len(found)} of its admissions that have predictions "
             f"({len(predicted) - len(found)} predicted admissions are not in the table)")
    return found


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.casefold())).strip()


# The opposite guard. Each axis gives a text a code (0 = the text says nothing on that axis); two texts that both
# speak on an axis with different codes are opposites and never match, however similar their letters.
_NEGATION = re.compile(r"\b(?:no|not|denie[sd]|denying|without|negative for)\b")
_POLAR_AXES = {  # axis: (words coded 1, words coded 2); a text with words of both sides says nothing on it
    "side": (r"left", r"right"),
    "direction": (r"increase[sd]?|increasing|elevated|elevation|high|rising",
                  r"decrease[sd]?|decreasing|reduced|reduction|low|falling"),
}
_POLAR = {axis: tuple(re.compile(rf"\b(?:{words})\b") for words in sides) for axis, sides in _POLAR_AXES.items()}
_TYPE = re.compile(r"\btype\s*(1|2|i|ii|one|two)\b")
_TYPE_CODE = {"1": 1, "i": 1, "one": 1, "2": 2, "ii": 2, "two": 2}
_HYPO_HYPER = re.compile(r"\b(hypo|hyper)(\w{3,})")


def _axis_codes(text: str) -> dict[str, int]:
    """Codes of one normalized text on every axis it speaks on."""
    codes = {"negation": 1 if _NEGATION.search(text) else 2}
    for axis, (first, second) in _POLAR.items():
        code = (1 if first.search(text) else 0) + (2 if second.search(text) else 0)
        if code in (1, 2):
            codes[axis] = code
    types = {_TYPE_CODE[m] for m in _TYPE.findall(text)}
    if len(types) == 1:
        codes["type"] = types.pop()
    stems: dict[str, set[int]] = {}
    for prefix, stem in _HYPO_HYPER.findall(text):  # hypo|tension vs hyper|tension: one axis per stem
        stems.setdefault("hypo/hyper " + stem[:5], set()).add(1 if prefix == "hypo" else 2)
    codes.update({axis: sides.pop() for axis, sides in stems.items() if len(sides) == 1})
    return codes


def opposites(predicted: list[str], reference: list[str]) -> np.ndarray:
    """``(n_predicted, n_reference)`` bool: the two normalized texts contradict each other — one negated and the
    other not (no / not / denies / denied / without / negative for), hypo- vs hyper- of one stem, type 1 vs type 2,
    left vs right, increased/elevated/high vs decreased/reduced/low."""
    p_codes, r_codes = [_axis_codes(t) for t in predicted], [_axis_codes(t) for t in reference]
    axes = sorted({axis for codes in p_codes + r_codes for axis in codes})
    p = np.array([[codes.get(a, 0) for a in axes] for codes in p_codes], dtype=np.int8).reshape(len(predicted), -1)
    r = np.array([[codes.get(a, 0) for a in axes] for codes in r_codes], dtype=np.int8).reshape(len(reference), -1)
    both = (p[:, None, :] > 0) & (r[None, :, :] > 0)
    return (both & (p[:, None, :] != r[None, :, :])).any(axis=2)


def match_events(predicted: list[str], reference: list[str], threshold: float, scorer: str = "token_sort_ratio",
                 predicted_hours=None, reference_hours=None) -> list[tuple[int, int]]:
    """Optimal one-to-one (predicted, reference) index pairs with similarity ≥ threshold and not opposites: most
    pairs, then the highest total similarity, then (given hours) the closest times; sorted by predicted index."""
    if not predicted or not reference:
        return []
    p_text, r_text = [normalize(p) for p in predicted], [normalize(r) for r in reference]
    scores = process.cdist(p_text, r_text, scorer=SCORERS[scorer], dtype=np.float64)
    allowed = (scores >= threshold) & ~opposites(p_text, r_text)
    if not allowed.any():
        return []
    # Lexicographic weights, exact in float64: a pair is worth `each` (more than any total of similarity points
    # the other pairs could add), plus its similarity in integer hundredths of a point, plus a closeness bonus in
    # (0, 1] / (n + 1), which sums to less than one hundredth over all n pairs: it only breaks similarity ties.
    n = min(allowed.shape)
    points = np.round(scores * 100)
    each = 10_000 * n + 1
    closeness = np.zeros_like(scores)
    if predicted_hours is not None and reference_hours is not None:
        gap = np.abs(np.asarray(predicted_hours, float)[:, None] - np.asarray(reference_hours, float)[None, :])
        closeness = 1.0 / (1.0 + gap) / (n + 1)
    weight = np.where(allowed, each + points + closeness, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    keep = allowed[rows, cols]
    return [(int(i), int(j)) for i, j in zip(rows[keep], cols[keep])]


def concordance(predicted: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """(concordant pairs, pairs with different reference times); a predicted tie counts 0.5."""
    i, j = np.triu_indices(len(reference), k=1)
    ref = np.sign(reference[i] - reference[j])
    pred = np.sign(predicted[i] - predicted[j])
    valid = ref != 0
    return float(np.sum(np.where(pred[valid] == 0, 0.5, pred[valid] == ref[valid]))), int(valid.sum())


@dataclass
class NoteScore:
    note: str
    predicted: int
    reference: int
    matched: int
    precision: float
    recall: float
    f1: float
    mae_hours: float
    median_ae_hours: float
    sign_agreement: float
    order_concordance: float
    abs_error_hours: float  # sums, from which the overall numbers and their intervals are computed
    signs_agreeing: int
    concordant_pairs: float
    pairs: int


def precision_recall_f1(matched, predicted, reference):
    """Element-wise (arrays or numbers): nothing predicted has precision 1 only when nothing was expected, and
    likewise recall; F1 = 2·matched / (predicted + reference), 1 when both are empty."""
    matched, predicted, reference = (np.asarray(x, dtype=np.float64) for x in (matched, predicted, reference))
    precision = np.where(predicted > 0, ratio(matched, predicted), (reference == 0).astype(float))
    recall = np.where(reference > 0, ratio(matched, reference), (predicted == 0).astype(float))
    f1 = np.where(predicted + reference > 0, ratio(2 * matched, predicted + reference), 1.0)
    return precision, recall, f1


def score_note(note: str, predicted: list[tuple[str, float]], reference: list[tuple[str, float]],
               threshold: float, scorer: str) -> tuple[NoteScore, np.ndarray]:
    """A note's score and the (predicted, reference) hours of its matched events, shape ``(matched, 2)``."""
    p_hours = np.array([h for _, h in predicted], dtype=float)
    r_hours = np.array([h for _, h in reference], dtype=float)
    pairs = match_events([e for e, _ in predicted], [e for e, _ in reference], threshold, scorer, p_hours, r_hours)
    p_matched = p_hours[[i for i, _ in pairs]] if pairs else np.empty(0)
    r_matched = r_hours[[j for _, j in pairs]] if pairs else np.empty(0)
    errors = np.abs(p_matched - r_matched)
    agreeing = int(np.sum(np.sign(p_matched) == np.sign(r_matched)))
    concordant, n_pairs = concordance(p_matched, r_matched)
    precision, recall, f1 = (float(x) for x in precision_recall_f1(len(pairs), len(predicted), len(reference)))
    matched = len(pairs)
    return NoteScore(
        note=note, predicted=len(predicted), reference=len(reference), matched=matched, precision=precision,
        recall=recall, f1=f1, mae_hours=float(errors.mean()) if matched else math.nan,
        median_ae_hours=float(np.median(errors)) if matched else math.nan,
        sign_agreement=agreeing / matched if matched else math.nan,
        order_concordance=concordant / n_pairs if n_pairs else math.nan, abs_error_hours=float(errors.sum()),
        signs_agreeing=agreeing, concordant_pairs=concordant, pairs=n_pairs,
    ), np.column_stack([p_matched, r_matched])


def overall_statistics(table: pd.DataFrame) -> dict[str, Callable[[ClusterBootstrap], np.ndarray]]:
    """Every overall metric but the median as a function of a bootstrap over ``table``'s rows (per-note scores,
    clustered however the caller resamples: notes here, admissions in ``task=extract``): each metric is a ratio of
    per-note sums, or for ``macro_f1`` a mean of per-note F1."""
    def column(name):
        return table[name].to_numpy()

    def prf(boot: ClusterBootstrap):
        return precision_recall_f1(*(boot.sums(column(c)) for c in ("matched", "predicted", "reference")))

    def over_matched(name: str):
        return lambda boot: ratio(boot.sums(column(name)), boot.sums(column("matched")))

    return {"precision": lambda boot: prf(boot)[0], "recall": lambda boot: prf(boot)[1],
            "f1": lambda boot: prf(boot)[2], "macro_f1": lambda boot: mean(boot, column("f1")),
            "mae_hours": over_matched("abs_error_hours"), "sign_agreement": over_matched("signs_agreeing"),
            "order_concordance": lambda boot: ratio(boot.sums(column("concordant_pairs")), boot.sums(column("pairs")))}


def overall_samples(table: pd.DataFrame, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Bootstrap samples (row 0 = the full set of notes) of every overall metric but the median, whose notes are
    resampled whole."""
    boot = ClusterBootstrap(table["note"].to_numpy(), n_resamples=n_resamples, seed=seed)
    return {name: statistic(boot) for name, statistic in overall_statistics(table).items()}


def score_table(scores: list[NoteScore]) -> pd.DataFrame:
    """One row per scored note (the columns of :class:`NoteScore`)."""
    return pd.DataFrame([asdict(s) for s in scores], columns=list(NoteScore.__dataclass_fields__))


def hour_errors(matched: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every note's ``(predicted, reference)`` hours of matched events (:func:`score_note`'s second output) as one
    ``(n, 2)`` array, and their absolute errors."""
    hours = np.concatenate(matched) if matched else np.empty((0, 2))
    return hours, np.abs(hours[:, 0] - hours[:, 1])


def median_error(errors: np.ndarray) -> float | None:
    """The median absolute hour error (not bootstrapped), None when nothing matched."""
    return nan_to_none(float(np.median(errors))) if errors.size else None


def score(predictions: str | Path, reference: str | Path, threshold: float = 80.0, scorer: str = "token_sort_ratio",
          n_resamples: int = 1000, seed: int = 0) -> tuple[dict, pd.DataFrame, np.ndarray]:
    """(overall numbers with 95% intervals over notes, one row per reference note, the ``(predicted, reference)``
    hours of every matched event). Every reference note is scored (a note without predictions scores zero recall);
    ``reference`` may also be an event table (the demo's ``events_normalized.parquet``, a released CSV): then its
    admissions that were annotated are scored (a run over a few notes is not charged with the rest of the table), and
    how many that is, is said."""
    if scorer not in SCORERS:
        raise AnnotationError(f"stage.scorer must be one of {sorted(SCORERS)}, got {scorer!r}")
    predicted = load_timelines(predictions)
    expected = load_timelines(reference) if Path(reference).is_dir() else table_timelines(reference, predicted)
    if not expected:
        raise AnnotationError(f"{reference}: no reference timelines (*.bsv, *.csv, *.json)")
    scores, matched_hours = [], []
    for note, (ref_events, _) in expected.items():
        note_score, hours = score_note(note, predicted.get(note, ([], 0))[0], ref_events, threshold, scorer)
        scores.append(note_score)
        matched_hours.append(hours)
    table = score_table(scores)
    matched_hours, errors = hour_errors(matched_hours)
    estimates = {name: interval(samples) for name, samples in overall_samples(table, n_resamples, seed).items()}
    overall = {
        "notes": len(scores), "missing_predictions": sorted(set(expected) - set(predicted)),
        "unreferenced_predictions": len(set(predicted) - set(expected)), "threshold": threshold, "scorer": scorer,
        "unreadable_lines": {"predictions": sum(n for _, n in predicted.values()),
                             "reference": sum(n for _, n in expected.values())},
        "predicted": int(table.predicted.sum()), "reference": int(table.reference.sum()),
        "matched": int(table.matched.sum()),
        **{name: nan_to_none(estimate.value) for name, estimate in estimates.items()},
        "median_ae_hours": median_error(errors),
        "ci95": {name: estimate.ci95() for name, estimate in estimates.items()},
        "bootstrap": {"unit": "note", "resamples": n_resamples, "seed": seed, "level": 0.95},
    }
    return overall, table, matched_hours
