"""Pieces a task puts on top of a backbone: time encodings, pooling, the classification MLP."""

from __future__ import annotations

import math

import torch
from torch import nn

from cts.data.time_bins import N_PAPER_BINS, PAPER_BIN_EDGES

TIME_ENCODINGS = ("none", "bins", "sinusoidal", "loghours")


class TimeEncoding(nn.Module):
    """Encodes hours since admission: the authors' 9-bin embedding (``bins``), a fixed sinusoidal code of signed
    log-hours (``sinusoidal``: smooth, no bin edges, handles years before admission), that code with the signed
    log-hours itself as its first feature (``loghours``: "is the first event earlier than the second's typical time"
    is then one threshold, learnable by a linear layer), or nothing (``none``)."""

    def __init__(self, kind: str = "bins", dim: int = 50):
        super().__init__()
        if kind not in TIME_ENCODINGS:
            raise ValueError(f"time_encoding must be one of {TIME_ENCODINGS}, got {kind!r}")
        self.kind = kind
        self.dim = 0 if kind == "none" else int(dim)
        if kind == "bins":
            self.embedding = nn.Embedding(N_PAPER_BINS, self.dim)
            self.register_buffer("edges", torch.tensor(PAPER_BIN_EDGES, dtype=torch.float32), persistent=False)
        elif kind in ("sinusoidal", "loghours"):
            # Periods of the log-hour code span 0.5 … ~40 log-units (a fraction of an hour … decades).
            frequencies = torch.exp(torch.linspace(math.log(2 * math.pi / 0.5), math.log(2 * math.pi / 40),
                                                   (self.dim + 1) // 2))
            self.register_buffer("frequencies", frequencies, persistent=False)

    def forward(self, hours: torch.Tensor) -> torch.Tensor:
        hours = hours.float()
        if self.kind == "none":
            return hours.new_zeros(hours.shape[0], 0)
        if self.kind == "bins":  # same left-closed edges as cts.data.time_bins.time_bin
            return self.embedding(torch.bucketize(hours, self.edges, right=True))
        log_hours = torch.sign(hours) * torch.log1p(hours.abs())
        x = log_hours[:, None] * self.frequencies[None, :]
        code = torch.cat([torch.sin(x), torch.cos(x)], dim=-1)
        if self.kind == "sinusoidal":
            return code[:, : self.dim]
        return torch.cat([log_hours[:, None] / 10, code], dim=-1)[:, : self.dim]  # /10: |log-hours| < ~12


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str, pooler_output=None) -> torch.Tensor:
    """One vector per sequence: ``cls`` (first token), ``pooler`` (BERT's pooler), ``last`` (last non-pad token,
    for causal models with right padding) or ``mean`` (over non-pad tokens)."""
    if mode == "cls":
        return hidden[:, 0]
    if mode == "pooler":
        if pooler_output is None:
            raise ValueError("pooling=pooler needs a backbone with a pooler (BERT); use cls, last or mean")
        return pooler_output
    if mode == "last":
        last = attention_mask.sum(dim=1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def segment_means(hidden: torch.Tensor, segment_ids: torch.Tensor, segment_hours: torch.Tensor):
    """Per event (segment ``k`` = 1, 2, …; 0 = special or pad tokens): the mean of its tokens' states ``(B, E, H)``,
    its hours ``(B, E)`` and whether the row has it ``(B, E)``."""
    n_events = int(segment_ids.max()) if segment_ids.numel() else 0
    member = nn.functional.one_hot(segment_ids.long(), n_events + 1)[..., 1:].to(hidden.dtype).transpose(1, 2)
    counts = member.sum(-1)
    vectors = member @ hidden / counts.clamp(min=1)[..., None]
    hours = (member @ segment_hours.to(hidden.dtype)[..., None]).squeeze(-1) / counts.clamp(min=1)
    return vectors, hours, counts > 0


class EventSum(nn.Module):
    """Events → one vector: each event's vector beside an encoding of its own hours, one layer per event, summed over
    the events. A sum can count ("three acute findings") and the per-event hours say when each happened ("symptoms
    for ten days before admission", "history older than a month"), which one pooled vector of the text reads poorly.
    ``reduce=sum_max`` adds the maximum over the events of each feature: a sum cannot say which event is the most
    extreme ("the longest-running symptom", "the earliest treatment"), a maximum can."""

    SCALE = 10.0  # the sum over the ~10–30 events of an admission, kept near a unit's scale
    REDUCTIONS = ("sum", "sum_max")

    def __init__(self, in_features: int, dim: int = 64, time_encoding: str = "loghours", time_dim: int = 16,
                 dropout: float = 0.1, reduce: str = "sum"):
        super().__init__()
        if reduce not in self.REDUCTIONS:
            raise ValueError(f"event reduction must be one of {self.REDUCTIONS}, got {reduce!r}")
        self.time = TimeEncoding(time_encoding, time_dim)
        self.reduce = reduce
        self.dim = int(dim) * (2 if reduce == "sum_max" else 1)
        self.net = nn.Sequential(nn.Linear(in_features + self.time.dim, int(dim)), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, vectors: torch.Tensor, hours: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        if hours.shape[1] == 0:  # a batch of admissions without events
            return vectors.new_zeros(hours.shape[0], self.dim)
        codes = self.time(hours.reshape(-1)).reshape(*hours.shape, -1).to(vectors.dtype)
        per_event = self.net(torch.cat([vectors, codes], dim=-1)) * present[..., None].to(vectors.dtype)
        summed = per_event.sum(dim=1) / self.SCALE
        # features are ReLU outputs (≥ 0), so an absent event's 0 never exceeds a present one's
        return summed if self.reduce == "sum" else torch.cat([summed, per_event.amax(dim=1)], dim=-1)


class ClassificationHead(nn.Module):
    """The authors' head: [pooled text ; time encoding] → Linear(hidden) → ReLU → dropout → Linear(classes)."""

    def __init__(self, in_features: int, n_classes: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
