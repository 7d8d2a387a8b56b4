"""The rules baseline (``llm=rules``): time phrases → hours, negation, a vocabulary learned from train admissions only,
the prompt's own examples never found, and the whole path through ``annotate.py`` on a demo corpus."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import cts  # noqa: F401  (registers ${cts.or:...})
from cts.annotation.backends.rules import PromptLayoutError, RulesAnnotator, RulesBackend, hours_text, note_of
from cts.annotation.event_dictionary import (
    Vocabulary,
    VocabularyError,
    confirmed,
    learn,
    load_vocabulary,
    negated,
    phrase_key,
)
from cts.annotation.narrative import story_text
from cts.annotation.prompts import Prompt
from cts.data.demo import NOTE_COLUMNS, generate_demo
from cts.data.event_table import write_event_table
from cts.data.notes import write_notes_csv
from cts.data.splits import write_splits

ROOT = Path(__file__).resolve().parents[3]
CONF = ROOT / "conf"
DAY = 24.0


def test_an_event_is_written_at_its_first_dated_mention(small_corpus):
    """A chief complaint names the event before the story dates it."""
    vocabulary = Vocabulary(positive={"cough", "fever"})
    note = "Chief Complaint:\ncough\n\nHistory of Present Illness:\nShe had a cough 3 days prior to admission. Fever."
    assert RulesAnnotator(vocabulary).annotate(note) == [("cough", -3 * DAY), ("Fever", -3 * DAY)]


@pytest.mark.parametrize("text, term, expected", [
    ("No fever or chills.", "chills", True),
    ("She had fever but no rash.", "fever", False),
    ("She had fever but no rash.", "rash", True),
    ("Pneumonia was ruled out.", "Pneumonia", True),
    ("There was no evidence of free fluid or pneumoperitoneum.", "pneumoperitoneum", True),
    ("She denies chest pain.", "chest pain", True),
    ("No change in therapy was made. She developed a rash.", "rash", False),
])
def test_negation_cues(text, term, expected):
    start = text.index(term)
    assert negated(text, start, start + len(term)) is expected


def test_sections_that_tell_no_story_are_blanked_with_offsets_kept():
    text = "Introduction\nSepsis is common.\nCase presentation\nShe had sepsis.\nDiscussion\nSepsis kills.\n"
    story = story_text(text, ("introduction", "discussion"))
    assert len(story) == len(text) and "Sepsis is common" not in story and "Sepsis kills" not in story
    assert story.index("She had sepsis.") == text.index("She had sepsis.")


@pytest.fixture
def small_corpus(tmp_path):
    """Six admissions: four train (fever, cough, no chest pain), one val and one test with an event ("zebra
    rash") that only they have, and whose notes mention it."""
    notes, events, splits = [], [], []
    for k in range(4):
        hadm = 100 + k
        notes.append((f"N{hadm}", hadm, "A 50-year-old man was admitted with fever 2 days ago. He had a cough. "
                                        "He denied chest pain."))
        events += [(hadm, "fever", -48.0), (hadm, "cough", -48.0), (hadm, "no chest pain", 0.0),
                   (hadm, "admitted to the hospital", 0.0)]
        splits.append((hadm, "train"))
    for hadm, split in ((200, "val"), (300, "test")):
        notes.append((f"N{hadm}", hadm, "A 40-year-old woman had a zebra rash and fever. She had no chest pain."))
        events += [(hadm, "zebra rash", 0.0), (hadm, "fever", 0.0)]
        splits.append((hadm, split))
    frame = pd.DataFrame(notes, columns=["note_id", "hadm_id", "text"])
    frame = frame.assign(subject_id=frame["hadm_id"], note_type="DS", note_seq=1, charttime="", storetime="")
    write_notes_csv(frame[NOTE_COLUMNS], tmp_path / "notes.csv.gz")
    write_event_table(pd.DataFrame(events, columns=["hadm_id", "event", "time"]), tmp_path / "events.parquet")
    write_splits(pd.DataFrame({"hadm_id": [h for h, _ in splits],
                               "split": pd.Categorical([s for _, s in splits])}), tmp_path / "splits.parquet")
    return tmp_path


def test_the_vocabulary_is_learned_from_train_admissions_only(small_corpus):
    vocabulary = learn(small_corpus / "events.parquet", small_corpus / "splits.parquet",
                       small_corpus / "notes.csv.gz", min_count=2, min_precision=0.5)
    assert {"fever", "cough"} <= vocabulary.positive and "chest pain" in vocabulary.negated
    assert "zebra rash" not in vocabulary.positive | vocabulary.negated  # a val/test-only event is never learned
    assert vocabulary.constant == {"admitted to the hospital": 0.0}  # every train timeline has it, no text says it
    events = dict(RulesAnnotator(vocabulary).annotate(
        "A 40-year-old woman had a zebra rash and fever. She had no chest pain."))
    assert "zebra rash" not in events and events["fever"] == 0.0 and "no chest pain" in events
    assert events["admitted to the hospital"] == 0.0


def test_a_proposal_is_right_when_the_evaluator_would_match_it():
    proposed = [("phrase", "ct scan", False), ("phrase", "fever", True), ("phrase", "rash", False)]
    assert confirmed(proposed, ["CT-scan", "fever", "sepsis"]) == [("phrase", "ct scan", False)]  # never opposites
    assert confirmed(proposed, ["no fevers"]) == [("phrase", "fever", True)]


def test_without_notes_phrases_are_kept_by_count(small_corpus):
    vocabulary = learn(small_corpus / "events.parquet", small_corpus / "splits.parquet", None, min_count=4)
    assert vocabulary.positive == {"fever", "cough", "admitted to the hospital"} and vocabulary.negated == {
        "chest pain"}


def test_missing_inputs_and_no_train_admission_are_one_clear_error(small_corpus, tmp_path):
    with pytest.raises(VocabularyError, match=r"llm.events: no file at .*missing.parquet"):
        learn(tmp_path / "missing.parquet", small_corpus / "splits.parquet")
    with pytest.raises(VocabularyError, match=r"llm.notes: no file at .*nowhere.csv"):
        learn(small_corpus / "events.parquet", small_corpus / "splits.parquet", tmp_path / "nowhere.csv")
    write_splits(pd.DataFrame({"hadm_id": [100], "split": pd.Categorical(["test"])}), tmp_path / "only_test.parquet")
    with pytest.raises(VocabularyError, match=r"llm.splits: .*only_test.parquet has no train admission"):
        learn(small_corpus / "events.parquet", tmp_path / "only_test.parquet")


def test_the_vocabulary_is_cached_by_inputs_and_settings(small_corpus, tmp_path):
    args = (small_corpus / "events.parquet", small_corpus / "splits.parquet", small_corpus / "notes.csv.gz")
    first = load_vocabulary(*args, tmp_path / "cache", min_count=2, min_precision=0.5)
    cached = list((tmp_path / "cache" / "rules").glob("*.json"))
    again = load_vocabulary(*args, tmp_path / "cache", min_count=2, min_precision=0.5)
    assert len(cached) == 1 and again.positive == first.positive and again.constant == first.constant
    load_vocabulary(*args, tmp_path / "cache", min_count=1, min_precision=0.5)
    assert len(list((tmp_path / "cache" / "rules").glob("*.json"))) == 2


@pytest.mark.parametrize("template", ["whole", "chunks", "passages"])
def test_the_prompt_rules_block_is_never_read(template):
    """The rules mention "chest pain" and "fever and rash": a note without them gives none, in every template."""
    prompt = Prompt.from_config(OmegaConf.load(CONF / "annotate" / "prompt" / "timeline.yaml"))
    note = "The patient was admitted for observation.\nNothing else happened."
    messages = {"whole": lambda: prompt.messages(note),
                "chunks": lambda: prompt.messages(note, [{"text": "observation"}]),
                "passages": lambda: prompt.messages("", passages=[note])}[template]()
    assert "chest pain" in messages[1]["content"] and "fever" in messages[1]["content"]
    assert note_of(messages).strip() == note
    backend = RulesBackend.__new__(RulesBackend)  # the real generate, with a vocabulary that knows the words
    backend.annotator = RulesAnnotator(Vocabulary(positive={"chest pain", "fever", "rash"}, negated={"chest pain"}))
    assert [g.text for g in backend.generate([messages])] == ["none"]
    backend.annotator = RulesAnnotator(Vocabulary(positive={"observation"}))
    assert backend.generate([messages])[0].text == "observation | 0"


def test_a_prompt_without_the_note_fence_is_a_clear_error():
    with pytest.raises(PromptLayoutError, match='reads the note between two lines of """'):
        note_of([{"role": "user", "content": "List the events of: fever since Monday."}])


def test_hours_are_written_as_the_timeline_format_reads_them():
    assert [hours_text(h) for h in (-72.0, 0.0, 1.5, -876000.0, 1 / 3)] == ["-72", "0", "1.5", "-876000", "0.33"]


def test_rules_config_composes_with_every_corpus():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        demo = compose("annotate", overrides=["llm=rules"])
        t2s2 = compose("annotate", overrides=["llm=rules", "corpus=t2s2"])
    assert demo.stage.llm._target_ == "cts.annotation.backends.rules.RulesBackend"
    assert demo.llm.events.endswith("data/demo/events_normalized.parquet")
    assert t2s2.llm.splits.endswith("data/t2s2/splits.parquet") and t2s2.llm.notes.endswith("data/t2s2/notes.csv.gz")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "annotate.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def rules_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules_demo")
    generate_demo(folder, n_admissions=120, seed=5)
    return folder


@pytest.mark.e2e
def test_annotate_py_with_llm_rules_scores_the_demo_test_notes(rules_demo, tmp_path):
    """End to end: the demo's train split teaches the vocabulary, its test notes are annotated and evaluated."""
    out, evaluation = tmp_path / "rules", tmp_path / "evaluation"
    done = run_cli("llm=rules", f"corpus.dir={rules_demo}", "split=test", "candidates=none", f"output={out}",
                   f"llm.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(next(out.glob("*.json")).read_text())
    assert record["manifest"]["generation"]["backend"] == "rules" and record["events"]
    done = run_cli("stage=evaluate", f"predictions={out}", f"reference={rules_demo / 'events_normalized.parquet'}",
                   f"output={evaluation}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert metrics["f1"] > 0.5 and metrics["order_concordance"] > 0.6  # measured 0.98 / 0.95 on the 500-note demo


@pytest.mark.e2e
def test_annotate_py_names_a_missing_event_table(rules_demo, tmp_path):
    done = run_cli("llm=rules", f"corpus.dir={rules_demo}", f"llm.events={tmp_path / 'absent.parquet'}", "limit=1",
                   f"output={tmp_path / 'out'}", cwd=tmp_path)
    assert done.returncode == 1 and "llm.events: no file at" in done.stderr and "absent.parquet" in done.stderr
    assert "Traceback" not in done.stderr


def test_phrase_keys_fold_case_and_punctuation():
    assert phrase_key("  C-Reactive   Protein ") == "c reactive protein" and phrase_key("Type-2 DM.") == "type 2 dm"
