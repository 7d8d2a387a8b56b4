"""Note readers: the three layouts, and every bad input as a counted skip or an error naming the note."""

import csv
import gzip

import pytest

from cts.data.notes import NotesError, ReadStats, hadm_id_from_name, read_notes
from tests.retrieval.helpers import mimic_rows, note_text, write_mimic
from tests.shared_data import require_shared


def test_mimic_csv_gz_streams_notes_with_ids(tmp_path):
    path = write_mimic(tmp_path / "discharge.csv.gz", mimic_rows(3))
    stats = ReadStats()
    notes = list(read_notes(path, stats))
    assert [(n.note_id, n.hadm_id, n.subject_id) for n in notes] == [
        ("0-DS-1", 20000000, 10000000), ("1-DS-1", 20000001, 10000001), ("2-DS-1", 20000002, 10000002)]
    assert notes[1].text == note_text(1)  # embedded newlines and quotes survive the CSV
    assert stats.rows == stats.notes == 3 and not stats.skipped


def test_bad_rows_are_counted_skips_naming_the_note(tmp_path):
    rows = mimic_rows(5)
    rows[1]["text"] = "   \n\t "
    rows[2]["hadm_id"] = ""
    rows[3]["hadm_id"] = "not-a-number"
    path = write_mimic(tmp_path / "discharge.csv", rows)
    stats = ReadStats()
    assert [n.note_id for n in read_notes(path, stats)] == ["0-DS-1", "4-DS-1"]
    assert stats.skipped == {"empty_text": 1, "no_hadm_id": 1, "bad_hadm_id": 1}
    assert stats.examples["no_hadm_id"] == ["discharge.csv row 4 (note 2-DS-1)"]
    assert stats.examples["bad_hadm_id"] == ["discharge.csv row 5 (note 3-DS-1)"]
    assert stats.as_dict()["rows"] == 5


def test_ids_are_parsed_as_integers_never_through_floats(tmp_path):
    rows = mimic_rows(6)
    for row, hadm_id in zip(rows, ["9007199254740993", "-5", "1" + "0" * 30, "12.0", "1e3", "9223372036854775807"]):
        row["hadm_id"] = hadm_id
    rows[0]["subject_id"] = "-7"
    stats = ReadStats()
    notes = list(read_notes(write_mimic(tmp_path / "discharge.csv", rows), stats))
    assert [(n.note_id, n.hadm_id) for n in notes] == [
        ("0-DS-1", 9007199254740993), ("3-DS-1", 12), ("5-DS-1", 9223372036854775807)]
    assert notes[0].subject_id is None and stats.repaired == {"bad_subject_id_dropped": 1}
    assert stats.skipped == {"bad_hadm_id": 3}


def test_short_rows_are_malformed_skips(tmp_path):
    path = tmp_path / "discharge.csv"
    path.write_text("note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n"
                    "1-DS-1,1,2\n"
                    '2-DS-1,1,3,DS,1,,,"fever"\n')
    stats = ReadStats()
    assert [n.note_id for n in read_notes(path, stats)] == ["2-DS-1"]
    assert stats.skipped == {"malformed_row": 1} and "1-DS-1" in stats.examples["malformed_row"][0]


def test_non_utf8_bytes_become_one_replacement_character_each(tmp_path):
    path = tmp_path / "discharge.csv"
    header = b"note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n"
    path.write_bytes(header + b'1-DS-1,1,7,DS,1,,,"fever \xff\xfe and cough"\n')
    stats = ReadStats()
    (note,) = read_notes(path, stats)
    assert note.text == "fever \ufffd\ufffd and cough"
    assert stats.repaired == {"non_utf8_bytes": 1} and not stats.skipped


def test_truncated_gzip_names_the_last_good_note_after_yielding_the_rest(tmp_path):
    path = write_mimic(tmp_path / "discharge.csv.gz", mimic_rows(400))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    notes = []
    with pytest.raises(NotesError, match=r"discharge.csv.gz: unreadable after row \d+ \(last complete note \d+-DS-1\)"):
        notes.extend(read_notes(path))  # keeps the notes read before the error
    assert len(notes) > 10 and notes[-1].text == note_text(len(notes) - 1)


def test_folder_of_text_files(tmp_path):
    (tmp_path / "20000001.txt").write_text("fever and chills")
    (tmp_path / "PMC1234567_body.txt").write_text("sepsis")
    (tmp_path / "notes.txt").write_text("no number in the name")
    (tmp_path / "30000000.txt").write_bytes(b"  \n")
    (tmp_path / "40000000.TXT").write_text("upper-case suffix")
    (tmp_path / "50000000.txt.gz").write_bytes(gzip.compress(b"gzipped note"))
    (tmp_path / "60000000.txt.gz").write_bytes(b"not gzip at all")
    (tmp_path / "README.md").write_text("about these notes")
    (tmp_path / "70000000").mkdir()
    (tmp_path / "70000000" / "70000000.txt").write_text("inside a subfolder")
    stats = ReadStats()
    notes = list(read_notes(tmp_path, stats))
    assert [(n.note_id, n.hadm_id, n.text) for n in notes] == [
        ("20000001", 20000001, "fever and chills"), ("40000000", 40000000, "upper-case suffix"),
        ("50000000", 50000000, "gzipped note"), ("PMC1234567_body", 1234567, "sepsis")]
    assert stats.skipped == {"empty_text": 1, "no_hadm_id": 1, "unreadable_file: BadGzipFile": 1,
                             "not a .txt or .txt.gz file": 1, "subfolder (not read)": 1}
    assert stats.examples["subfolder (not read)"] == ["70000000"] and stats.rows == 7


def test_mtsamples_layout(tmp_path):
    path = tmp_path / "mt.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["note_id", "description", "medical_specialty", "sample_name", "transcription", "keywords"])
        writer.writerow(["3878", "d", "Discharge Summary", "s", "DISCHARGE DIAGNOSES: pneumonia.", "k"])
    (note,) = read_notes(path)
    assert (note.note_id, note.hadm_id, note.text) == ("3878", 3878, "DISCHARGE DIAGNOSES: pneumonia.")


def test_real_mtsamples_file_reads_completely():
    path = require_shared("notes", "mtsamples_discharge_summary.csv")
    stats = ReadStats()
    notes = list(read_notes(path, stats))
    assert len(notes) + sum(stats.skipped.values()) == 108 and len(notes) >= 100


def test_unknown_layouts_and_missing_files_are_errors(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(NotesError, match=r"odd.csv: row 1 \(header\) is neither MIMIC-IV-Note"):
        read_notes(odd)
    with pytest.raises(NotesError, match="no such file"):
        read_notes(tmp_path / "absent.csv.gz")
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"this is not gzip")
    with pytest.raises(NotesError, match="broken.csv.gz: cannot read the header"):
        read_notes(broken)
    headless = tmp_path / "headless.csv.gz"
    with gzip.open(headless, "wt") as fh:
        fh.write("note_id,text\n1,x\n")
    with pytest.raises(NotesError, match=r"missing column\(s\) \['hadm_id'\]"):
        list(read_notes(headless))


def test_hadm_id_from_name():
    assert hadm_id_from_name("12345") == 12345 and hadm_id_from_name("PMC3075162_body") == 3075162
    assert hadm_id_from_name("notes") is None
