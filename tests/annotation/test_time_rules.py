"""Relative-time rules (cts.annotation.time_rules): numbers, sentences, the story's clock, the last operation, the
patient's age and which phrase dates an event. The llm=rules backend that uses them is tested in
tests/annotation/backends/test_rules.py."""

import pytest

from cts.annotation.time_rules import DatedText, Rule, number, patient_age, split_sentences

DAY, WEEK, YEAR = 24.0, 168.0, 8760.0


def hours_of(text: str, phrase: str, occurrence: int = 0) -> float:
    """Hours the rules give to the ``occurrence``-th mention of ``phrase`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(phrase, start + 1)
    return DatedText(text).hours_at(start, start + len(phrase))


@pytest.mark.parametrize("text, phrase, hours", [
    ("She reported fever 3 days prior to admission.", "fever", -3 * DAY),
    ("On the morning of admission she developed polyuria.", "polyuria", 0.0),
    ("He had a cough two weeks before presentation.", "cough", -2 * WEEK),
    ("Hypertension was diagnosed 2 years ago.", "Hypertension", -2 * YEAR),
    ("A week ago she noticed a rash.", "rash", -WEEK),
    ("On hospital day 4 he was extubated.", "extubated", 3 * DAY),
    ("On day 3 she was afebrile.", "afebrile", 2 * DAY),
    ("He was febrile on admission.", "febrile", 0.0),
    ("Five years ago she had a stroke. At presentation she was confused.", "confused", 0.0),
    ("She was admitted. Three days later she developed a rash.", "rash", 3 * DAY),
    ("She was admitted with fever. After 2 weeks she was discharged.", "discharged", 2 * WEEK),
    # the running clock: a sentence without a phrase stays where the story is; relative phrases move it on
    ("She was admitted. Two days later she had a seizure. Levetiracetam was started. The next day she was alert.",
     "Levetiracetam", 2 * DAY),
    ("She was admitted. Two days later she had a seizure. Levetiracetam was started. The next day she was alert.",
     "alert", 3 * DAY),
    ("On hospital day 3 she underwent laparotomy. On postoperative day 2 she had an ileus.", "ileus", 4 * DAY),
    ("Surgery was done 2 days after admission. On POD 3 she tolerated diet.", "tolerated", 5 * DAY),
    ("On the third hospital day she was extubated.", "extubated", 2 * DAY),
    ("A 45-year-old woman was seen. At the age of 30 she was diagnosed with lupus.", "lupus", -15 * YEAR),
    ("A 45-year-old woman has had asthma since childhood.", "asthma", (5 - 45) * YEAR),
    ("She has a history of asthma.", "asthma", -YEAR),
    # "known X" and "a known case of X" are history cues (the pattern once demanded a space after "known")
    ("She was admitted with known diabetes.", "diabetes", -YEAR),
    ("He was admitted. He is a known case of asthma.", "asthma", -YEAR),
    ("He presented with abdominal pain evolving since two days.", "abdominal pain", -2 * DAY),
    ("A twenty-one-day course of antibiotics ended. Twenty-one days later he relapsed.", "relapsed", 21 * DAY),
])
def test_time_phrases_give_hours_from_admission(text, phrase, hours):
    assert hours_of(text, phrase) == pytest.approx(hours)


def test_an_event_takes_the_nearest_phrase_of_its_sentence():
    text = "A 60-year-old man with a history of diabetes presented with chest pain 3 days prior to admission."
    assert hours_of(text, "diabetes") == -YEAR and hours_of(text, "chest pain") == -3 * DAY


def test_a_list_dates_each_item_by_its_own_parenthesis():
    text = "She has a history of gout (diagnosed 15 years ago), asthma (diagnosed 3 years ago), and anemia."
    assert [hours_of(text, w) for w in ("gout", "asthma")] == [-15 * YEAR, -3 * YEAR]


def test_for_the_past_counts_back_from_admission_while_the_story_is_before_it():
    text = "Fever began 3 days prior to admission. She also notes wheezing for the past 2 weeks."
    assert hours_of(text, "wheezing") == -2 * WEEK
    text = "On hospital day 5 she reported a rash for the past 2 days."
    assert hours_of(text, "rash") == 4 * DAY - 2 * DAY


def test_a_sentence_without_a_time_is_a_step_later_than_the_one_before():
    text = "She was admitted. Two days later she had a seizure. Levetiracetam was started. She became alert."
    dated = DatedText(text, step_hours=0.5)
    assert [dated.hours_at(text.index(w), text.index(w) + 3) for w in ("seizure", "Levetiracetam", "alert")] == [
        48.0, 48.5, 49.0]


def test_numbers_in_words_and_sentences_across_abbreviations():
    assert [number(w) for w in ("3", "2.5", "three", "twenty-one", "a", "a few", "several")] == [3, 2.5, 3, 21, 1, 3, 3]
    text = "Dr. Smith saw her (Fig. 1). She was admitted.\nPlan: rest"
    assert [text[a:b] for a, b in split_sentences(text)] == ["Dr. Smith saw her (Fig. 1).", "She was admitted.",
                                                            "Plan: rest"]


def sentences_of(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_a_number_folds_case_hyphens_and_runs_of_spaces():
    assert [number(w) for w in ("Twenty  One", " twenty-one ", "A   few", "Three")] == [21, 21, 3, 3]


@pytest.mark.parametrize("text, phrase, hours", [
    ("On the 3rd hospital day she was extubated.", "extubated", 2 * DAY),
    ("On the 12th hospital day she was extubated.", "extubated", 11 * DAY),
    ("On the third hospital day she was extubated.", "extubated", 2 * DAY),
    # no operation was told: a postoperative day counts from the clock (admission here)
    ("On the 12th postoperative day she took a diet.", "diet", 12 * DAY),
    ("On the 1st postoperative day she took a diet.", "diet", DAY),
])
def test_ordinal_days_in_digits_and_words(text, phrase, hours):
    assert hours_of(text, phrase) == hours


def test_before_admission_counts_from_admission_even_when_the_clock_has_moved():
    text = "She was admitted. Three days later she had a rash. Fever had begun 2 days before admission."
    assert hours_of(text, "rash") == 3 * DAY
    assert hours_of(text, "Fever") == -2 * DAY


def test_after_surgery_counts_from_the_operation_not_the_clock():
    text = ("On hospital day 3 she underwent laparotomy. On hospital day 5 she was extubated. "
            "Two days after surgery she took a diet.")
    assert hours_of(text, "extubated") == 4 * DAY
    assert hours_of(text, "diet") == 2 * DAY + 2 * DAY


def test_after_surgery_with_no_operation_told_counts_from_the_clock():
    text = "She was admitted. Three days later she had a rash. Two days after surgery she was afebrile."
    assert hours_of(text, "afebrile") == 3 * DAY + 2 * DAY


def test_a_postoperative_day_counts_from_the_sentence_of_the_operation():
    text = ("On hospital day 3 she underwent laparotomy. On hospital day 5 she was extubated. "
            "On postoperative day 4 she had an ileus.")
    assert hours_of(text, "ileus") == 2 * DAY + 4 * DAY


def test_an_operation_sentence_without_a_phrase_is_at_the_clock():
    text = ("She was admitted. Two days later she had fever. She underwent laparotomy. "
            "On hospital day 6 she was extubated. On postoperative day 2 she had an ileus.")
    assert hours_of(text, "extubated") == 5 * DAY
    assert hours_of(text, "ileus") == 2 * DAY + 2 * DAY


def test_an_operation_sentence_is_at_its_last_phrase_even_one_that_keeps_the_clock():
    # "for the past 2 days" keeps the clock (hospital day 3 = 48 h) but dates the operation at 48 - 48 = 0
    text = ("On hospital day 3 she had fever. She underwent a resection of a mass present for the past 2 days. "
            "On postoperative day 1 she had an ileus.")
    assert hours_of(text, "ileus") == 0 + DAY


def test_an_operation_told_later_does_not_date_an_earlier_postoperative_day():
    # the resection is in the same sentence as the postoperative day: that day counts from the clock (48 h), and the
    # earlier aside ("for the past 2 days", 0 h) is not an operation
    text = ("On hospital day 3 she had fever. She had wheezing for the past 2 days. "
            "On postoperative day 2 she had an ileus after the resection.")
    assert hours_of(text, "wheezing") == 0.0
    assert hours_of(text, "ileus") == 2 * DAY + 2 * DAY


def test_an_age_needs_the_patients_age_and_must_not_be_in_the_future():
    assert hours_of("At the age of 30 she was diagnosed with lupus.", "lupus") == 0.0  # no age: not dated
    at_age = DatedText("A 30-year-old woman. At the age of 30 she had lupus.")
    assert [(m.rule, m.hours) for m in at_age.sentences[1].mentions] == [("at age", 0.0)]
    future = DatedText("A 25-year-old woman. At the age of 30 she had lupus.")
    assert future.sentences[1].mentions == ()


def test_an_undatable_phrase_leaves_the_later_phrases_of_its_sentence():
    text = "A 45-year-old man. At the age of 50 he had a rash 3 days ago."
    assert [m.rule for m in DatedText(text).sentences[1].mentions] == ["ago"]
    assert hours_of(text, "rash") == -3 * DAY


def test_a_life_stage_without_an_age_is_the_history_default():
    assert hours_of("She has had asthma since childhood.", "asthma") == -YEAR
    text = "She has had asthma since childhood. She has a history of gout."
    assert [hours_of(text, w) for w in ("asthma", "gout")] == [-YEAR, -YEAR]
    dated = DatedText(text, history_hours=-2 * YEAR)
    assert [dated.hours_at(text.index(w), text.index(w) + 4) for w in ("asthma", "gout")] == [-2 * YEAR, -2 * YEAR]


def test_the_patients_age_in_each_written_form():
    assert [patient_age(t) for t in ("aged 45", "a 45-year-old man", "45 yo man", "a 7 y/o girl", "no age here")] == [
        45.0, 45.0, 45.0, 7.0, None]


def test_a_mention_records_its_rule_span_and_kind():
    text = "Asthma; history of gout. Fever 3 days ago."
    dated = DatedText(text)
    assert [(s.start, s.end) for s in dated.sentences] == split_sentences(text) == [(0, 24), (25, 42)]
    history, ago = dated.sentences[0].mentions[0], dated.sentences[1].mentions[0]
    assert (history.start, history.end, history.hours, history.rule) == (8, 18, -YEAR, "history")
    assert (history.moves_clock, history.cue, history.ahead_only) == (False, True, True)
    assert (ago.start, ago.end, ago.hours, ago.rule) == (31, 41, -3 * DAY, "ago")
    assert (ago.moves_clock, ago.cue, ago.ahead_only) == (True, False, False)


def test_a_phrase_that_dates_only_what_follows_it_is_skipped_for_what_precedes_it():
    assert hours_of("Asthma; history of gout.", "Asthma") == 0.0
    assert hours_of("Asthma; history of gout.", "gout") == -YEAR
    # and the phrases after it are still read
    assert hours_of("Asthma and a history of gout began 3 days ago.", "Asthma") == -3 * DAY


def test_a_span_right_after_a_history_cue_is_after_it():
    text = "History of asthma."
    assert DatedText(text).dated_at(len("History of"), len(text) - 1) == (-YEAR, False)


def test_a_span_before_the_first_sentence_is_at_admission():
    assert DatedText("\n\nFever 3 days ago.").dated_at(0, 1) == (0.0, False)
    assert DatedText("\n\nFever 3 days ago.").dated_at(2, 7) == (-3 * DAY, True)


@pytest.mark.parametrize("text, sentences", [
    ("Seen by X. Smith today. She was admitted.", ["Seen by X. Smith today.", "She was admitted."]),  # an initial
    ("Fever. ... She was admitted.", ["Fever.", "...", "She was admitted."]),
    ("Stage A\nShe was admitted.", ["Stage A", "She was admitted."]),  # a line break always ends a sentence
    ("Seen by Dr.\nSmith.", ["Seen by Dr.", "Smith."]),
    ("He is up. She was admitted.", ["He is up.", "She was admitted."]),  # two letters are a word, not an initial
    ("See (e.g. Fig. 2) above. Next.", ["See (e.g. Fig. 2) above.", "Next."]),
])
def test_sentence_ends(text, sentences):
    assert sentences_of(text) == sentences


def test_a_rule_matches_whole_words_ignoring_case():
    rule = Rule("test", ("chest pain", r"day\s+\d"), lambda m, s: 1.0)
    text = "CHEST PAIN, chest painful, on Day 3 and day 34."
    assert [m[0] for m in rule.finditer(text)] == ["CHEST PAIN", "Day 3"]
    assert len(rule.regexes) == 2
