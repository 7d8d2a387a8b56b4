"""Relation baselines on hand-made pairs whose answers are worked out by hand (train: the fitting rows; test: the
rows scored), and the bootstrap statistics they are scored with."""

import numpy as np
import pandas as pd
import pytest

from cts.bootstrap import ClusterBootstrap
from cts.tasks.relation.baselines import (
    logreg_bow,
    majority,
    median_hours,
    median_hours_by_name,
    predict_baselines,
    time_bin_majority,
)
from cts.tasks.relation.build import LABELS
from cts.training.evaluation import classification_statistics

COLUMNS = ["hadm_id", "event_a", "event_b", "time_a", "time_b", "label"]
SAME, AFTER, BEFORE = 0, 1, 2

# Labels: same ×2, after ×3, before ×2 → majority "after". Bin 4 (0 <= t < 15): same, after, same, before → "same".
# Bin 0 (t < -60): after, before, after → "after". Medians of names, each (admission, event, time) counted once:
# cough 0 (0, 0, 0), fever 0, rash 5 (5, 3, 7), old stroke -100, diabetes -200.
TRAIN = pd.DataFrame([
    (1, "cough", "fever", 0, 0, SAME),
    (1, "fever", "rash", 0, 5, AFTER),
    (2, "cough", "fever", 0, 0, SAME),
    (2, "rash", "cough", 3, 0, BEFORE),
    (3, "old stroke", "cough", -100, 0, AFTER),
    (3, "old stroke", "diabetes", -100, -200, BEFORE),
    (3, "diabetes", "rash", -200, 7, AFTER),
], columns=COLUMNS)

TEST = pd.DataFrame([
    (9, "cough", "rash", 0, 1, AFTER),            # medians 0 → 5: after
    (9, "rash", "fever", 0, 1, AFTER),            # 5 → 0: before
    (9, "fever", "cough", 0, 0, SAME),            # 0 → 0: same
    (9, "unknown thing", "cough", -100, 0, AFTER),  # unknown name: bin 0 → after
    (8, "cough", "never seen", 0, 0, SAME),       # unknown name: bin 4 → same
    (8, "old stroke", "diabetes", 0, 0, SAME),    # -100 → -200: before
    (8, "cough", "fever", 200, 0, BEFORE),        # bin 8 never seen in train: the majority label
], columns=COLUMNS)


def test_majority_is_the_most_frequent_train_label():
    assert majority(TRAIN, TEST).tolist() == [AFTER] * len(TEST)


def test_majority_ties_go_to_the_lowest_label():
    assert majority(TRAIN.iloc[:4], TEST).tolist() == [SAME] * len(TEST)  # same ×2, after ×1, before ×1


def test_time_bin_majority_per_bin_of_the_first_event():
    assert time_bin_majority(TRAIN, TEST).tolist() == [SAME, SAME, SAME, AFTER, SAME, SAME, AFTER]


def test_median_hours_count_each_event_once():
    medians = median_hours_by_name(TRAIN)
    assert medians.to_dict() == {"cough": 0, "diabetes": -200, "fever": 0, "old stroke": -100, "rash": 5}
    doubled = pd.concat([TRAIN, pd.DataFrame([(1, "rash", "fever", 5, 0, BEFORE)], columns=COLUMNS)])
    assert median_hours_by_name(doubled)["rash"] == 5  # (1, rash, 5) again: still one occurrence of 5, 3, 7


def test_median_hours_rule_with_the_bin_rule_for_unknown_names():
    assert median_hours(TRAIN, TEST).tolist() == [AFTER, BEFORE, SAME, AFTER, SAME, BEFORE, SAME]


def test_logistic_regression_reads_both_events_and_the_first_bin():
    # The second event's words decide the label; a first event at -100 h (bin 0) always means "after".
    rows = []
    for first in ("cough", "fever", "rash", "nausea"):
        for second, label in (("pain later", AFTER), ("pain earlier", BEFORE), ("pain now", SAME)):
            rows += [(1, first, second, 5, 0, label)] * 3
        rows += [(2, first, "pain now", -100, 0, AFTER)] * 3
    train = pd.DataFrame(rows, columns=COLUMNS)
    test = pd.DataFrame([(3, "headache", "pain later", 5, 0, AFTER), (3, "headache", "pain earlier", 5, 0, BEFORE),
                         (3, "cough", "pain now", 5, 0, SAME), (3, "cough", "pain now", -100, 0, AFTER)],
                        columns=COLUMNS)
    assert logreg_bow(train, test).tolist() == [AFTER, BEFORE, SAME, AFTER]


def test_every_baseline_predicts_each_test_row():
    predictions = predict_baselines(TRAIN, TEST)
    assert set(predictions) == {"majority", "time_bin", "median_hours", "logreg_bow"}
    assert all(p.shape == (len(TEST),) and p.dtype == np.int64 for p in predictions.values())


def test_classification_statistics_match_counts_by_hand():
    truth = np.array([SAME, SAME, AFTER, BEFORE])
    predicted = np.array([SAME, AFTER, AFTER, AFTER])
    stats = classification_statistics(predicted, truth, LABELS)
    boot = ClusterBootstrap(np.array([1, 1, 2, 3]), n_resamples=50, seed=0)
    # same: tp 1, predicted 1, true 2 → F1 2/3; after: tp 1, predicted 3, true 1 → 1/2; before: 0
    expected = {"acc": 0.5, "f1_same": 2 / 3, "f1_after": 0.5, "f1_before": 0.0, "macro_f1": (2 / 3 + 0.5) / 3}
    for name, value in expected.items():
        assert stats[name](boot)[0] == pytest.approx(value), name
