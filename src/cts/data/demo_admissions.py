"""The demo's ``admissions.csv.gz`` (MIMIC-IV ``hosp`` layout) and its outcome labels, so task=risk is learnable.

Outcomes are drawn from a noisy risk of what each admission's events show up to 24 h after admission: acute
findings and treatments, chronic burden, how many days symptoms ran before admission and how late first-day
treatment started — several events and their times, never one event name, plus Bernoulli noise, so a good model
lands well above chance and well below 1. Deaths happen only in a patient's last admission; readmissions are extra
admissions (no events, as MIMIC-IV has admissions without discharge notes) 1–29 days after discharge; other
admissions of a patient lie 120+ days apart. The notes and event tables are left as they were (every other demo
number stays put), so these admission dates and stay lengths are a separate synthetic layer, not the notes'
hospital-day narrative. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from cts.data import demo_bank as bank
from cts.data.admissions import read_admissions
from cts.data.labels import OUTCOMES, derive_outcome, write_labels
from cts.io import write_bytes

HORIZON_HOURS = 24.0
COLUMNS = ["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type", "admit_provider_id",
           "admission_location", "discharge_location", "insurance", "language", "marital_status", "race",
           "edregtime", "edouttime", "hospital_expire_flag"]
ACUTE = {"hypotension", "elevated lactate", "norepinephrine", "hypoxia", "hypercapnia", "BiPAP", "confusion",
         "altered mental status", "respiratory acidosis", "elevated troponin", "anion gap metabolic acidosis",
         "packed red blood cell transfusion", "orthostatic hypotension", "alteplase", "aphasia", "tachycardia",
         "elevated BUN", "Kussmaul respirations", "right hemiparesis", "jugular venous distension", "hematemesis"}
SEVERE_CHRONIC = {"cirrhosis", "chronic kidney disease", "COPD", "coronary artery disease", "prior stroke",
                  "peripheral arterial disease", "atrial fibrillation"}
_TIME = "%Y-%m-%d %H:%M:%S"


def admission_features(events: pd.DataFrame, horizon_hours: float = HORIZON_HOURS) -> pd.DataFrame:
    """Per admission, from events up to the horizon: acute events, chronic conditions (and severe ones), days of
    symptoms before admission, hours until the first treatment after admission."""
    seen = events[events["time"].to_numpy() <= horizon_hours]
    name = seen["event"].astype(str)
    time = seen["time"]
    chronic = name.isin(bank.CHRONIC_CONDITIONS) & (time < -24 * 30)
    onset = time.where((time < 0) & (time >= -24 * 30))
    started = time.where(time > 0)
    per = pd.DataFrame({"hadm_id": seen["hadm_id"], "acute": name.isin(ACUTE), "chronic": chronic,
                        "severe": chronic & name.isin(SEVERE_CHRONIC), "onset_days": -onset / 24,
                        "treat_hours": started})
    grouped = per.groupby("hadm_id", sort=True)
    out = grouped[["acute", "chronic", "severe"]].sum().astype(float)
    out["onset_days"] = grouped["onset_days"].max().fillna(0.0)
    out["treat_hours"] = grouped["treat_hours"].min().fillna(0.0)
    return out


def outcome_logits(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Log-odds of each outcome: a weighted sum of features centred and scaled by their typical demo values, so each
    outcome has a prevalence of about 25–40 % and no feature alone decides it."""
    z = {"acute": (features["acute"] - 1.7) / 1.4, "chronic": (features["chronic"] - 3.5) / 1.1,
         "severe": features["severe"] - 1.3, "onset": (features["onset_days"] - 8.0) / 6.5,
         "treat": (features["treat_hours"] - 8.6) / 5.2}
    z = {k: v.to_numpy() for k, v in z.items()}
    return {
        "mortality": -1.3 + 1.4 * z["acute"] + 1.0 * z["severe"] + 0.85 * z["onset"] + 0.55 * z["treat"],
        "los7": -0.6 + 1.3 * z["acute"] + 0.8 * z["chronic"] + 0.9 * z["treat"],
        "readmission30": -1.0 + 1.0 * z["chronic"] + 0.8 * z["severe"] + 0.9 * z["onset"] + 0.5 * z["acute"],
    }


def generate_admissions(events: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One MIMIC-IV admissions row per demo admission (``events`` must carry ``subject_id``) plus the readmissions."""
    rng = np.random.default_rng([seed, 0x5A1])
    features = admission_features(events)
    subject = events.drop_duplicates("hadm_id").set_index("hadm_id")["subject_id"].reindex(features.index)
    draw = {name: rng.random(len(features)) < 1 / (1 + np.exp(-logit))
            for name, logit in outcome_logits(features).items()}
    frame = pd.DataFrame({"hadm_id": features.index.to_numpy(np.int64), "subject_id": subject.to_numpy(np.int64),
                          "order": rng.random(len(features)), **{k: v for k, v in draw.items()}})
    # a patient dies in at most one admission, the last: order the dying admission last, keep one death
    frame = frame.sort_values(["subject_id", "mortality", "order"], kind="stable").reset_index(drop=True)
    last = ~frame["subject_id"].duplicated(keep="last")
    frame["mortality"] &= last
    rows, next_id = [], int(events["hadm_id"].max()) + 1
    start = {}
    for row in frame.itertuples(index=False):
        admit = start.get(row.subject_id)
        if admit is None:
            admit = pd.Timestamp("2150-01-01") + pd.Timedelta(days=int(rng.integers(0, 3650)))
        admit += pd.Timedelta(hours=int(rng.integers(0, 24)), minutes=int(rng.integers(0, 60)))
        stay = (pd.Timedelta(days=7, hours=int(rng.integers(2, 24 * 12))) if row.los7 else
                pd.Timedelta(hours=int(rng.integers(26, 24 * 7 - 1))))
        discharge = admit + stay
        rows.append(_row(rng, row.subject_id, row.hadm_id, admit, discharge, died=bool(row.mortality)))
        resume = discharge
        if row.readmission30 and not row.mortality:
            again = discharge + pd.Timedelta(days=int(rng.integers(1, 29)), hours=int(rng.integers(0, 24)))
            out = again + pd.Timedelta(hours=int(rng.integers(26, 24 * 6)))
            rows.append(_row(rng, row.subject_id, next_id, again, out, died=False))
            next_id, resume = next_id + 1, out
        start[row.subject_id] = resume + pd.Timedelta(days=int(rng.integers(120, 900)))
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["subject_id", "admittime"]).reset_index(drop=True)


def _row(rng, subject_id: int, hadm_id: int, admit: pd.Timestamp, discharge: pd.Timestamp, died: bool) -> list:
    ed_in = admit - pd.Timedelta(hours=int(rng.integers(2, 9)))
    home = str(rng.choice(["HOME", "HOME HEALTH CARE", "SKILLED NURSING FACILITY", "REHAB"]))
    return [subject_id, hadm_id, admit.strftime(_TIME), discharge.strftime(_TIME),
            discharge.strftime(_TIME) if died else "", "EW EMER.", f"P{int(rng.integers(10000, 99999))}",
            "EMERGENCY ROOM", "DIED" if died else home, str(rng.choice(["Medicare", "Medicaid", "Other"])),
            "ENGLISH", str(rng.choice(["MARRIED", "SINGLE", "WIDOWED", "DIVORCED"])),
            str(rng.choice(["WHITE", "BLACK/AFRICAN AMERICAN", "HISPANIC/LATINO", "ASIAN", "OTHER"])),
            ed_in.strftime(_TIME), admit.strftime(_TIME), int(died)]


def write_demo_admissions(out_dir: str | Path, events: pd.DataFrame, seed: int = 0) -> dict:
    """``admissions.csv.gz`` beside the demo corpus and ``labels/<outcome>.parquet`` derived from it (as
    ``preprocess.py stage=labels`` would) for every outcome; returns the positives per outcome."""
    out_dir = Path(out_dir)
    buffer = io.StringIO()
    generate_admissions(events, seed).to_csv(buffer, index=False, lineterminator="\n")
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(buffer.getvalue().encode("utf-8"))
    path = write_bytes(out_dir / "admissions.csv.gz", raw.getvalue())
    admissions = read_admissions(path, columns=("admittime", "dischtime", "hospital_expire_flag"))
    positives = {}
    for outcome in OUTCOMES:
        labels, counts = derive_outcome(admissions, outcome, source=str(path))
        write_labels(labels, out_dir / "labels" / f"{outcome}.parquet")
        positives[outcome] = f"{counts['positive']}/{counts['labelled']}"
    return positives
