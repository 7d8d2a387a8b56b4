"""Reading and writing the event table: schema, bad input named by file/line/column, '-' policy, round trips."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from cts.data.event_table import EventTableError, read_event_table, write_event_table


def write(path, text: str):
    path.write_text(text)
    return path


def test_reads_released_csv_sorted_with_bins(tmp_path):
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time,Time_bin\n2,discharge,96,7\n1,fever,-24,2\n1,cough,-24,2\n1,aspirin,0,4\n")
    events = read_event_table(path)
    assert list(events.columns[:4]) == ["hadm_id", "event", "time", "time_bin"]
    assert events["hadm_id"].dtype == np.int64 and events["time"].dtype == np.float64
    assert isinstance(events["event"].dtype, pd.CategoricalDtype)
    assert events["event"].astype(str).tolist() == ["fever", "cough", "aspirin", "discharge"]  # ties keep file order
    assert events["time_bin"].tolist() == [2, 2, 4, 7]


def test_dash_time_policy_drop_and_zero_are_counted_and_saved(tmp_path):
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time\n1,fever,-\n1,cough,3\n1,,4\n1,  ,5\n2,rash,-\n")
    dropped = read_event_table(path, time_policy="drop", report_path=tmp_path / "report.json")
    assert dropped["event"].astype(str).tolist() == ["cough"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["non_numeric_time"] == 2 and report["empty_event"] == 2 and report["rows_kept"] == 1
    assert report["non_numeric_time_examples"] == ["-"]
    zeroed = read_event_table(path, time_policy="zero")
    assert sorted(zeroed["event"].astype(str)) == ["cough", "fever", "rash"]
    assert zeroed.set_index(zeroed["event"].astype(str)).loc["fever", "time"] == 0.0
    with pytest.raises(ValueError, match="time_policy"):
        read_event_table(path, time_policy="ignore")


def test_missing_column_names_file_line_and_column(tmp_path):
    path = write(tmp_path / "e.csv", "Hadm_id,Event\n1,fever\n")
    with pytest.raises(EventTableError, match=r"e\.csv, line 1, column 'Time': missing required column"):
        read_event_table(path)


def test_non_integer_admission_id_names_the_line(tmp_path):
    rows = "".join(f"{i},ev{i},{i}\n" for i in range(1, 50))
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time\n" + rows + "12x,fever,3\n")
    with pytest.raises(EventTableError) as error:
        read_event_table(path)
    assert error.value.line == 51 and error.value.column == "Hadm_id" and "12x" in str(error.value)


def test_ragged_row_names_the_line(tmp_path):
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time\n1,fever,3\n2,cough\n3,rash,4\n")
    with pytest.raises(EventTableError, match=r"line 3.*expected 3 columns, got 2"):
        read_event_table(path)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    payload = gzip.compress(("Hadm_id,Event,Time\n" + "".join(f"{i},event {i},{i}\n" for i in range(20000))).encode())
    path = tmp_path / "e.csv.gz"
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(EventTableError, match=r"e\.csv\.gz.*(unreadable|truncated)"):
        read_event_table(path)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(EventTableError, match="no such file"):
        read_event_table(tmp_path / "absent.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(EventTableError, match="not a readable Parquet"):
        read_event_table(tmp_path / "bad.parquet")
    write(tmp_path / "empty.csv", "")
    with pytest.raises(EventTableError, match="empty file"):
        read_event_table(tmp_path / "empty.csv")


def test_parquet_schema_errors(tmp_path):
    pd.DataFrame({"hadm_id": [1], "event": ["x"]}).to_parquet(tmp_path / "a.parquet")
    with pytest.raises(EventTableError, match="column 'time'"):
        read_event_table(tmp_path / "a.parquet")
    pd.DataFrame({"hadm_id": ["a"], "event": ["x"], "time": [1.0]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(EventTableError, match="column 'hadm_id'.*integer"):
        read_event_table(tmp_path / "b.parquet")


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet"])
def test_round_trip(tmp_path, suffix):
    source = write(tmp_path / "src.csv", 'Hadm_id,Event,Time,Time_bin\n1,"fever, high",-2.5,3\n1,"say ""x""",0.0,4\n2,cough,72.0,7\n')
    events = read_event_table(source)
    again = read_event_table(write_event_table(events, tmp_path / f"out.{suffix}"))
    pd.testing.assert_frame_equal(events.astype({"event": str}), again.astype({"event": str}))
    if suffix == "csv":  # released layout, written the way pandas writes it
        assert (tmp_path / "out.csv").read_text() == source.read_text()


def test_admission_time_order_equals_a_stable_two_key_sort():
    from cts.data.event_table import _admission_time_order

    rng = np.random.default_rng(0)
    hadm = rng.integers(0, 300, 50_000)  # admissions interleaved, not contiguous
    time = rng.choice([-8760.0, -1.5, 0.0, 2.0, 3.25, 100.0], 50_000)
    assert (_admission_time_order(hadm, time) == np.lexsort((time, hadm))).all()
