"""The embedded demo corpus: synthetic MIMIC-IV-style discharge summaries and their event tables, consistent.

Each admission follows a clinical scenario with real temporal structure — chronic history years before admission,
symptoms days before, findings at admission (0 h), treatments after, complications on later hospital days,
discharge last — written as a discharge summary whose text contains every event verbatim with a relative time
phrase, and as the event table an annotator should extract from it. A few percent of events are the noise the
22MCTS release has (sex letters, bare numbers, events holding a duration, ``-`` times) so normalization has work.
Deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cts.data import demo_bank as bank
from cts.data.demo_admissions import write_demo_admissions
from cts.data.event_table import format_hours, read_event_table, write_event_table
from cts.data.normalize import normalize_events
from cts.data.notes import NOTE_COLUMNS, write_notes_csv
from cts.data.splits import make_splits, write_splits
from cts.data.time_bins import time_bin
from cts.io import atomic_path, output_set, write_json
from cts.progress import progress
from cts.utils import announce

HOURS_PER_DAY, HOURS_PER_WEEK, HOURS_PER_YEAR = 24, 168, 8760
DEMO_MARKER = "demo.json"  # the generator's summary; marks a folder as the synthetic demo (cards say so)


def demo_of_task_dir(data_dir: str | Path) -> Path | None:
    """The demo corpus a task dataset (``<demo>/tasks/<task>``) was built from, or None when it is not the demo."""
    demo = Path(data_dir).parent.parent
    return demo if (demo / DEMO_MARKER).is_file() else None


@dataclass
class Admission:
    """One synthetic stay: note sections being written and the events (text, hours or None for ``-``)."""

    rng: np.random.Generator
    sex: str
    age: int
    scenario: dict
    events: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def she(self) -> str:
        return "She" if self.sex == "F" else "He"

    @property
    def her(self) -> str:
        return "her" if self.sex == "F" else "his"

    def pick(self, pool, low: int, high: int) -> list[str]:
        count = int(self.rng.integers(low, min(high, len(pool)) + 1))
        return [pool[i] for i in self.rng.choice(len(pool), size=count, replace=False)]

    def add(self, event: str, hours: float | None) -> str:
        self.events.append((event, hours))
        return event


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _for_sex(pool: list[str], sex: str) -> list[str]:
    return [item for item in pool if item not in bank.SEX_SPECIFIC.get("M" if sex == "F" else "F", ())]


def _history(adm: Admission) -> tuple[str, list[str]]:
    parts, pmh = [], []
    for condition in adm.pick(_for_sex(bank.CHRONIC_CONDITIONS, adm.sex), 2, 5):
        years = int(adm.rng.integers(1, 25))
        adm.add(condition, -years * HOURS_PER_YEAR)
        parts.append(f"{condition} (diagnosed {_count(years, 'year')} ago)")
        pmh.append(condition)
    if adm.rng.random() < 0.5:
        procedure = adm.pick(_for_sex(bank.PRIOR_PROCEDURES, adm.sex), 1, 1)[0]
        years = int(adm.rng.integers(1, 15))
        adm.add(procedure, -years * HOURS_PER_YEAR)
        parts.append(f"status post {procedure} {_count(years, 'year')} ago")
        pmh.append(f"s/p {procedure}")
    return _join(parts), pmh


def _presentation(adm: Admission) -> list[str]:
    symptoms = adm.pick(adm.scenario["symptoms"], 2, 5)
    sentences = []
    first = symptoms[:2]
    days = int(adm.rng.integers(1, 8))
    for symptom in first:
        adm.add(symptom, -days * HOURS_PER_DAY)
    sentences.append(f"{adm.she} reports {_join(first)} beginning {_count(days, 'day')} prior to admission.")
    for symptom in symptoms[2:]:
        form = adm.rng.integers(3)
        if form == 0:
            hours = int(adm.rng.integers(2, 23))
            adm.add(symptom, -hours)
            sentences.append(f"{adm.she} developed {symptom} {hours} hours before admission.")
        elif form == 1:
            weeks = int(adm.rng.integers(1, 4))
            adm.add(symptom, -weeks * HOURS_PER_WEEK)
            phrase = f"{symptom} for the past {_count(weeks, 'week')}"
            sentences.append(f"{adm.she} also notes {phrase}.")
            if adm.rng.random() < 0.3:  # the LLM kept the duration inside the event: normalization drops it
                adm.add(phrase, -weeks * HOURS_PER_WEEK)
        else:
            adm.add(symptom, 0.0)
            sentences.append(f"On the morning of admission {adm.she.lower()} developed {symptom}.")
    return sentences


def _admission_findings(adm: Admission) -> tuple[str, str]:
    findings = adm.pick(adm.scenario["findings"], 3, 5)
    for finding in findings:
        adm.add(finding, 0.0)
    ed = adm.pick(adm.scenario["early_treatments"], 2, 3)
    for treatment in ed:
        adm.add(treatment, 0.0)
    return (f"In the ED, {adm.she.lower()} was found to have {_join(findings)}.",
            f"{adm.she} received {_join(ed)} in the ED.")


def _hospital_course(adm: Admission, los_days: int) -> list[str]:
    course = []
    ed_given = {event for event, hours in adm.events if hours == 0.0}
    remaining = [t for t in adm.scenario["early_treatments"] if t not in ed_given]
    for treatment in adm.pick(remaining, 1, 2) if remaining else []:
        hours = int(adm.rng.integers(1, 20))
        adm.add(treatment, hours)
        course.append(f"{adm.she} was started on {treatment} {hours} hours after admission.")
    days = sorted(int(d) for d in adm.rng.integers(2, los_days, size=4))
    later = adm.pick(adm.scenario["later_treatments"], 2, 4)
    for day, treatment in zip(days, later):
        adm.add(treatment, (day - 1) * HOURS_PER_DAY)
        course.append(f"On hospital day {day}, {adm.her} care included {treatment}.")
    for complication in adm.pick(adm.scenario["complications"], 0, 2):
        day = int(adm.rng.integers(2, los_days))
        adm.add(complication, (day - 1) * HOURS_PER_DAY)
        course.append(f"The course was complicated by {complication} on hospital day {day}.")
    if adm.rng.random() < 0.5:
        procedure = adm.pick(adm.scenario["procedures"], 1, 1)[0]
        day = int(adm.rng.integers(2, los_days))
        adm.add(procedure, (day - 1) * HOURS_PER_DAY)
        course.append(f"{adm.she} underwent {procedure} on hospital day {day}.")
    if adm.rng.random() < 0.3:  # a recurring symptom: normalization keeps its earliest time
        symptom = next((e for e, h in adm.events if h is not None and h < 0 and e in adm.scenario["symptoms"]), None)
        if symptom:
            day = int(adm.rng.integers(2, los_days))
            adm.add(symptom, (day - 1) * HOURS_PER_DAY)
            course.append(f"{adm.she} had recurrent {symptom} on hospital day {day}, which resolved.")
    return course


def _labs(adm: Admission) -> tuple[str, str]:
    wbc = round(float(adm.rng.uniform(4.0, 22.0)), 1)
    hgb = round(float(adm.rng.uniform(7.0, 15.5)), 1)
    heart_rate = int(adm.rng.integers(62, 128))
    if adm.rng.random() < 0.25:  # a bare number extracted as an event
        adm.add(str(heart_rate), 0.0)
    vitals = (f"VS: T {adm.rng.uniform(36.4, 39.4):.1f} BP {int(adm.rng.integers(88, 170))}/"
              f"{int(adm.rng.integers(48, 98))} HR {heart_rate} RR {int(adm.rng.integers(14, 30))} "
              f"O2 sat {int(adm.rng.integers(86, 100))}% RA")
    labs = (f"___ 07:{int(adm.rng.integers(10, 59))}AM BLOOD WBC-{wbc} RBC-{adm.rng.uniform(3.0, 5.2):.2f} "
            f"Hgb-{hgb} Hct-{hgb * 3:.1f} Plt Ct-{int(adm.rng.integers(110, 420))}\n"
            f"___ 07:{int(adm.rng.integers(10, 59))}AM BLOOD Glucose-{int(adm.rng.integers(80, 420))} "
            f"UreaN-{int(adm.rng.integers(8, 60))} Creat-{adm.rng.uniform(0.6, 3.4):.1f} "
            f"Na-{int(adm.rng.integers(128, 146))} "
            f"K-{adm.rng.uniform(3.1, 5.6):.1f}")
    return vitals, labs


def _note(adm: Admission, los_days: int) -> str:
    history, pmh = _history(adm)
    title = "Ms." if adm.sex == "F" else "Mr."
    intro = (f"{title} ___ is a {adm.age} yo {adm.sex} with a history of {history} "
             f"who presents with {adm.scenario['complaint']}.")
    if adm.rng.random() < 0.3:  # the sex letter and the age phrase, extracted as events by a literal annotator
        adm.add(adm.sex, 0.0)
        adm.add(f"{adm.age} yo", 0.0)
    presentation = _presentation(adm)
    findings, ed = _admission_findings(adm)
    vitals, labs = _labs(adm)
    course = _hospital_course(adm, los_days)
    family = ""
    if adm.rng.random() < 0.2:  # no time given in the note: the release writes "-"
        relative = adm.pick(["mother", "father", "brother", "sister"], 1, 1)[0]
        event = adm.add(f"family history of {adm.pick(bank.CHRONIC_CONDITIONS, 1, 1)[0]}", None)
        family = f"Notable for {event} in {adm.her} {relative}."
    disposition = adm.pick(bank.DISPOSITIONS, 1, 1)[0]
    adm.add(disposition, (los_days - 1) * HOURS_PER_DAY)
    home_meds = adm.pick(bank.HOME_MEDICATIONS, 2, 6)
    procedures = [e for e, _ in adm.events if e in adm.scenario["procedures"]]
    sections = [
        ("", f"Name:  ___                     Unit No:   ___\n \nAdmission Date:  ___              "
             f"Discharge Date:   ___\n \nDate of Birth:  ___             Sex:   {adm.sex}\n \n"
             f"Service: {adm.scenario['service']}\n \nAllergies: \nNo Known Allergies / Adverse Drug Reactions\n \n"
             "Attending: ___."),
        ("Chief Complaint", adm.scenario["complaint"]),
        ("Major Surgical or Invasive Procedure", "\n".join(procedures) if procedures else "None"),
        ("History of Present Illness", " ".join([intro, *presentation, findings, ed])),
        ("Past Medical History", "\n".join(f"- {item}" for item in pmh)),
        ("Social History", "___"),
        ("Family History", family or "Noncontributory."),
        ("Physical Exam", f"ADMISSION PHYSICAL EXAM:\n{vitals}\nGENERAL: ill-appearing, in mild distress"),
        ("Pertinent Results", f"ADMISSION LABS:\n{labs}"),
        ("Brief Hospital Course", f"{title} ___ was admitted with {adm.scenario['name']}. " + " ".join(course)
         + f" {adm.she} was {disposition} on hospital day {los_days}."),
        ("Medications on Admission", "\n".join(f"{i}. {m}" for i, m in enumerate(home_meds, 1))),
        ("Discharge Disposition", disposition.replace("discharged ", "").capitalize()),
        ("Discharge Diagnosis", adm.scenario["diagnosis"]),
        ("Discharge Condition", adm.rng.choice(bank.DISCHARGE_CONDITIONS)),
        ("Discharge Instructions", f"Dear {title} ___,\nIt was a pleasure caring for you at ___."),
        ("Followup Instructions", "___"),
    ]
    return " \n" + "\n \n".join(f"{head}:\n{body}" if head else body for head, body in sections) + "\n"


def generate_corpus(n_admissions: int = 500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notes (MIMIC-IV-Note discharge layout) and events (``time`` NaN where the release would say ``-``)."""
    rng = np.random.default_rng(seed)
    hadm_ids = np.sort(rng.choice(np.arange(20_000_000, 30_000_000), size=n_admissions, replace=False))
    n_subjects = max(1, int(n_admissions * 0.85))
    subject_pool = np.sort(rng.choice(np.arange(10_000_000, 20_000_000), size=n_subjects, replace=False))
    subjects = np.concatenate([subject_pool, rng.choice(subject_pool, size=n_admissions - n_subjects)])
    rng.shuffle(subjects)
    notes, events = [], []
    seq_per_subject: dict[int, int] = {}
    bar = progress(n_admissions, "demo notes", "note")
    for hadm_id, subject_id in zip(hadm_ids.tolist(), subjects.tolist()):
        adm = Admission(rng=rng, sex=str(rng.choice(["F", "M"])), age=int(rng.integers(28, 90)),
                        scenario=bank.SCENARIOS[int(rng.integers(len(bank.SCENARIOS)))])
        los_days = int(rng.integers(4, 11))
        text = _note(adm, los_days)
        seq = seq_per_subject[subject_id] = seq_per_subject.get(subject_id, 0) + 1
        admit = pd.Timestamp("2150-01-01") + pd.Timedelta(days=int(rng.integers(0, 3650)))
        discharge = admit + pd.Timedelta(days=los_days - 1, hours=int(rng.integers(9, 17)))
        notes.append((f"{subject_id}-DS-{seq}", subject_id, hadm_id, "DS", seq, discharge,
                      discharge + pd.Timedelta(hours=int(rng.integers(1, 30))), text))
        for event, hours in adm.events:
            assert event in text, event  # the corpus promise: every event is in its note
            events.append((hadm_id, event, np.nan if hours is None else float(hours), subject_id, notes[-1][0]))
        bar.update()
    bar.close()
    note_frame = pd.DataFrame(notes, columns=NOTE_COLUMNS)
    event_frame = pd.DataFrame(events, columns=["hadm_id", "event", "time", "subject_id", "note_id"])
    return note_frame, event_frame


def _write_released_csv(events: pd.DataFrame, path: Path) -> None:
    """The release's CSV, ``-`` where the time is unknown (our writer is for clean tables only)."""
    hours = events["time"].to_numpy()
    known = ~np.isnan(hours)
    time_text = np.asarray(format_hours(np.where(known, hours, 0.0)).to_pylist(), dtype=object)
    time_text[~known] = "-"
    bins = time_bin(np.where(known, hours, 0.0)).astype(object)
    bins[~known] = "-"
    frame = pd.DataFrame({"Hadm_id": events["hadm_id"], "Event": events["event"], "Time": time_text, "Time_bin": bins})
    with atomic_path(path) as temp:
        frame.to_csv(temp, index=False, lineterminator="\n")


def generate_demo(out_dir: str | Path, n_admissions: int = 500, seed: int = 0, split_ratios=(0.8, 0.1, 0.1)) -> dict:
    """Write notes.csv.gz, clinical_event_timestamp.csv, events.parquet, events_normalized.parquet, splits.parquet,
    admissions.csv.gz and labels/<outcome>.parquet."""
    out_dir = Path(out_dir)
    with output_set(out_dir, last=[DEMO_MARKER]) as staged:  # a regenerated corpus replaces the old one whole
        notes, raw_events = generate_corpus(n_admissions, seed)
        write_notes_csv(notes, staged / "notes.csv.gz")
        _write_released_csv(raw_events, staged / "clinical_event_timestamp.csv")
        events = read_event_table(staged / "clinical_event_timestamp.csv", report_path=staged / "read_report.json")
        ids = raw_events.drop_duplicates("hadm_id").set_index("hadm_id")
        events["subject_id"] = ids.loc[events["hadm_id"], "subject_id"].to_numpy()
        events["note_id"] = ids.loc[events["hadm_id"], "note_id"].to_numpy()
        write_event_table(events, staged / "events.parquet")
        normalized, counts = normalize_events(events)
        write_event_table(normalized, staged / "events_normalized.parquet")
        write_splits(make_splits(events, split_ratios, seed), staged / "splits.parquet")
        outcomes = write_demo_admissions(staged, normalized, seed)  # admissions.csv.gz + labels/ (task=risk)
        summary = {"admissions": n_admissions, "outcomes": outcomes, "notes": len(notes), "events": len(events),
                   "events_normalized": len(normalized), "normalization": counts, "out_dir": str(out_dir)}
        write_json(staged / DEMO_MARKER, {key: value for key, value in summary.items() if key != "out_dir"})
    announce(f"demo corpus: {n_admissions} admissions, {len(events):,} events "
          f"({len(normalized):,} after normalization) → {out_dir}")
    return summary
