"""PubMedQA PQA-L in its published format: ``ori_pqal.json`` (PMID → QUESTION, CONTEXTS, final_decision) and the
split file ``pqal_splits.json`` (``test``: the official 500 PMIDs; ``cv_folds``: 10 lists of 50 PMIDs).

Fold ``k`` of the published protocol: validate on ``cv_folds[k]``, train on the other nine folds (450 items), test on
the 500-item test set, which is never trained or validated on. Malformed JSON, a missing field or an answer
outside yes/no/maybe is an error naming the file, the PMID and the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

LABELS = ("yes", "no", "maybe")


class PubMedQAError(ValueError):
    """A PubMedQA file that cannot be read as published; the message names the file, the PMID and the field."""


def _read_json(path: str | Path):
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PubMedQAError(f"{path}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}") \
            from None


def read_pqal(path: str | Path) -> pd.DataFrame:
    """One row per item: ``pmid`` (str), ``question``, ``context`` (the CONTEXTS joined by spaces), ``label`` (id in
    ``LABELS``), ``label_name``."""
    items = _read_json(path)
    if not isinstance(items, dict):
        raise PubMedQAError(f"{path}: expected an object of PMID → item, got {type(items).__name__}")
    rows = []
    for pmid, item in items.items():
        where = f"{path}: PMID {pmid}"
        if not isinstance(item, dict):
            raise PubMedQAError(f"{where}: expected an object with QUESTION, CONTEXTS, final_decision")
        for field, kind in (("QUESTION", str), ("CONTEXTS", list), ("final_decision", str)):
            if not isinstance(item.get(field), kind):
                raise PubMedQAError(f"{where}, field {field!r}: missing or not a {kind.__name__}")
        if item["final_decision"] not in LABELS:
            raise PubMedQAError(f"{where}, field 'final_decision': unknown label {item['final_decision']!r} "
                                f"(expected one of {', '.join(LABELS)})")
        rows.append({"pmid": str(pmid), "question": item["QUESTION"],
                     "context": " ".join(str(c) for c in item["CONTEXTS"]),
                     "label": LABELS.index(item["final_decision"]), "label_name": item["final_decision"]})
    if not rows:
        raise PubMedQAError(f"{path}: no items")
    return pd.DataFrame(rows)


def read_splits(path: str | Path) -> dict:
    """``{"test": [pmid…], "cv_folds": [[pmid…], …]}``, checked: folds disjoint, none overlaps the test set."""
    splits = _read_json(path)
    if not isinstance(splits, dict) or not isinstance(splits.get("test"), list) or \
            not isinstance(splits.get("cv_folds"), list) or not splits["cv_folds"]:
        raise PubMedQAError(f"{path}: expected {{\"test\": [PMID…], \"cv_folds\": [[PMID…], …]}}")
    seen = {str(p): "test" for p in splits["test"]}
    for k, fold in enumerate(splits["cv_folds"]):
        for pmid in map(str, fold):
            if pmid in seen:
                raise PubMedQAError(f"{path}: PMID {pmid} is in cv_folds[{k}] and in {seen[pmid]}: folds and the "
                                    "test set must be disjoint")
            seen[pmid] = f"cv_folds[{k}]"
    return {"test": [str(p) for p in splits["test"]], "cv_folds": [[str(p) for p in f] for f in splits["cv_folds"]]}


def fold_splits(items: pd.DataFrame, splits: dict, fold: int, source: str = "") -> dict[str, pd.DataFrame]:
    """train (the other folds), val (fold ``fold``), test (the test set) rows of ``items``."""
    folds = splits["cv_folds"]
    if not 0 <= int(fold) < len(folds):
        raise PubMedQAError(f"data.fold={fold}: the split file {source} has folds 0..{len(folds) - 1}")
    by_pmid = items.set_index("pmid", drop=False)
    wanted = {"train": [p for k, f in enumerate(folds) if k != int(fold) for p in f], "val": folds[int(fold)],
              "test": splits["test"]}
    out = {}
    for split, pmids in wanted.items():
        absent = [p for p in pmids if p not in by_pmid.index]
        if absent:
            raise PubMedQAError(f"{source}: {len(absent)} PMID(s) of the {split} split are not among the items "
                                f"(e.g. {absent[0]}): are the split file and ori_pqal.json from the same release?")
        out[split] = by_pmid.loc[pmids].reset_index(drop=True)
    return out
