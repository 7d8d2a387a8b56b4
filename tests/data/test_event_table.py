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
    path = write(tmp_path / "e.csv",
                 "Hadm_id,Event,Time,Time_bin\n2,discharge,96,7\n1,fever,-24,2\n1,cough,-24,2\n1,aspirin,0,4\n")
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


def test_ids_are_parsed_as_integers_and_bad_ids_are_counted_skips(tmp_path):
    # 2**53 + 1 is the first integer a float64 cannot hold; -5 is negative; 10**30 is beyond int64; 12x is no number
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time\n9007199254740993,fever,1\n9007199254740992,cough,2\n"
                                     "-5,rash,3\n1000000000000000000000000000000,pain,4\n12x,itch,5\n"
                                     "9223372036854775807,edema,6\n7.0,nausea,7\n")
    events = read_event_table(path, report_path=tmp_path / "report.json")
    assert events["hadm_id"].tolist() == [7, 9007199254740992, 9007199254740993, 9223372036854775807]
    assert events["event"].astype(str).tolist() == ["nausea", "cough", "fever", "edema"]  # two admissions, not one
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["bad_id"] == {"hadm_id": 3} and report["rows_kept"] == 4
    assert report["bad_id_examples"] == ["line 4: '-5'", "line 5: '1000000000000000000000000000000'", "line 6: '12x'"]


def test_ids_beyond_int64_in_an_otherwise_int_column_and_parquet_text_ids(tmp_path):
    rows = "".join(f"{i},ev{i},{i}\n" for i in range(1, 50))
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time\n" + rows + "99999999999999999999,fever,3\n")
    events = read_event_table(path)
    assert events["hadm_id"].tolist() == list(range(1, 50))
    pd.DataFrame({"hadm_id": ["9007199254740993", "-5"], "event": ["a", "b"], "time": [1.0, 2.0]}).to_parquet(
        tmp_path / "t.parquet")
    assert read_event_table(tmp_path / "t.parquet")["hadm_id"].tolist() == [9007199254740993]


def test_a_column_without_any_valid_id_is_one_error_naming_line_and_column(tmp_path):
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time\nfever,abc,3\ncough,def,4\n")
    with pytest.raises(EventTableError) as error:
        read_event_table(path)
    assert error.value.line == 2 and error.value.column == "Hadm_id" and "no valid id" in str(error.value)


@pytest.mark.parametrize("text", ["inf", "Infinity", "1e309", "-inf", "nan", "NaN"])
def test_non_finite_times_are_dropped_and_counted(tmp_path, text):
    path = write(tmp_path / "e.csv", f"Hadm_id,Event,Time\n1,fever,{text}\n1,cough,3\n1,rash,-\n2,pain,{text}\n"
                                     "2,itch,1\n")
    for policy in ("drop", "zero"):
        events = read_event_table(path, time_policy=policy, report_path=tmp_path / "report.json")
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["non_finite_time"] == 2 and report["non_numeric_time"] == 1
        expected = ["cough", "itch"] if policy == "drop" else ["rash", "cough", "itch"]
        assert events["event"].astype(str).tolist() == expected and np.isfinite(events["time"]).all()
    pd.DataFrame({"hadm_id": [1, 1], "event": ["a", "b"], "time": [np.inf, 2.0]}).to_parquet(tmp_path / "t.parquet")
    assert read_event_table(tmp_path / "t.parquet")["event"].astype(str).tolist() == ["b"]


def test_header_only_and_all_dropped_files_are_clear_errors(tmp_path):
    with pytest.raises(EventTableError, match=r"e\.csv, line 2: no data rows \(header only\)"):
        read_event_table(write(tmp_path / "e.csv", "Hadm_id,Event,Time\n"))
    with pytest.raises(EventTableError, match=r"d\.csv: no usable rows.*non-numeric Time dropped: 2"):
        read_event_table(write(tmp_path / "d.csv", "Hadm_id,Event,Time\n1,a,-\n2,b,-\n"))


@pytest.mark.parametrize("header", ["Hadm_id,Event,Time,Time", "Hadm_id,Event,Time,time", "Hadm_id,hadm_id,Event,Time"])
def test_duplicate_column_is_an_error_naming_file_and_column(tmp_path, header):
    path = write(tmp_path / "e.csv", header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    duplicate = header.split(",")[-1] if "Time,time" in header or header.endswith("Time,Time") else "hadm_id"
    with pytest.raises(EventTableError, match=rf"e\.csv, line 1, column '{duplicate}': duplicate column"):
        read_event_table(path)


def test_quoted_newlines_in_event_text_across_block_boundaries(tmp_path):
    # ~18 MB: more than one 16 MB read block, so a quoted newline lands where the fast chunker cuts
    line = '{i},"line one\nline two, with comma",{i}.5\n'
    rows = 400_000
    path = tmp_path / "e.csv"
    with open(path, "w") as out:
        out.write("Hadm_id,Event,Time\n")
        out.writelines(line.format(i=i) for i in range(rows))
    assert path.stat().st_size > 16 << 20
    events = read_event_table(path)
    assert len(events) == rows and events["event"].cat.categories.tolist() == ["line one\nline two, with comma"]
    assert events["hadm_id"].iloc[-1] == rows - 1 and events["time"].iloc[-1] == rows - 0.5


def test_bad_row_error_names_line_never_the_clinical_text(tmp_path):
    path = write(tmp_path / "e.csv", "Hadm_id,Event,Time\n1,fever,3\n2,secret diagnosis of patient\n")
    with pytest.raises(EventTableError) as error:
        read_event_table(path)
    assert (error.value.line == 3 and "secret" not in str(error.value)
            and "expected 3 columns, got 2" in str(error.value))


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
    source = write(tmp_path / "src.csv",
                   'Hadm_id,Event,Time,Time_bin\n1,"fever, high",-2.5,3\n1,"say ""x""",0.0,4\n2,cough,72.0,7\n')
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
