"""Chunk boundaries and offsets round-trip to the source text; context windows and neighbours at note edges."""

import numpy as np
import pytest

from cts.retrieval.chunking import Chunker, squash, terms

from .helpers import NOTE


def test_chunks_round_trip_to_the_source_text():
    chunker = Chunker()
    chunks = Chunker()(NOTE)
    assert len(chunks) > 5
    words = []
    for c in range(len(chunks)):
        start, end = chunks.span(c)
        piece = NOTE[start:end]
        assert piece == piece.strip() and piece  # starts and ends on a token
        words += [w for w in piece.split() if set(w) != {"_"}]
        assert len([w for w in piece.split() if set(w) != {"_"}]) <= chunker.size
    # Every body word is in exactly one chunk, in order; headers and ___ placeholders are in none.
    headers = ["Admission Date:", "Chief Complaint:", "History of Present Illness:", "Discharge Instructions:"]
    body = NOTE
    for header in headers:
        body = body.replace(header, "")
    body = [w for w in body.split() if set(w) != {"_"}]
    assert words == body


def test_placeholders_and_headers_are_not_tokens():
    chunks = Chunker()(NOTE)
    tokens = [NOTE[s:e] for s, e in zip(chunks.tok_start, chunks.tok_end)]
    assert "___" not in tokens and "Complaint:" not in tokens and "Illness:" not in tokens
    assert tokens[:2] == ["Name:", "Unit"]  # single-word "Name:" followed by text is not a header
    sections = [chunks.sections[s] for s in chunks.section]
    assert sections[0] == "" and "Chief Complaint" in sections and sections[-1] == "Discharge Instructions"


def test_chunks_do_not_straddle_sections():
    chunks = Chunker()("Chief Complaint:\none two three\nDischarge Diagnosis:\nfour five six seven eight nine ten")
    assert [chunks.sections[s] for s in chunks.section] == ["Chief Complaint", "Discharge Diagnosis",
                                                             "Discharge Diagnosis"]
    assert [chunks.text[slice(*chunks.span(c))] for c in range(len(chunks))] == [
        "one two three", "four five six seven eight", "nine ten"]


def test_context_windows_clip_at_note_edges():
    text = " ".join(f"w{i}" for i in range(23))
    chunks = Chunker(size=5, context=5, neighbours=2)(text)
    assert len(chunks) == 5 and list(chunks.hi - chunks.lo) == [5, 5, 5, 5, 3]
    first, last = 0, len(chunks) - 1
    assert text[slice(*chunks.context_span(first))].split() == [f"w{i}" for i in range(10)]
    assert text[slice(*chunks.context_span(2))].split() == [f"w{i}" for i in range(5, 20)]
    assert text[slice(*chunks.context_span(last))].split() == [f"w{i}" for i in range(15, 23)]
    assert text[slice(*chunks.neighbour_span(first))].split() == [f"w{i}" for i in range(15)]
    assert text[slice(*chunks.neighbour_span(last))].split() == [f"w{i}" for i in range(10, 23)]
    assert text[slice(*chunks.neighbour_span(2))] == text


def test_context_terms_follow_the_context_window():
    text = "Discharge Medications:\naspirin the daily\n___ metoprolol tartrate 25 mg"
    chunks = Chunker(size=2, context=1, neighbours=0)(text)
    docs = chunks.context_terms()
    assert len(docs) == len(chunks) == 4
    # section terms first, then the window's terms without stopwords ("the") or placeholders
    assert docs[0] == ["discharge", "medications", "aspirin", "daily"]
    assert docs[1] == ["discharge", "medications", "daily", "metoprolol", "tartrate"]
    assert chunks.context_text(1) == "Discharge Medications: the daily metoprolol tartrate"


def test_unicode_offsets_survive_case_folding():
    text = "İstanbul fever ünd Ärger chest pain"
    chunks = Chunker(size=2, context=0, neighbours=0)(text)
    assert [text[slice(*chunks.span(c))] for c in range(len(chunks))] == ["İstanbul fever", "ünd Ärger", "chest pain"]
    assert chunks.context_terms()[0][-1] == "fever"


def test_empty_and_placeholder_only_text_has_no_chunks():
    assert len(Chunker()("")) == 0 and len(Chunker()("  ___ \n ___  ")) == 0


@pytest.mark.parametrize("bad", [{"size": 0}, {"context": -1}, {"neighbours": -2}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="chunk.size"):
        Chunker(**bad)


def test_terms_and_squash():
    assert terms("The patient's BP was 120/80 and NO fever") == ["patient", "s", "bp", "120", "80", "fever"]
    assert squash("a\n\n  ___  b\tc") == "a b c"
    assert isinstance(Chunker()(NOTE).tok_start, np.ndarray)


def test_settings_name_each_field_with_its_value():
    assert Chunker(size=7, context=3, neighbours=2).settings() == {"size": 7, "context": 3, "neighbours": 2}
