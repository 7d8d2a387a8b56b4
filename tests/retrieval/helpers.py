"""Small hand-made MIMIC-style notes and a writer for the MIMIC-IV-Note CSV layout (plain helpers for the retrieval
tests and tests/data/test_notes.py; the fixtures are in conftest.py)."""

import csv
import gzip
from pathlib import Path

from cts.data.notes import MIMIC_COLUMNS

QUERIES = Path(__file__).resolve().parents[2] / "conf" / "preprocess" / "queries"

NOTE = """Name:  ___                 Unit No:   ___

Admission Date:  ___              Discharge Date:   ___

Chief Complaint:
chest pain

History of Present Illness:
Mr. ___ is a 60 yo M who presents with crushing chest pain and shortness of breath since the morning.
He was given aspirin and heparin in the ED. Troponin was elevated.

Discharge Instructions:
It was a pleasure taking care of you. Please keep all of your appointments and call with any questions.
"""


def note_text(i: int) -> str:
    """A distinct note per admission (the drug name varies, so notes differ)."""
    drug = ["metoprolol", "furosemide", "warfarin", "insulin", "vancomycin", "ceftriaxone"][i % 6]
    return NOTE.replace("heparin", drug)


def write_mimic(path: Path, rows: list[dict]) -> Path:
    """MIMIC-IV-Note discharge layout (gzip when the name ends in .gz); missing fields are empty."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MIMIC_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in MIMIC_COLUMNS})
    return path


def mimic_rows(n: int, first_hadm: int = 20000000) -> list[dict]:
    return [{"note_id": f"{i}-DS-1", "subject_id": 10000000 + i, "hadm_id": first_hadm + i,
             "note_type": "DS", "note_seq": 1, "text": note_text(i)} for i in range(n)]

