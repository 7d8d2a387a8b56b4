"""Interpolated Kneser–Ney n-gram model over event sequences (Chen & Goodman 1998, §3.5, one discount per order).

Tokens are whole events (their compared form, ``normalize_event``); every sequence is padded on the left with
``order - 1`` ``<s>`` tokens. With ``c`` the counts of the highest order and ``N1+(• h w)`` the number of distinct
tokens seen before ``h w`` (continuation counts) for the lower ones:

    P_n(w | h) = max(c(h w) - D, 0) / c(h •)  +  D · N1+(h •) / c(h •) · P_{n-1}(w | h')      (c(h •) > 0)
    P_n(w | h) = P_{n-1}(w | h')                                                               (h unseen)

with ``c`` replaced by continuation counts below the highest order, and the unigram level interpolated with the
uniform distribution over the vocabulary (the train events and one unknown bucket ``<unk>``), so every event has a
probability: an event never seen in train is the unknown bucket. ``distribution(history)`` gives the whole
next-event distribution as one vector over the vocabulary (vectorized: one sparse update per order).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from cts.training.metrics import normalize_event

BOS, UNK = "<s>", "<unk>"


class KneserNey:
    def __init__(self, sequences: Iterable[Sequence[str]], order: int = 3, discount: float = 0.75):
        if order < 1 or not 0 < discount < 1:
            raise ValueError(f"need order >= 1 and 0 < discount < 1, got {order}, {discount}")
        self.order, self.discount = int(order), float(discount)
        padded = [[BOS] * (self.order - 1) + [normalize_event(e) for e in seq] for seq in sequences]
        self.vocabulary = sorted({t for seq in padded for t in seq[self.order - 1:]}) + [UNK]
        self.index = {token: i for i, token in enumerate(self.vocabulary)}
        # counts[n][context tuple][token]: raw counts at the highest order, continuation counts below it
        highest: dict[tuple, Counter] = defaultdict(Counter)
        for seq in padded:
            for i in range(self.order - 1, len(seq)):
                highest[tuple(seq[i - self.order + 1:i])][seq[i]] += 1
        self.counts = {self.order: highest}
        for n in range(self.order - 1, 0, -1):
            lower: dict[tuple, Counter] = defaultdict(Counter)
            for context, followers in self.counts[n + 1].items():
                for token in followers:
                    lower[context[1:]][token] += 1  # one more distinct left neighbour of context[1:] + token
            self.counts[n] = lower
        self._tables = {n: {context: self._table(followers) for context, followers in table.items()}
                        for n, table in self.counts.items()}
        self._unigram = self._level(1, (), np.full(len(self.vocabulary), 1.0 / len(self.vocabulary)))

    def _table(self, followers: Counter) -> tuple[np.ndarray, np.ndarray, float, float]:
        ids = np.array([self.index[t] for t in followers], dtype=np.int64)
        values = np.array(list(followers.values()), dtype=np.float64)
        return ids, values, float(values.sum()), float(len(values))

    def _level(self, n: int, context: tuple, lower: np.ndarray) -> np.ndarray:
        table = self._tables[n].get(context)
        if table is None:
            return lower
        ids, values, total, distinct = table
        out = self.discount * distinct / total * lower
        out[ids] += np.maximum(values - self.discount, 0.0) / total
        return out

    def _context(self, history: Sequence[str]) -> tuple:
        tokens = [BOS] * (self.order - 1) + [normalize_event(e) for e in history]
        return tuple(t if t in self.index or t == BOS else UNK for t in tokens[len(tokens) - self.order + 1:]) \
            if self.order > 1 else ()

    def distribution(self, history: Sequence[str]) -> np.ndarray:
        """P(next event | history) over ``vocabulary`` (sums to 1)."""
        context, out = self._context(history), self._unigram
        for n in range(2, self.order + 1):
            out = self._level(n, context[len(context) - n + 1:], out)
        return out

    def token(self, event: str) -> int:
        """Vocabulary index of an event (the unknown bucket for an event not seen in train)."""
        return self.index.get(normalize_event(event), self.index[UNK])

    def log2_probability(self, history: Sequence[str], event: str) -> float:
        return float(np.log2(self.distribution(history)[self.token(event)]))


def predict(model: KneserNey, history: Sequence[str], k: int,
            exclude: Iterable[str] = ()) -> tuple[list[str], np.ndarray]:
    """The ``k`` most probable known events (never the unknown bucket; ties: alphabetical) and the distribution,
    renormalized over the events not in ``exclude`` when given (events already seen in an admission)."""
    probabilities = model.distribution(history).copy()
    removed = [model.index[e] for e in {normalize_event(x) for x in exclude} if e in model.index]
    if removed:
        probabilities[removed] = 0.0
        probabilities /= probabilities.sum()
    ranked = probabilities[:-1]  # the vocabulary is sorted with <unk> last: argsort is stable → alphabetical ties
    top = np.argsort(-ranked, kind="stable")[:k]
    return [model.vocabulary[i] for i in top if ranked[i] > 0], probabilities
