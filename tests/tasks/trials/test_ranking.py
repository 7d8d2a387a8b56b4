"""Per-topic ranking metrics on a hand-computed example. (The document BM25 that ranks the trials baseline is tested
in tests/retrieval/test_bm25.py.)"""

import numpy as np
import pytest

from cts.bootstrap import ClusterBootstrap
from cts.tasks.trials.ranking import per_topic, ranking_statistics


def test_ranking_metrics_on_a_hand_computed_example():
    # topic a: ranked by score → grades 0, 2, 1; topic b: nothing relevant (left out); topic c: relevant first
    topics = ["a", "a", "a", "b", "b", "c", "c"]
    grades = [0, 2, 1, 0, 0, 1, 0]
    scores = [0.9, 0.5, 0.1, 0.3, 0.2, 0.8, 0.1]
    ranked, unranked = per_topic(topics, grades, scores)
    assert unranked == 1 and list(ranked["topic"]) == ["a", "c"]
    dcg = 2 / np.log2(3) + 1 / np.log2(4)
    ideal = 2 / np.log2(2) + 1 / np.log2(3)
    a = ranked.iloc[0]
    assert a["ndcg10"] == pytest.approx(dcg / ideal) and a["p10"] == pytest.approx(0.2) and a["mrr"] == 0.5
    c = ranked.iloc[1]
    assert (c["ndcg10"], c["p10"], c["mrr"]) == pytest.approx((1.0, 0.1, 1.0))
    statistics = ranking_statistics(topics, grades, scores)
    boot = ClusterBootstrap(topics, n_resamples=50)
    assert statistics["ndcg10"](boot)[0] == pytest.approx((dcg / ideal + 1) / 2)
    assert statistics["mrr"](boot)[0] == pytest.approx(0.75)
    resampled = statistics["p10"](boot)[1:]
    resampled = resampled[np.isfinite(resampled)]  # a resample of topic b alone ranks nothing
    assert np.all((resampled > 0.1 - 1e-6) & (resampled < 0.2 + 1e-6))  # between topic c's and topic a's

