"""Trial matching: pair classification into grades 0/1/2 (accuracy, macro-F1) and, from the model's relevance
score (the expected grade under its class probabilities), the ranking of each topic's trials: NDCG@10 (monitored),
P@10 and MRR. Baselines on the same rows: the majority grade of the train pairs, and BM25 (the project's own,
``cts.retrieval.bm25``) of the topic text against the trial texts, indexed over the whole corpus."""

from __future__ import annotations

import numpy as np

from cts.retrieval.bm25 import document_scores
from cts.retrieval.chunking import terms
from cts.tasks.textpair import TextPairModule, majority_statistics
from cts.tasks.trials.ranking import ranking_statistics, ranking_values


def relevance(probabilities: np.ndarray) -> np.ndarray:
    """Expected grade under the class probabilities (grade ids are the class ids)."""
    return probabilities @ np.arange(probabilities.shape[1], dtype=np.float64)


def bm25_relevance(rows, topics: dict[str, str], trials: dict[str, str]) -> np.ndarray:
    """BM25 of each row's topic text against its trial, the index being every trial of the corpus."""
    trial_ids = sorted(trials)
    topic_ids = sorted(set(rows["topic"]))
    matrix = document_scores([terms(trials[t]) for t in trial_ids], [terms(topics[t]) for t in topic_ids])
    trial_index = {t: i for i, t in enumerate(trial_ids)}
    topic_index = {t: i for i, t in enumerate(topic_ids)}
    return matrix[rows["trial"].map(trial_index).to_numpy(), rows["topic"].map(topic_index).to_numpy()]


class TrialsModule(TextPairModule):
    def __init__(self, *args, min_relevant: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_relevant = int(min_relevant)

    def _ranking(self, rows, scores, values: bool):
        function = ranking_values if values else ranking_statistics
        return function(rows["topic"].to_numpy(), rows["label"].to_numpy(), scores, min_relevant=self.min_relevant)

    def row_metrics(self, rows, probabilities):
        return self._ranking(rows, relevance(probabilities), values=True) if len(rows) else {}

    def statistics(self, rows, probabilities):
        return {**super().statistics(rows, probabilities), **self._ranking(rows, relevance(probabilities), False)}

    def baselines(self, datamodule, rows):
        bm25 = bm25_relevance(rows, datamodule.topics, datamodule.trials)
        return {"majority": majority_statistics(datamodule.frames["train"], rows, self.labels),
                "bm25": self._ranking(rows, bm25, values=False)}
