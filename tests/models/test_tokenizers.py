"""Trained tokenizers and what every tokenizer gets: task tokens and whole-phrase (event) tokens."""

from __future__ import annotations

import pytest

from cts.models.tokenizers import prepare_tokenizer, train_tokenizer

TEXTS = ["[TIME] 0 [EVENT] productive cough\n[TIME] 3 [EVENT] cough\n[TIME] 9 [EVENT] discharged home",
         "[TIME] -48 [EVENT] chills\n[TIME] 0 [EVENT] discharged home with services"] * 20
WORDS = ["cough", "productive cough", "discharged home", "discharged home with services"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def bpe(cache):
    """A fresh copy of one trained tokenizer (trained once, then loaded from the cache)."""
    return train_tokenizer("bpe", lambda: TEXTS, 300, "tokenizer-test", cache)


def pieces(tokenizer, text: str) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_each_word_token_is_one_token_and_the_longest_leftmost_phrase_wins(bpe):
    tokenizer = prepare_tokenizer(bpe, ["[TIME]", "[EVENT]"], word_tokens=WORDS)
    tokens = pieces(tokenizer, "[TIME] 0 [EVENT] productive cough\n[TIME] 9 [EVENT] discharged home with services")
    assert "productive cough" in tokens and "cough" not in tokens  # not "productive" + "cough"
    assert "discharged home with services" in tokens and "discharged home" not in tokens
    assert pieces(tokenizer, "[EVENT] cough")[-1] == "cough"


def test_word_tokens_match_whole_words_only_and_text_round_trips(bpe):
    tokenizer = prepare_tokenizer(bpe, ["[TIME]", "[EVENT]"], word_tokens=WORDS)
    for text in ("[TIME] 5 [EVENT] coughing fits", "[TIME] 0 [EVENT] severe cough", "[TIME] 1 [EVENT] cough\n"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text  # an unseen event is spelled in pieces, never lost or glued
    assert "cough" not in pieces(tokenizer, "[TIME] 5 [EVENT] coughing fits")  # inside a longer word: no match
    assert "cough" in pieces(tokenizer, "[TIME] 0 [EVENT] severe cough")  # a whole word of an unseen phrase


def test_word_tokens_are_ordinary_tokens_added_once(bpe, cache):
    before = len(prepare_tokenizer(train_tokenizer("bpe", lambda: TEXTS, 300, "tokenizer-test", cache),
                                   ["[TIME]", "[EVENT]"]))
    tokenizer = prepare_tokenizer(bpe, ["[TIME]", "[EVENT]"], word_tokens=[*WORDS, "cough", " ", ""])
    assert len(tokenizer) == before + len(WORDS)  # duplicates and blank phrases are not tokens
    word_id = tokenizer.convert_tokens_to_ids("cough")
    assert word_id not in tokenizer.all_special_ids  # decoded with skip_special_tokens=True too
    assert tokenizer.decode([word_id], skip_special_tokens=True) == "cough"


def test_an_unknown_tokenizer_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tokenizer kind must be one of"):
        train_tokenizer("sentencepiece", lambda: TEXTS, 300, "k", tmp_path)
