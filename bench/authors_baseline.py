"""The authors' way of doing it, kept as the benchmark baseline and as an independent reference in tests.

pandas per-row ``apply`` with Python ``re``, ``groupby`` per admission, ``iloc`` windows and Python loops — the
straightforward code the released scripts use. Only the regex text is shared with ``cts.data.normalize``.
"""

from __future__ import annotations

import random
import re

import pandas as pd

from cts.data.normalize import GENDER_EVENTS, NUMBER, ONLY_YEARS, TIME_EXPRESSION


def read_release(path, nrows: int | None = None) -> pd.DataFrame:
    frame = pd.read_csv(path, nrows=nrows)
    frame["Time"] = pd.to_numeric(frame["Time"], errors="coerce")  # we sort numbers, not text
    return frame.dropna(subset=["Time"])


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    number, time_expression, only_years = (re.compile(NUMBER), re.compile(TIME_EXPRESSION, re.I),
                                           re.compile(ONLY_YEARS, re.I))
    frame = frame[~frame["Event"].isin(GENDER_EVENTS)]
    frame = frame[~frame["Event"].astype(str).apply(lambda e: number.search(e) is not None)]
    frame = frame[~frame["Event"].astype(str).apply(
        lambda e: time_expression.search(e) is not None or only_years.search(e) is not None)]
    return frame.sort_values("Time", kind="stable").drop_duplicates(["Hadm_id", "Event"], keep="first")


def forecast_windows(frame: pd.DataFrame, window: int = 11, per_admission: int = 10, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for hadm_id, group in frame.groupby("Hadm_id"):
        group = group.sort_values("Time", kind="stable")
        starts = list(range(len(group) - window + 1))
        for start in rng.sample(starts, min(per_admission, len(starts))):
            chunk = group.iloc[start:start + window]
            held_out = rng.randrange(window)
            entries = [f"{t:g}:{e}" for t, e in zip(chunk["Time"], chunk["Event"])]
            hypothesis = entries.pop(held_out)
            rows.append({"hadm_id": hadm_id, "observation": "\n".join(entries), "hypothesis": hypothesis})
    return list({(r["hadm_id"], r["observation"], r["hypothesis"]): r for r in rows}.values())


def relation_pairs(frame: pd.DataFrame) -> list[dict]:
    rows = []
    for hadm_id, group in frame.groupby("Hadm_id"):
        group = group.sort_values("Time", kind="stable")
        for i in range(len(group) - 1):
            a, b = group.iloc[i], group.iloc[i + 1]
            label = 0 if a["Time"] == b["Time"] else (1 if b["Time"] > a["Time"] else 2)
            rows.append({"hadm_id": hadm_id, "event_a": a["Event"], "event_b": b["Event"], "label": label})
    return rows
