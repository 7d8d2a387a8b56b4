"""Retrieval test fixtures."""

import pytest

from cts.retrieval.retriever import Retriever

from .helpers import QUERIES


@pytest.fixture(scope="session")
def bm25_retriever():
    return Retriever(mode="bm25", queries=QUERIES, top_k=10)
