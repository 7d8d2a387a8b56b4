"""Clinical-trial matching data in its published formats.

- Topics: TrialGPT ``queries.jsonl`` (``{"_id", "text"}`` per line), the TREC/SIGIR ``<TOP><NUM>…</NUM><TITLE>…
  </TITLE></TOP>`` file, or TREC 2021/2022 ``<topic number="N">…</topic>``.
- Trials: TrialGPT corpus JSONL (``_id``, ``title``, ``text`` = summary + inclusion + exclusion criteria).
- Judgments: TrialGPT ``qrels`` TSV (``query-id corpus-id score`` with a header) or TREC qrels
  (``topic 0 trial grade``). Grades are 0, 1, 2.

Ids are kept as text, so topics and judgments must use the same spelling (TrialGPT: ``sigir-20141``; TREC: ``20141``).
A malformed line or an unknown grade is an error naming the file, the line and the field; judgments whose trial
has no text, judgments of unknown topics and topics left without a judged trial are counted skips (``SkipReport``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cts.hashing import fingerprint

GRADES = ("grade0", "grade1", "grade2")  # 0 not relevant; 1 partly (excluded / would consider); 2 eligible
_TOP = re.compile(r"<TOP>\s*<NUM>(.*?)</NUM>\s*<TITLE>(.*?)(?:</TITLE>\s*)?</TOP>", re.S | re.I)
_TOPIC = re.compile(r"<topic\s+number=\"([^\"]+)\"[^>]*>(.*?)</topic>", re.S | re.I)


class TrialsDataError(ValueError):
    """A trials file that cannot be read as published; the message names the file, the line and the field."""


@dataclass
class SkipReport:
    judgments: int = 0
    judgments_without_trial_text: int = 0
    judgments_without_topic: int = 0
    topics_without_judged_trials: int = 0
    trials_without_text: int = 0

    def line(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in asdict(self).items())


def _jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TrialsDataError(f"{path}: line {number}: not valid JSON ({error.msg}, column {error.colno})") \
                    from None
            if not isinstance(record, dict) or not isinstance(record.get("_id"), str) or not record["_id"]:
                raise TrialsDataError(f"{path}: line {number}, field '_id': missing or not a string")
            yield number, record


def read_topics(path: str | Path) -> dict[str, str]:
    """Topic id → patient description."""
    path = Path(path)
    topics: dict[str, str] = {}
    if path.suffix == ".jsonl":
        for number, record in _jsonl(path):
            if not isinstance(record.get("text"), str):
                raise TrialsDataError(f"{path}: line {number}, field 'text': missing or not a string")
            if record["_id"] in topics:
                raise TrialsDataError(f"{path}: line {number}: topic {record['_id']} appears twice")
            topics[record["_id"]] = record["text"].strip()
    else:
        text = path.read_text(encoding="utf-8")
        for number, body in _TOP.findall(text) or _TOPIC.findall(text):
            topics[number.strip()] = " ".join(body.split())
    if not topics:
        raise TrialsDataError(f"{path}: no topics found (expected queries.jsonl lines, <TOP><NUM>…</NUM><TITLE>… "
                              "or <topic number=…>)")
    return topics


def read_qrels(path: str | Path) -> pd.DataFrame:
    """``topic, trial, grade`` (one row per judged pair)."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields or (number == 1 and fields[0] == "query-id"):
                continue
            if len(fields) == 3:
                topic, trial, grade = fields
            elif len(fields) == 4:
                topic, _, trial, grade = fields
            else:
                raise TrialsDataError(f"{path}: line {number}: expected 'topic trial grade' (TSV) or 'topic 0 trial "
                                      f"grade' (TREC), got {len(fields)} fields")
            if grade not in ("0", "1", "2"):
                raise TrialsDataError(f"{path}: line {number}, field 'grade': unknown label {grade!r} (0, 1 or 2)")
            rows.append((topic, trial, int(grade), number))
    frame = pd.DataFrame(rows, columns=["topic", "trial", "grade", "line"])
    duplicated = frame.duplicated(["topic", "trial"], keep="first")
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise TrialsDataError(f"{path}: line {first['line']}: topic {first['topic']} and trial {first['trial']} are "
                              "judged twice")
    if frame.empty:
        raise TrialsDataError(f"{path}: no judgments")
    return frame.drop(columns="line")


def read_corpus(path: str | Path, report: SkipReport | None = None) -> dict[str, str]:
    """Trial id → ``title`` + text (summary and criteria); trials without text are counted in ``report``."""
    path = Path(path)
    trials: dict[str, str] = {}
    for number, record in _jsonl(path):
        body = " ".join(str(record.get(field) or "").strip() for field in ("title", "text")).strip()
        if not body:
            if report is not None:
                report.trials_without_text += 1
            continue
        if record["_id"] in trials:
            raise TrialsDataError(f"{path}: line {number}: trial {record['_id']} appears twice")
        trials[record["_id"]] = body
    if not trials:
        raise TrialsDataError(f"{path}: no trial with text")
    return trials


def judged_pairs(topics: dict[str, str], qrels: pd.DataFrame, trials: dict[str, str],
                 report: SkipReport) -> pd.DataFrame:
    """The judgments whose topic and trial both have text (the rest counted in ``report``)."""
    report.judgments = len(qrels)
    has_trial = qrels["trial"].isin(trials)
    has_topic = qrels["topic"].isin(topics)
    report.judgments_without_trial_text = int((~has_trial).sum())
    report.judgments_without_topic = int((has_trial & ~has_topic).sum())
    kept = qrels[has_trial & has_topic].reset_index(drop=True)
    report.topics_without_judged_trials = len(set(topics) - set(kept["topic"]))
    if kept.empty:
        raise TrialsDataError("no judgment has both a topic and a trial with text: do the topic ids of the topics "
                              "file and the qrels match (TrialGPT 'sigir-20141' vs TREC '20141')?")
    return kept


def topic_folds(topics, n_folds: int, seed: int) -> dict[str, int]:
    """Each topic's fold (0..n_folds-1): topics sorted by a seeded hash of their id, dealt round-robin, so folds
    differ in size by at most one and do not depend on file order."""
    ordered = sorted(topics, key=lambda t: fingerprint(seed, t))
    return {topic: i % n_folds for i, topic in enumerate(ordered)}


def split_topics(folds: dict[str, int], fold: int, n_folds: int) -> dict[str, str]:
    """Fold ``fold`` is test, the next one validation, the rest train: no topic is in two splits."""
    if n_folds < 3:
        raise TrialsDataError(f"data.n_folds={n_folds}: needs at least 3 (train, val and test topics)")
    if not 0 <= fold < n_folds:
        raise TrialsDataError(f"data.fold={fold}: must lie in 0..{n_folds - 1} (data.n_folds={n_folds})")
    role = {fold: "test", (fold + 1) % n_folds: "val"}
    return {topic: role.get(k, "train") for topic, k in folds.items()}


def candidate_pairs(pairs: pd.DataFrame, topics, trials: dict[str, str]) -> pd.DataFrame:
    """Every trial of the corpus for each of ``topics``: the judged grade, or 0 for an unjudged trial (the TREC
    convention for pooled judgments)."""
    grid = pd.MultiIndex.from_product([sorted(topics), sorted(trials)], names=["topic", "trial"]).to_frame(index=False)
    return grid.merge(pairs[["topic", "trial", "grade"]], on=["topic", "trial"], how="left").fillna(
        {"grade": 0}).astype({"grade": np.int64})
