"""Compare predicted timelines with reference timelines (``event | hours`` files or our annotation outputs).

Per note and overall: event precision/recall/F1 under fuzzy text matching (one-to-one, greedy by similarity),
and on matched events the mean and median absolute error in hours, agreement of sign (before / at / after
admission) and pairwise order concordance (pairs with different reference times; a predicted tie counts half).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from cts.annotation.outputs import AnnotationError, read_output
from cts.annotation.parsing import parse_output
from cts.data.notes import hadm_id_from_name
from cts.utils import announce

SUFFIXES = (".json", ".bsv", ".csv")  # preferred first when one note has several
SCORERS = {"ratio": fuzz.ratio, "token_sort_ratio": fuzz.token_sort_ratio, "token_set_ratio": fuzz.token_set_ratio,
           "partial_ratio": fuzz.partial_ratio}


def read_timeline(path: Path) -> tuple[list[tuple[str, float]], int]:
    """(events, unreadable lines) of one file: our ``.json`` output, an ``event | hours`` ``.bsv`` or an
    ``event,time`` ``.csv``."""
    if path.suffix == ".json":
        return [(e["event"], float(e["time"])) for e in read_output(path).get("events", [])], 0
    if path.suffix == ".csv":
        frame = pd.read_csv(path, skipinitialspace=True)
        if not {"event", "time"} <= set(frame.columns.str.strip().str.lower()):
            raise AnnotationError(f"{path}: expected columns 'event,time', found {list(frame.columns)}")
        frame.columns = frame.columns.str.strip().str.lower()
        hours = pd.to_numeric(frame["time"], errors="coerce")
        keep = hours.notna() & frame["event"].notna()
        events = zip(frame.loc[keep, "event"].astype(str).str.strip(), hours[keep].astype(float))
        return list(events), int((~keep).sum())
    parsed = parse_output(path.read_text(encoding="utf-8", errors="replace"))
    return parsed.events, len(parsed.rejects)


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


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.casefold())).strip()


def match_events(predicted: list[str], reference: list[str], threshold: float, scorer: str = "token_sort_ratio"
                 ) -> list[tuple[int, int]]:
    """One-to-one (predicted, reference) index pairs with similarity ≥ threshold, best pairs first."""
    if not predicted or not reference:
        return []
    scores = process.cdist([normalize(p) for p in predicted], [normalize(r) for r in reference],
                           scorer=SCORERS[scorer], dtype=np.float32)
    rows, cols = np.nonzero(scores >= threshold)
    order = np.lexsort((cols, rows, -scores[rows, cols]))
    used_p, used_r, pairs = set(), set(), []
    for i, j in zip(rows[order], cols[order]):
        if i not in used_p and j not in used_r:
            used_p.add(i), used_r.add(j), pairs.append((int(i), int(j)))
    return pairs


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
    concordant_pairs: float
    pairs: int


def _f1(matched: int, predicted: int, reference: int) -> tuple[float, float, float]:
    precision = matched / predicted if predicted else float(reference == 0)
    recall = matched / reference if reference else float(predicted == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _nan_mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def score_note(note: str, predicted: list[tuple[str, float]], reference: list[tuple[str, float]],
               threshold: float, scorer: str) -> tuple[NoteScore, np.ndarray, np.ndarray]:
    pairs = match_events([e for e, _ in predicted], [e for e, _ in reference], threshold, scorer)
    p_hours = np.array([predicted[i][1] for i, _ in pairs], dtype=float)
    r_hours = np.array([reference[j][1] for _, j in pairs], dtype=float)
    errors = np.abs(p_hours - r_hours)
    concordant, n_pairs = concordance(p_hours, r_hours)
    precision, recall, f1 = _f1(len(pairs), len(predicted), len(reference))
    return NoteScore(
        note=note, predicted=len(predicted), reference=len(reference), matched=len(pairs), precision=precision,
        recall=recall, f1=f1, mae_hours=_nan_mean(errors),
        median_ae_hours=float(np.median(errors)) if errors.size else math.nan,
        sign_agreement=_nan_mean(np.sign(p_hours) == np.sign(r_hours)),
        order_concordance=concordant / n_pairs if n_pairs else math.nan, concordant_pairs=concordant, pairs=n_pairs,
    ), p_hours, r_hours


def evaluate(predictions: str | Path, reference: str | Path, output: str | Path | None = None,
             threshold: float = 80.0, scorer: str = "token_sort_ratio") -> dict:
    """Score every reference note (a note without predictions scores zero recall); write metrics.json and
    per_note.csv to ``output`` when given."""
    if scorer not in SCORERS:
        raise AnnotationError(f"evaluate.scorer must be one of {sorted(SCORERS)}, got {scorer!r}")
    predicted, expected = load_timelines(predictions), load_timelines(reference)
    if not expected:
        raise AnnotationError(f"{reference}: no reference timelines (*.bsv, *.csv, *.json)")
    scores, all_p, all_r = [], [], []
    for note, (ref_events, _) in expected.items():
        score, p_hours, r_hours = score_note(note, predicted.get(note, ([], 0))[0], ref_events, threshold, scorer)
        scores.append(score)
        all_p.append(p_hours), all_r.append(r_hours)
    table = pd.DataFrame([asdict(s) for s in scores])
    errors = np.abs(np.concatenate(all_p) - np.concatenate(all_r))
    precision, recall, f1 = _f1(int(table.matched.sum()), int(table.predicted.sum()), int(table.reference.sum()))
    overall = {
        "notes": len(scores), "missing_predictions": sorted(set(expected) - set(predicted)),
        "unreferenced_predictions": len(set(predicted) - set(expected)), "threshold": threshold, "scorer": scorer,
        "unreadable_lines": {"predictions": sum(n for _, n in predicted.values()),
                             "reference": sum(n for _, n in expected.values())},
        "predicted": int(table.predicted.sum()), "reference": int(table.reference.sum()),
        "matched": int(table.matched.sum()), "precision": precision, "recall": recall, "f1": f1,
        "macro_f1": float(table.f1.mean()), "mae_hours": _nan_mean(errors),
        "median_ae_hours": float(np.median(errors)) if errors.size else math.nan,
        "sign_agreement": _nan_mean(np.sign(np.concatenate(all_p)) == np.sign(np.concatenate(all_r))),
        "order_concordance": float(table.concordant_pairs.sum() / table.pairs.sum()) if table.pairs.sum() else math.nan,
    }
    if output is not None:
        output = Path(output)
        output.mkdir(parents=True, exist_ok=True)
        table.to_csv(output / "per_note.csv", index=False)
        (output / "metrics.json").write_text(json.dumps(overall, indent=2) + "\n")
    shown = ["precision", "recall", "f1", "mae_hours", "median_ae_hours", "sign_agreement", "order_concordance"]
    announce("evaluate: " + ", ".join(f"{k}={overall[k]:.3f}" for k in shown)
             + f" over {overall['notes']} notes ({overall['matched']}/{overall['reference']} reference events matched"
             + f", {len(overall['missing_predictions'])} notes without predictions)")
    return {"overall": overall, "per_note": table.to_dict("records")}
