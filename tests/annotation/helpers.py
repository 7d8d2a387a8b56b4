"""Small deterministic notes for the annotation tests (plain helpers; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[2]
SENTENCES = [
    "Fever and rash began two days before admission", "Chest pain resolved on day three",
    "Ceftriaxone was started at admission", "Metoprolol was discontinued", "No shortness of breath",
    "Blood cultures grew E coli", "Creatinine peaked on day two", "Discharged home on day five",
]


def write_notes(folder, count: int, first_id: int = 100, sentences: int = 4):
    """``<hadm_id>.txt`` notes of a few deterministic sentences each."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        picks = [SENTENCES[(k + i) % len(SENTENCES)] for i in range(sentences)]
        (folder / f"{first_id + k}.txt").write_text(". ".join(picks) + ".\n")
    return folder
