"""Clinical content of the embedded demo corpus: scenarios, history, findings, treatments and complications.

The content is data, kept in ``demo_bank.yaml`` beside this module; every string is an event as it appears, verbatim,
in the generated note. Written for this project (synthetic; no patient data).
"""

from pathlib import Path

import yaml

_BANK = yaml.safe_load(Path(__file__).with_name("demo_bank.yaml").read_text(encoding="utf-8"))

CHRONIC_CONDITIONS: list[str] = _BANK["chronic_conditions"]
SEX_SPECIFIC: dict[str, list[str]] = _BANK["sex_specific"]  # conditions and procedures of one sex only
PRIOR_PROCEDURES: list[str] = _BANK["prior_procedures"]
HOME_MEDICATIONS: list[str] = _BANK["home_medications"]
SCENARIOS: list[dict] = _BANK["scenarios"]  # name, complaint, symptoms, findings, treatments, …, diagnosis, service
DISPOSITIONS: list[str] = _BANK["dispositions"]
DISCHARGE_CONDITIONS: list[str] = _BANK["discharge_conditions"]
