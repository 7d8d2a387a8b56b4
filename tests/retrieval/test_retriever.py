"""BM25 puts event chunks above boilerplate (the scores themselves: test_bm25.py); fusion arithmetic; selection;
dense and cascade with the real model."""

import numpy as np
import pytest

from cts.data.notes import Note
from cts.retrieval.chunking import Chunker
from cts.retrieval.fusion import ranks, reciprocal_rank_fusion, select
from cts.retrieval.retriever import QuerySet, Retriever, load_queries

from .helpers import NOTE, QUERIES


def _note(text=NOTE):
    return Note("1-DS-1", 1, text)


def test_bm25_ranks_the_event_chunk_above_boilerplate(bm25_retriever):  # noqa: F811
    chunks = Chunker()(NOTE)
    (result,) = bm25_retriever.rank([bm25_retriever.lexical(_note(), chunks)])
    kept = [NOTE[slice(*chunks.span(c))] for c in result.kept]
    boilerplate = [c for c in range(len(chunks)) if "pleasure" in NOTE[slice(*chunks.span(c))]]
    assert any("chest pain" in k or "aspirin" in k for k in kept[:3])
    assert result.score[boilerplate[0]] < result.score[result.kept[0]]
    assert result.query[result.kept[0]] in {"symptoms", "medications", "diagnoses"}
    assert np.isnan(result.dense).all() and bm25_retriever.encoder is None  # bm25 mode loads no model


def test_an_unknown_bm25_engine_is_refused():
    with pytest.raises(ValueError, match="retrieval.bm25_engine must be one of"):
        Retriever(mode="bm25", queries=QUERIES, bm25_engine="lucene")


def test_ranks_break_ties_by_position_and_skip_invalid():
    r = ranks(np.array([1.0, 3.0, 3.0, 0.5]), np.array([True, True, True, False]))
    assert r.tolist() == [3.0, 1.0, 2.0, np.inf]


def test_reciprocal_rank_fusion_arithmetic():
    bm25_rank = np.array([1.0, 2.0, np.inf])
    dense_rank = np.array([2.0, 1.0, 3.0])
    fused = reciprocal_rank_fusion([bm25_rank, dense_rank], [1.0, 0.5], k=60)
    assert fused == pytest.approx([1 / 61 + 0.5 / 62, 1 / 62 + 0.5 / 61, 0.5 / 63])
    with pytest.raises(ValueError, match="2 rank lists but 1 weights"):
        reciprocal_rank_fusion([bm25_rank, dense_rank], [1.0])


def test_select_by_top_k_and_threshold():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.0])
    eligible = scores > 0
    assert select(scores, eligible, 2, None).tolist() == [1, 3]
    assert select(scores, eligible, None, 0.5).tolist() == [1, 3, 2]
    assert select(scores, eligible, 10, None).tolist() == [1, 3, 2, 0]  # never a chunk nothing matched


def test_query_files_load_and_bad_ones_are_named(tmp_path):
    sets = load_queries(QUERIES)
    assert {s.name for s in sets} >= {"symptoms", "diagnoses", "medications", "procedures", "labs", "temporal"}
    assert "breath" in QuerySet("x", ("shortness of breath",)).terms and "of" not in QuerySet("x", ("of",)).terms
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nqueries: chest pain\n")
    with pytest.raises(ValueError, match="bad.yaml: field 'queries' must be a non-empty list"):
        load_queries(bad)
    with pytest.raises(FileNotFoundError, match="no query files"):
        load_queries(tmp_path / "none")
    with pytest.raises(ValueError, match="retrieval.mode must be one of"):
        Retriever(mode="bm42", queries=QUERIES)


@pytest.fixture(scope="module")
def cascade():
    return Retriever(mode="cascade", queries=QUERIES, cascade_top_n=4, top_k=3, batch_size=32)


def test_cascade_embeds_only_the_bm25_top_n(cascade):
    chunks = Chunker()(NOTE)
    lexical = cascade.lexical(_note(), chunks)
    assert len(lexical.embed) == 4 < len(chunks)
    assert set(lexical.embed) <= set(np.flatnonzero(lexical.bm25 > 0))
    (result,) = cascade.rank([lexical])
    assert cascade.encoder.encoded == 4  # query phrases are not counted
    assert (~np.isnan(result.dense)).sum() == 4 and len(result.kept) == 3
    assert set(result.kept) <= set(lexical.embed) | set(np.flatnonzero(lexical.bm25 > 0))


def test_dense_and_hybrid_share_the_loaded_model_and_rank_events_first(cascade):
    hybrid = Retriever(mode="hybrid", queries=QUERIES, top_k=5)
    hybrid.encoder = cascade.encoder  # same model, loaded once for the module
    chunks = Chunker()(NOTE)
    before = cascade.encoder.encoded
    (result,) = hybrid.rank([hybrid.lexical(_note(), chunks)])
    assert cascade.encoder.encoded - before == len(chunks)  # every chunk embedded
    boilerplate = next(c for c in range(len(chunks)) if "pleasure" in NOTE[slice(*chunks.span(c))])
    assert result.dense[result.kept[0]] > result.dense[boilerplate]
    assert result.score[result.kept[0]] == pytest.approx(
        1 / (60 + ranks(result.lexical.bm25, result.lexical.bm25 > 0)[result.kept[0]])
        + 1 / (60 + ranks(result.dense)[result.kept[0]]))
