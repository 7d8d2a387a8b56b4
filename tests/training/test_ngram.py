"""The Kneser–Ney event model (``cts.training.ngram``): each level and the prediction against values worked out by
hand."""

import math

import pytest

from cts.training.ngram import UNK, KneserNey, predict


def toy_kn():
    return KneserNey([["a", "b"], ["a", "c"], ["b", "c"]], order=2, discount=0.5)


def test_kneser_ney_unigram_level_is_continuation_counts_interpolated_with_uniform():
    # continuation counts N1+(• w): a after <s> → 1; b after <s>, a → 2; c after a, b → 2 (total 5, 3 distinct);
    # P1(w) = max(N - 0.5, 0) / 5 + 0.5 * 3 / 5 * 1/4 (vocabulary a, b, c, <unk>)
    model = toy_kn()
    assert model.vocabulary == ["a", "b", "c", UNK]
    unigram = dict(zip(model.vocabulary, model.distribution(["zzz"])))  # unseen context: the unigram level
    assert unigram == pytest.approx({"a": 0.175, "b": 0.375, "c": 0.375, UNK: 0.075})


def test_kneser_ney_bigram_level_by_hand():
    model = toy_kn()
    # after a: c(a b) = c(a c) = 1, c(a •) = 2, 2 distinct: (1 - 0.5)/2 + 0.5 * 2/2 * P1(w)
    after_a = dict(zip(model.vocabulary, model.distribution(["a"])))
    assert after_a == pytest.approx({"a": 0.0875, "b": 0.4375, "c": 0.4375, UNK: 0.0375})
    # at the start: <s> → a twice, b once: c = 3, 2 distinct
    start = dict(zip(model.vocabulary, model.distribution([])))
    assert start == pytest.approx({"a": 1.5 / 3 + 0.175 / 3, "b": 0.5 / 3 + 0.375 / 3, "c": 0.375 / 3,
                                   UNK: 0.075 / 3})
    assert model.log2_probability(["a"], "never seen") == pytest.approx(math.log2(0.0375))  # the unknown bucket


def test_kneser_ney_predict_excludes_seen_events_and_never_names_the_unknown_bucket():
    events, distribution = predict(toy_kn(), ["a"], k=3, exclude=["b"])
    assert events == ["c", "a"]  # b removed; <unk> never ranked
    assert distribution.sum() == pytest.approx(1.0) and distribution[1] == 0.0
    assert distribution[2] == pytest.approx(0.4375 / (1 - 0.4375))
