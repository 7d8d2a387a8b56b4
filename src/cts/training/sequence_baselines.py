"""Counting baselines for event-sequence prediction, fitted on the train split: the most frequent event, the most
frequent follower of a conditioning event (a bigram), and the most common value of a time statistic.

Events are counted in their compared form (``normalize_event``); ties in counts go to the alphabetically first
event (or the larger value), so predictions are deterministic.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from cts.training.metrics import normalize_event


def ranked(counter: Counter) -> list:
    """Keys by decreasing count, ties broken by the key (deterministic)."""
    return [key for key, _ in sorted(counter.items(), key=lambda item: (-item[1], item[0]))]


class FollowerTable:
    """How often each event follows each conditioning event, and how often it occurs at all (the fallback)."""

    def __init__(self):
        self.overall: Counter = Counter()
        self.after: dict[str, Counter] = defaultdict(Counter)
        self._ranked: dict[str, list[str]] = {}

    def add(self, previous: str, following: str) -> None:
        following = normalize_event(following)
        self.overall[following] += 1
        self.after[normalize_event(previous)][following] += 1
        self._ranked.clear()

    def _order(self, key: str | None) -> list[str]:
        if key not in self._ranked:
            self._ranked[key] = ranked(self.overall if key is None else self.after.get(key, Counter()))
        return self._ranked[key]

    def most_frequent(self, k: int, exclude: Iterable[str] = ()) -> list[str]:
        """The ``k`` most frequent events overall, skipping ``exclude``."""
        return self._take(self._order(None), k, {normalize_event(e) for e in exclude})

    def followers(self, previous: str, k: int, exclude: Iterable[str] = ()) -> list[str]:
        """The ``k`` most frequent followers of ``previous`` (then the most frequent events, if it has fewer),
        skipping ``exclude`` (e.g. events already seen in the admission)."""
        exclude = {normalize_event(e) for e in exclude}
        chosen = self._take(self._order(normalize_event(previous)), k, exclude)
        return chosen + self._take(self._order(None), k - len(chosen), exclude | set(chosen))

    @staticmethod
    def _take(order: list[str], k: int, exclude: set[str]) -> list[str]:
        out = []
        for event in order:
            if len(out) >= k:
                break
            if event not in exclude:
                out.append(event)
        return out


def mode(values: Iterable) -> float | None:
    """The most common value (ties: the largest, i.e. the latest time); None for no values."""
    counts = Counter(values)
    return max(counts, key=lambda value: (counts[value], value)) if counts else None
