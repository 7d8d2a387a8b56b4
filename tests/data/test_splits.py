"""Splits: deterministic from a seed, ratios respected per named split, disjoint, by subject, independent of row
order, and an explicit splits file always wins."""

import bisect
import logging
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cts.data.admissions import AdmissionsError
from cts.data.splits import (
    BY_ADMISSION_NOTE,
    SPLITS,
    assign_splits,
    attach_splits,
    make_splits,
    read_splits,
    splits_for,
    write_splits,
    write_splits_for_file,
)


def test_deterministic_and_ratio():
    ids = np.arange(20_000_000, 20_050_000)
    first, second = assign_splits(ids, seed=5), assign_splits(ids, seed=5)
    assert (first == second).all()
    shares = [(first == s).mean() for s in SPLITS]
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.01)
    assert (assign_splits(ids, seed=6) != first).any()
    custom = assign_splits(ids, ratios=(0.5, 0.25, 0.25), seed=5)
    assert (custom == "val").mean() == pytest.approx(0.25, abs=0.01)


def _splitmix64(value: int, seed: int) -> int:
    """splitmix64 in plain Python integers, written from the published algorithm (Steele et al. 2014)."""
    golden, mask = 0x9E3779B97F4A7C15, (1 << 64) - 1
    x = (value + seed * golden + golden) & mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


def test_splitmix_reference_matches_the_published_first_output():
    assert _splitmix64(0, 0) == 0xE220A8397B1DCDAF  # splitmix64 seeded with 0: its first output


@pytest.mark.parametrize("ratios", [(0.6, 0.3, 0.1), (0.7, 0.05, 0.25), (0.0, 0.5, 0.5)])
def test_each_named_split_gets_its_own_share(ratios):
    """Asymmetric ratios checked per split name, against an independent assignment: hash to [0, 1) by the top 53
    bits, then train below r_train, val below r_train + r_val, test above — so val and test can't be swapped."""
    ids = np.arange(10_000, 30_000)
    split = assign_splits(ids, ratios=ratios, seed=7)
    edges = [ratios[0], ratios[0] + ratios[1]]
    expected = [("train", "val", "test")[bisect.bisect_right(edges, (_splitmix64(int(i), 7) >> 11) / 2**53)]
                for i in ids]
    assert split.tolist() == expected
    for name, share in zip(("train", "val", "test"), ratios):
        assert (split == name).mean() == pytest.approx(share, abs=0.01), name


def test_make_splits_uses_its_seed_and_ratios_per_admission_or_patient():
    """Against the independent assignment: by admission id, or by subject id when the table has one."""
    def expected(ids, ratios, seed):
        edges = [ratios[0], ratios[0] + ratios[1]]
        return [SPLITS[bisect.bisect_right(edges, (_splitmix64(int(i), seed) >> 11) / 2**53)] for i in ids]

    events = pd.DataFrame({"hadm_id": [30, 10, 20, 10, 40, 50], "event": "x", "time": 0.0})
    by_admission = make_splits(events, ratios=(0.4, 0.3, 0.3), seed=11)
    assert by_admission["hadm_id"].tolist() == [10, 20, 30, 40, 50]
    assert by_admission["split"].astype(str).tolist() == expected([10, 20, 30, 40, 50], (0.4, 0.3, 0.3), 11)
    patients = events.assign(subject_id=[7, 5, 6, 5, 9, 8])
    by_patient = make_splits(patients, ratios=(0.4, 0.3, 0.3), seed=11)
    assert by_patient["split"].astype(str).tolist() == expected([5, 6, 7, 9, 8], (0.4, 0.3, 0.3), 11)
    assert list(make_splits(events.iloc[:1])["split"].cat.categories) == list(SPLITS)  # all three, even if unused


def test_independent_of_row_order_and_chunking():
    rng = np.random.default_rng(0)
    events = pd.DataFrame({"hadm_id": rng.integers(1, 500, 5000), "event": "x", "time": 0.0})
    whole = make_splits(events, seed=3).set_index("hadm_id")["split"]
    shuffled = make_splits(events.sample(frac=1, random_state=1), seed=3).set_index("hadm_id")["split"]
    chunk = make_splits(events.iloc[:1000], seed=3).set_index("hadm_id")["split"]
    assert whole.equals(shuffled.loc[whole.index])
    assert (chunk == whole.loc[chunk.index]).all()


def test_by_subject_no_patient_in_two_splits():
    events = pd.DataFrame({"hadm_id": np.arange(1000), "subject_id": np.arange(1000) // 3, "event": "x", "time": 0.0})
    splits = make_splits(events, seed=1)
    assert len(splits) == 1000 and splits["split"].nunique() == 3
    assert (splits.groupby("subject_id")["split"].nunique() == 1).all()


def test_bad_ratios_and_missing_admissions(tmp_path):
    with pytest.raises(ValueError, match="sum"):
        assign_splits(np.arange(3), ratios=(0.8, 0.3, 0.1))
    splits = pd.DataFrame({"hadm_id": [1, 2], "split": pd.Categorical(["train", "test"], categories=list(SPLITS))})
    with pytest.raises(ValueError, match="1 admission.*no split.*hadm_id \\[3\\]"):
        attach_splits(pd.DataFrame({"hadm_id": [1, 3]}), splits)
    pd.DataFrame({"hadm_id": [1], "split": ["dev"]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(ValueError, match="unknown split"):
        read_splits(tmp_path / "s.parquet")


def test_persisted_once_beside_the_input(tmp_path):
    events = pd.DataFrame({"hadm_id": np.arange(100), "event": "x", "time": 0.0})
    created = splits_for(events, tmp_path / "events.parquet", seed=1)
    assert (tmp_path / "splits.parquet").exists()
    write_splits(created.assign(split="test"), tmp_path / "splits.parquet")  # an edited file is reused, not recomputed
    assert (splits_for(events, tmp_path / "events.parquet", seed=1)["split"] == "test").all()


def test_an_explicit_splits_path_wins_over_the_file_beside_the_input(tmp_path):
    events = pd.DataFrame({"hadm_id": np.arange(10), "event": "x", "time": 0.0})
    write_splits(pd.DataFrame({"hadm_id": np.arange(10), "split": "test"}), tmp_path / "splits.parquet")
    chosen = tmp_path / "mine" / "chosen.parquet"
    write_splits(pd.DataFrame({"hadm_id": np.arange(10), "split": ["val"] * 5 + ["train"] * 5}), chosen)
    used = splits_for(events, tmp_path / "events.parquet", splits_path=chosen, seed=1)
    assert used["split"].tolist() == ["val"] * 5 + ["train"] * 5
    fresh = tmp_path / "new" / "s.parquet"  # an explicit path that does not exist yet is created there
    created = splits_for(events, tmp_path / "events.parquet", splits_path=fresh, seed=1)
    assert fresh.exists() and read_splits(fresh)["split"].tolist() == created["split"].astype(str).tolist()
    assert (read_splits(tmp_path / "splits.parquet")["split"] == "test").all()  # the file beside stays as it was


def test_splits_stage_writes_beside_the_input_or_where_told(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("Hadm_id,Event,Time\n" + "".join(f"{h},fever,0\n{h},rash,-\n" for h in range(1000, 1400)))
    path = write_splits_for_file(events, split_ratios=(0.5, 0.2, 0.3), seed=4)
    assert path == tmp_path / "splits.parquet"
    written = read_splits(path)
    assert written["hadm_id"].tolist() == list(range(1000, 1400))
    assert written["split"].tolist() == assign_splits(np.arange(1000, 1400), (0.5, 0.2, 0.3), seed=4).tolist()
    elsewhere = write_splits_for_file(events, tmp_path / "other" / "s.parquet", seed=4)
    assert read_splits(elsewhere)["split"].tolist() == assign_splits(np.arange(1000, 1400), seed=4).tolist()


def _said(caplog, capsys):
    """What ``announce`` told the user: through logging when a handler is set, else on stdout."""
    return caplog.text + capsys.readouterr().out


def test_splits_stage_with_admissions_splits_by_patient_and_says_so(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO)
    events = tmp_path / "events.csv"
    hadm = list(range(500, 560))
    events.write_text("Hadm_id,Event,Time\n" + "".join(f"{h},fever,1\n" for h in hadm))
    patient = {h: 70 + (h - 500) // 3 for h in hadm}   # 20 patients, 3 admissions each
    admissions = tmp_path / "admissions.csv.gz"
    pd.DataFrame({"subject_id": list(patient.values()), "hadm_id": hadm,
                  "admittime": "2150-01-01 00:00:00"}).to_csv(admissions, index=False)
    written = pd.read_parquet(write_splits_for_file(events, seed=3, admissions=admissions))
    assert written["hadm_id"].tolist() == hadm
    assert written["subject_id"].tolist() == [patient[h] for h in hadm]
    by_patient = dict(zip(range(70, 90), assign_splits(np.arange(70, 90), seed=3)))
    assert written["split"].astype(str).tolist() == [by_patient[patient[h]] for h in hadm]
    said = _said(caplog, capsys)
    assert "splits: 60 admissions of 20 patients, split by subject" in said
    assert BY_ADMISSION_NOTE not in said


def test_splits_stage_by_admission_warns_and_follows_the_time_policy(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO)
    events = tmp_path / "events.csv"
    # admission 9 has only an unreadable time: dropped by default, kept (at 0 h) with time_policy=zero
    events.write_text("Hadm_id,Event,Time\n" + "".join(f"{h},fever,0\n" for h in range(1, 9)) + "9,rash,soon\n")
    dropped = read_splits(write_splits_for_file(events, tmp_path / "a.parquet"))
    kept = read_splits(write_splits_for_file(events, tmp_path / "b.parquet", time_policy="zero"))
    assert dropped["hadm_id"].tolist() == list(range(1, 9)) and kept["hadm_id"].tolist() == list(range(1, 10))
    assert dropped["split"].tolist() == assign_splits(np.arange(1, 9), seed=0).tolist()   # the default seed is 0
    said = _said(caplog, capsys)
    assert "splits: 8 admissions, split by admission" in said and BY_ADMISSION_NOTE in said


def test_splits_stage_refuses_an_admission_missing_from_the_admissions_file(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("Hadm_id,Event,Time\n1,fever,0\n2,rash,1\n")
    admissions = tmp_path / "admissions.csv.gz"
    pd.DataFrame({"subject_id": [5], "hadm_id": [1], "admittime": "2150-01-01"}).to_csv(admissions, index=False)
    with pytest.raises(AdmissionsError, match=rf"^{re.escape(str(events))}: 1 admission\(s\) not in the admissions "
                                              r"file \(e\.g\. hadm_id \[2\]\)"):
        write_splits_for_file(events, admissions=admissions)
    assert not (tmp_path / "splits.parquet").exists()


def test_the_default_seed_is_0(tmp_path):
    ids = np.arange(1000)
    assert (assign_splits(ids) == assign_splits(ids, seed=0)).all()
    assert (assign_splits(ids) != assign_splits(ids, seed=1)).any()
    events = pd.DataFrame({"hadm_id": ids, "event": "x", "time": 0.0})
    assert make_splits(events).equals(make_splits(events, seed=0))
    assert not make_splits(events).equals(make_splits(events, seed=1))
    events_path = tmp_path / "events.parquet"
    splits_for(events, events_path)
    assert read_splits(events_path.with_name("splits.parquet"))["split"].tolist() == list(assign_splits(ids, seed=0))


def test_ratios_must_be_three_shares():
    with pytest.raises(ValueError):
        assign_splits(np.arange(3), ratios=(0.5, 0.5))
    with pytest.raises(ValueError):
        assign_splits(np.arange(3), ratios=(1.2, -0.1, -0.1))


def test_splits_are_two_plain_columns_in_memory_and_on_disk(tmp_path):
    events = pd.DataFrame({"hadm_id": [30, 10, 20, 10], "event": "x", "time": 0.0})
    splits = make_splits(events)
    assert list(splits.columns) == ["hadm_id", "split"] and splits["hadm_id"].tolist() == [10, 20, 30]
    assert splits.index.equals(pd.RangeIndex(3))
    write_splits(splits, tmp_path / "s.parquet")
    assert pq.read_schema(tmp_path / "s.parquet").names == ["hadm_id", "split"]


def test_a_splits_file_without_its_columns_is_named(tmp_path):
    pd.DataFrame({"hadm_id": [1]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 's.parquet'}: missing column(s) ['split']")):
        read_splits(tmp_path / "s.parquet")
    pd.DataFrame({"id": [1]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(ValueError, match=re.escape("missing column(s) ['hadm_id', 'split']")):
        read_splits(tmp_path / "s.parquet")


def test_attach_splits_names_the_first_three_missing_and_keeps_every_split_category():
    splits = pd.DataFrame({"hadm_id": [1, 2], "split": ["test", "test"]})
    attached = attach_splits(pd.DataFrame({"hadm_id": [2, 1, 2]}), splits)
    assert attached.tolist() == ["test", "test", "test"] and list(attached.cat.categories) == ["train", "val", "test"]
    with pytest.raises(ValueError, match=re.escape(
            "events: 4 admission(s) have no split (e.g. hadm_id [3, 4, 5]); regenerate splits.parquet for this event "
            "table or pass splits=PATH")):
        attach_splits(pd.DataFrame({"hadm_id": [1, 3, 4, 5, 6]}), splits)


def test_splits_for_says_what_it_created_and_warns_when_by_admission(tmp_path, caplog, capsys):
    events = pd.DataFrame({"hadm_id": np.arange(5), "event": "x", "time": 0.0})
    with caplog.at_level("INFO"):
        splits_for(events, tmp_path / "events.parquet", seed=3)
    said = caplog.text + capsys.readouterr().out
    assert f"splits: created {tmp_path / 'splits.parquet'} (5 admissions by admission, seed 3)" in said
    assert f"{tmp_path / 'splits.parquet'}: {BY_ADMISSION_NOTE}" in said
    by_patient = pd.DataFrame({"hadm_id": np.arange(5), "subject_id": [1, 1, 2, 2, 3], "event": "x", "time": 0.0})
    caplog.clear()
    with caplog.at_level("INFO"):
        splits_for(by_patient, tmp_path / "p" / "events.parquet", seed=3)
    said = caplog.text + capsys.readouterr().out
    assert "(5 admissions by subject, seed 3)" in said and BY_ADMISSION_NOTE not in said
