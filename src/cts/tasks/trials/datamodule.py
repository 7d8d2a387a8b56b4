"""Trial-matching rows: (topic text, trial text) pairs with their grade, topics split into folds (``data.fold`` is
test, the next fold validation, the rest train), so no topic is in two splits. Validation and test rank either the
judged trials of each topic (``candidates=judged``) or every trial of the corpus, unjudged ones as grade 0
(``candidates=corpus``); training always uses the judged pairs."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from cts.tasks.textpair import TextPairDataModule
from cts.tasks.trials.load import (
    GRADES,
    SkipReport,
    TrialsDataError,
    candidate_pairs,
    judged_pairs,
    read_corpus,
    read_qrels,
    read_topics,
    split_topics,
    topic_folds,
)

log = logging.getLogger(__name__)
CANDIDATES = ("judged", "corpus")


class TrialsDataModule(TextPairDataModule):
    task = "trials"
    labels = GRADES

    def __init__(self, *args, topics: str | None = None, qrels: str | None = None, corpus: str | None = None,
                 fold: int = 0, n_folds: int = 5, split_seed: int = 0, candidates: str = "judged", **kwargs):
        super().__init__(*args, **kwargs)
        if not (topics and qrels and corpus):
            raise TrialsDataError("task=trials needs data=trials (data.topics, data.qrels, data.corpus)")
        if candidates not in CANDIDATES:
            raise TrialsDataError(f"task.candidates must be one of {CANDIDATES}, got {candidates!r}")
        self.topics_path, self.qrels_path, self.corpus_path = Path(topics), Path(qrels), Path(corpus)
        self.fold, self.n_folds, self.split_seed, self.candidates = int(fold), int(n_folds), int(split_seed), candidates
        self.report = SkipReport()
        self.topics: dict[str, str] = {}
        self.trials: dict[str, str] = {}

    def source_files(self) -> list[Path]:
        return [self.topics_path, self.qrels_path, self.corpus_path]

    def split_params(self) -> tuple:
        return (self.fold, self.n_folds, self.split_seed, self.candidates)

    def load_splits(self) -> dict[str, pd.DataFrame]:
        self.report = SkipReport()
        self.topics = read_topics(self.topics_path)
        self.trials = read_corpus(self.corpus_path, self.report)
        pairs = judged_pairs(self.topics, read_qrels(self.qrels_path), self.trials, self.report)
        log.info("trials %s: %d judged pairs over %d topics kept; skipped: %s", self.qrels_path, len(pairs),
                 pairs["topic"].nunique(), self.report.line())
        roles = split_topics(topic_folds(sorted(set(pairs["topic"])), self.n_folds, self.split_seed), self.fold,
                             self.n_folds)
        out = {}
        for split in ("train", "val", "test"):
            chosen = sorted(t for t, role in roles.items() if role == split)
            if split != "train" and self.candidates == "corpus":
                rows = candidate_pairs(pairs, chosen, self.trials)
            else:
                rows = pairs[pairs["topic"].isin(chosen)].sort_values(["topic", "trial"])
            out[split] = rows.assign(group=rows["topic"], label=rows["grade"], first=rows["topic"].map(self.topics),
                                     second=rows["trial"].map(self.trials)).reset_index(drop=True)
        return out
