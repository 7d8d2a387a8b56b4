"""The classical baseline beside every risk model: bag of events (which event names occur before the prediction
time) + logistic regression, fitted on the train split, scored on the model's test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression


def _event_names(events) -> list[str]:
    return [" ".join(str(e).lower().split()) for e in events]


class BagOfEventsBaseline:
    """Binary event-name indicators → L2 logistic regression (``balanced`` class weights unless ``imbalance=none``)."""

    def __init__(self, imbalance: str = "weighted", c: float = 1.0, seed: int = 0):
        self.vectorizer = CountVectorizer(analyzer=_event_names, binary=True)
        self.model = LogisticRegression(C=c, max_iter=2000, random_state=seed,
                                        class_weight=None if imbalance == "none" else "balanced")

    def fit(self, frame: pd.DataFrame) -> BagOfEventsBaseline:
        labels = frame["label"].to_numpy()
        if len(np.unique(labels)) < 2:
            raise ValueError("the bag-of-events baseline needs both outcomes in the train split")
        self.model.fit(self.vectorizer.fit_transform(frame["events"]), labels)
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self.vectorizer.transform(frame["events"]))[:, 1]
