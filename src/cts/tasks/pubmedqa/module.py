"""PubMedQA classifier: accuracy (monitored) and macro-F1 beside the majority class of the train folds."""

from __future__ import annotations

from cts.tasks.textpair import TextPairModule, majority_statistics


class PubMedQAModule(TextPairModule):
    def baselines(self, datamodule, rows):
        return {"majority": majority_statistics(datamodule.frames["train"], rows, self.labels)}
