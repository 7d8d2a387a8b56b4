"""The PubMedQA loader on the vendored fixture (and on ../shared/data when present): round trip, fold arithmetic,
bad input named by file, PMID and field."""

import json
from pathlib import Path

import pytest

from cts.tasks.pubmedqa.load import LABELS, PubMedQAError, fold_splits, read_pqal, read_splits
from tests.shared_data import SHARED_DATA

PUBMEDQA = Path(__file__).resolve().parents[2] / "fixtures" / "pubmedqa"
SHARED = SHARED_DATA


def test_pubmedqa_round_trip_and_fold_arithmetic():
    items = read_pqal(PUBMEDQA / "ori_pqal.json")
    raw = json.loads((PUBMEDQA / "ori_pqal.json").read_text())
    assert len(items) == len(raw) == 36 and set(items["label_name"]) == set(LABELS)
    first = items.iloc[0]
    assert first["question"] == raw[first["pmid"]]["QUESTION"]
    assert first["context"] == " ".join(raw[first["pmid"]]["CONTEXTS"])
    splits = read_splits(PUBMEDQA / "pqal_splits.json")
    vals = []
    for fold in range(10):
        parts = fold_splits(items, splits, fold)
        train, val, test = (set(parts[s]["pmid"]) for s in ("train", "val", "test"))
        assert test == set(splits["test"]) and not test & (train | val)  # never train or validate on test items
        assert not train & val and val == set(splits["cv_folds"][fold])
        assert len(train) == 27 and len(val) == 3  # the other nine folds / this fold
        vals.append(val)
    assert set().union(*vals) == {p for fold in splits["cv_folds"] for p in fold}  # every CV item validated once
    assert sum(map(len, vals)) == 30  # folds disjoint


def test_pubmedqa_bad_input_names_file_pmid_and_field(tmp_path):
    broken = tmp_path / "ori_pqal.json"
    broken.write_text('{"1": {"QUESTION": "q",\n "CONTEXTS": [}')
    with pytest.raises(PubMedQAError, match=r"ori_pqal.json: not valid JSON at line 2"):
        read_pqal(broken)
    broken.write_text(json.dumps({"7": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "probably"}}))
    with pytest.raises(PubMedQAError, match=r"PMID 7, field 'final_decision': unknown label 'probably'"):
        read_pqal(broken)
    broken.write_text(json.dumps({"7": {"QUESTION": "q", "final_decision": "yes"}}))
    with pytest.raises(PubMedQAError, match=r"PMID 7, field 'CONTEXTS': missing"):
        read_pqal(broken)
    overlap = tmp_path / "splits.json"
    overlap.write_text(json.dumps({"test": ["1"], "cv_folds": [["2"], ["1"]]}))
    with pytest.raises(PubMedQAError, match=r"PMID 1 is in cv_folds\[1\] and in test"):
        read_splits(overlap)
    items = read_pqal(PUBMEDQA / "ori_pqal.json")
    with pytest.raises(PubMedQAError, match=r"data.fold=10: .* has folds 0..9"):
        fold_splits(items, read_splits(PUBMEDQA / "pqal_splits.json"), 10)


@pytest.mark.skipif(not (SHARED / "pubmedqa").is_dir(), reason="../shared/data/pubmedqa not present")
def test_published_pqal_protocol():
    items = read_pqal(SHARED / "pubmedqa" / "ori_pqal.json")
    splits = read_splits(SHARED / "pubmedqa" / "pqal_splits.json")
    assert len(items) == 1000 and items["label_name"].value_counts().to_dict() == {"yes": 552, "no": 338, "maybe": 110}
    parts = fold_splits(items, splits, 4)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [450, 50, 500]
    truth = json.loads((SHARED / "pubmedqa" / "test_ground_truth.json").read_text())
    assert dict(zip(parts["test"]["pmid"], parts["test"]["label_name"])) == truth
