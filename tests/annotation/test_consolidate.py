"""Annotation files carry admission ids exactly: parsed as integers, bad names counted, wrong manifests named."""

import hashlib
import subprocess

import pandas as pd
import pytest

from cts.annotation.consolidate import consolidate
from cts.annotation.outputs import AnnotationError, finished_ids, output_path, stale_temp_files, write_atomic
from cts.io import OverwriteError

BIG = 2**53 + 1  # 9007199254740993: the first integer a float64 rounds (to ...992)


def record(hadm_id, event="fever"):
    return {"manifest": {"kind": "events", "hadm_id": hadm_id}, "events": [{"event": event, "time": 2.0}],
            "rejects": []}


def test_ids_survive_exactly_and_files_named_for_no_admission_are_counted(tmp_path):
    write_atomic(output_path(tmp_path, BIG), record(BIG, "fever"))
    write_atomic(output_path(tmp_path, BIG - 1), record(BIG - 1, "cough"))
    write_atomic(tmp_path / "-5.json", record(-5, "rash"))
    write_atomic(tmp_path / f"{10**30}.json", record(10**30, "pain"))
    write_atomic(tmp_path / "12x.json", record(12, "itch"))
    writer = subprocess.Popen(["true"])
    writer.wait()
    (tmp_path / f".{BIG}.json.{writer.pid}.abcd_123.tmp").write_text("{")  # a killed writer's leftover
    assert finished_ids(tmp_path) == {BIG, BIG - 1}
    assert [i for i, _ in stale_temp_files(tmp_path)] == [BIG]
    report = consolidate(tmp_path)
    assert report["admissions"] == 2 and report["files_not_admissions"] == 3
    events = pd.read_parquet(tmp_path / "events.parquet")
    assert events[["hadm_id", "event"]].values.tolist() == [[BIG - 1, "cough"], [BIG, "fever"]]


@pytest.mark.parametrize("manifest_id", [float(BIG), str(BIG), BIG - 1, True])
def test_a_manifest_id_that_is_not_the_file_id_as_an_integer_is_an_error(tmp_path, manifest_id):
    write_atomic(output_path(tmp_path, BIG), record(manifest_id))
    with pytest.raises(AnnotationError, match=rf"{BIG}\.json: field 'manifest\.hadm_id'"):
        consolidate(tmp_path)


def test_consolidate_refuses_to_write_over_an_annotation_file(tmp_path):
    path = output_path(tmp_path, 7)
    write_atomic(path, record(7))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(OverwriteError, match="would overwrite the input"):
        consolidate(tmp_path, path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
