"""Relation baselines: what a model must beat to show it learned more than label frequencies and typical times.

Each is fitted on the train rows the model trained on and predicts a label for every scored test row:

- ``majority``: the most frequent train label.
- ``time_bin``: the most frequent train label per time bin of the first event (the authors' model's only time input).
- ``median_hours``: each event name's median train hours; the relation of the second event's median to the first's
  (equal = same). A pair with a name unseen in train falls back to ``time_bin``.
- ``logreg_bow``: scikit-learn logistic regression on binary bag-of-words of each event (separate vocabularies for
  the first and the second) plus the first event's time bin, one-hot.

Ties between equally frequent labels go to the lowest label id, so every baseline is deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from cts.data.time_bins import N_PAPER_BINS, time_bin
from cts.tasks.relation.build import LABELS


def relation_of(first_hours: np.ndarray, second_hours: np.ndarray) -> np.ndarray:
    """Label ids (same, after, before) of the second time relative to the first — the rule the pairs are built by."""
    first, second = np.asarray(first_hours, float), np.asarray(second_hours, float)
    return np.select([second == first, second > first], [0, 1], default=2).astype(np.int64)


def _mode(labels: pd.Series) -> int:
    return int(np.argmax(np.bincount(labels.to_numpy(np.int64), minlength=len(LABELS))))


def majority(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    return np.full(len(test), _mode(train["label"]), dtype=np.int64)


def time_bin_majority(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    by_bin = train.groupby(time_bin(train["time_a"].to_numpy()))["label"].agg(_mode)
    predicted = pd.Series(time_bin(test["time_a"].to_numpy())).map(by_bin)
    return predicted.fillna(_mode(train["label"])).to_numpy(np.int64)


def median_hours_by_name(train: pd.DataFrame) -> pd.Series:
    """Median hours of each event name over its train occurrences (an event in two pairs counts once)."""
    occurrences = pd.concat([
        train[["hadm_id", first, hours]].set_axis(["hadm_id", "event", "time"], axis=1)
        for first, hours in (("event_a", "time_a"), ("event_b", "time_b"))]).drop_duplicates()
    return occurrences.groupby("event")["time"].median()


def median_hours(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    medians = median_hours_by_name(train)
    first, second = test["event_a"].map(medians), test["event_b"].map(medians)
    predicted = relation_of(first.to_numpy(float), second.to_numpy(float))
    unknown = (first.isna() | second.isna()).to_numpy()
    return np.where(unknown, time_bin_majority(train, test), predicted)


def logreg_bow(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    vocabulary = CountVectorizer(binary=True).fit(pd.concat([train["event_a"], train["event_b"]]))

    def features(frame: pd.DataFrame):
        bins = np.eye(N_PAPER_BINS)[time_bin(frame["time_a"].to_numpy())]
        return hstack([vocabulary.transform(frame["event_a"]), vocabulary.transform(frame["event_b"]),
                       csr_matrix(bins)]).tocsr()

    model = LogisticRegression(max_iter=2000).fit(features(train), train["label"].to_numpy(np.int64))
    return model.predict(features(test)).astype(np.int64)


BASELINES = {"majority": majority, "time_bin": time_bin_majority, "median_hours": median_hours,
             "logreg_bow": logreg_bow}


def predict_baselines(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every baseline's predicted label ids for ``test`` (columns hadm_id, event_a, event_b, time_a, time_b,
    label of the relation dataset), fitted on ``train``."""
    return {name: baseline(train, test) for name, baseline in BASELINES.items()}
