"""task=pubmedqa without its data config is refused, naming data=pubmedqa."""

import pytest

from cts.training.run import train
from tests.training.helpers import compose_train


def test_pubmedqa_needs_its_data_config(tmp_path):
    cfg = compose_train(["task=pubmedqa", "model.preset=tiny", f"paths.cache_dir={tmp_path}"], tmp_path)
    with pytest.raises(Exception, match="task=pubmedqa needs data=pubmedqa"):
        train(cfg)
