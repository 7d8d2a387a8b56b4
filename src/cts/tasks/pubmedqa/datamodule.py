"""PubMedQA rows for training: question × contexts (contexts cut first at ``model.max_length``), one fold of the
published protocol (``data.fold``), each item its own bootstrap cluster."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cts.tasks.pubmedqa.load import LABELS, PubMedQAError, fold_splits, read_pqal, read_splits
from cts.tasks.textpair import TextPairDataModule


class PubMedQADataModule(TextPairDataModule):
    task = "pubmedqa"
    labels = LABELS

    def __init__(self, *args, questions: str | None = None, splits: str | None = None, fold: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if not questions or not splits:
            raise PubMedQAError("task=pubmedqa needs data=pubmedqa (data.questions=ori_pqal.json, "
                                "data.splits=pqal_splits.json)")
        self.questions, self.splits, self.fold = Path(questions), Path(splits), int(fold)

    def source_files(self) -> list[Path]:
        return [self.questions, self.splits]

    def split_params(self) -> tuple:
        return (self.fold,)

    def load_splits(self) -> dict[str, pd.DataFrame]:
        parts = fold_splits(read_pqal(self.questions), read_splits(self.splits), self.fold, str(self.splits))
        return {split: frame.assign(group=frame["pmid"].astype("int64"), first=frame["question"],
                                    second=frame["context"]) for split, frame in parts.items()}
