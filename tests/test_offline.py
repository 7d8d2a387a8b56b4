"""Offline models are located in one place (``cts.offline``)."""

from pathlib import Path

import pytest

from cts.offline import SMOLLM2_GGUF, offline_gguf, offline_model


def test_offline_models_are_located_in_one_place():
    assert (Path(offline_model("bert")) / "config.json").is_file()
    assert offline_gguf("llama") == SMOLLM2_GGUF and (Path(offline_model("llama")) / SMOLLM2_GGUF).is_file()
    assert offline_gguf("bert") is None
    with pytest.raises(ValueError, match="no offline model for 'gpt'"):
        offline_model("gpt")
