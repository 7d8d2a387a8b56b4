"""The exact Bayes predictor of a generator whose admissions are time-sorted *blocks* of *role* slots.

A generator of this shape draws, given global latents ``g`` (the demo: scenario, sex, stay length), independent
blocks that occupy disjoint time ranges, in order. Inside a block each role (the demo: chronic condition, prior
procedure; symptom, finding, ED treatment; …) draws a random number of slot times; the block's lines are its slots
sorted by time, slots at one time ordered by role rank, and each slot's event is drawn uniformly from its role's
pool without the events already in the admission (the demo picks without replacement and normalization drops
repeats). The *skeleton* (sorted (time, role) slots) is what the latents shape; the events only say which pools
(which ``g``) are possible.

So, exactly::

    P(next line = (t, e) | h, g) = P(next slot = (t, role(e)) | skeleton of h, g) / |pool(role) \\ h|
    P(next slot = s | b) = P(block starts with b + s) / P(block starts with b)  (b: the current block's slots)

and the block ends with P(block is exactly b) / P(block starts with b), after which the next block's first slot
follows. ``P(block starts with b)`` is the product over roles of the chance that the role's first slots are b's and
its others lie after b's last slot (:class:`IIDRole`: a random count of iid times, in closed form;
:class:`TableRole`: an enumerated law of sorted time tuples). The posterior over ``g`` is the chain rule over the
admission's own lines. Tie-aware ranking uses E[number of the role's slots at the next time] / |pool \\ h| summed
over the next times, from the same block probabilities with everything else strictly later.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

Line = tuple[float, str]


class IIDRole:
    """A count drawn from ``counts`` (n → probability), then that many iid times from ``times`` (t → probability)."""

    def __init__(self, counts: dict[int, float], times: dict[float, float]):
        self.counts = {int(n): float(p) for n, p in counts.items() if p > 0}
        self.times = {float(t): float(p) for t, p in times.items() if p > 0}
        self.max_count = max(self.counts, default=0)

    def support(self) -> list[float]:
        return sorted(self.times)

    def starts(self, prefix: Sequence[float], threshold: float, inclusive: bool) -> float:
        """P(the role's first len(prefix) sorted times are ``prefix`` and its other times are > threshold, or
        == threshold when ``inclusive``): the multinomial over the prefix's values, the threshold and 'above'."""
        a = len(prefix)
        counts = Counter(prefix)
        base = 1.0
        for value, c in counts.items():
            p = self.times.get(value, 0.0)
            if p == 0.0:
                return 0.0
            base *= p ** c / math.factorial(c)
        above = sum(p for t, p in self.times.items() if t > threshold)
        at = self.times.get(threshold, 0.0) if inclusive else 0.0
        c_at = counts.get(threshold, 0)
        total = 0.0
        for k, pk in self.counts.items():
            if k < a:
                continue
            r = k - a
            inner = 0.0
            for j in range(0, r + 1 if at > 0 else 1):
                inner += (math.factorial(c_at) / math.factorial(c_at + j) * at ** j * above ** (r - j)
                          / math.factorial(r - j))
            total += pk * math.factorial(k) * base * inner
        return total

    def exact(self, prefix: Sequence[float]) -> float:
        """P(the role's sorted times are exactly ``prefix``)."""
        pk = self.counts.get(len(prefix), 0.0)
        if pk == 0.0:
            return 0.0
        out = pk * math.factorial(len(prefix))
        for value, c in Counter(prefix).items():
            out *= self.times.get(value, 0.0) ** c / math.factorial(c)
        return out


class TableRole:
    """An enumerated law of the role's sorted time tuples (``{tuple: probability}``)."""

    def __init__(self, law: dict[tuple, float]):
        law = {tuple(map(float, k)): float(p) for k, p in law.items() if p > 0}
        self.keys = list(law)
        self.max_count = max(map(len, self.keys), default=0)
        self.probs = np.array([law[k] for k in self.keys])
        self.lengths = np.array([len(k) for k in self.keys])
        self.table = np.full((len(self.keys), max(self.max_count, 1)), np.nan)
        for i, key in enumerate(self.keys):
            self.table[i, :len(key)] = key
        self._support = sorted({t for key in self.keys for t in key})
        self._cache: dict = {}

    def support(self) -> list[float]:
        return self._support

    def _prefix_mask(self, prefix: Sequence[float]) -> np.ndarray:
        a = len(prefix)
        if a > self.table.shape[1]:
            return np.zeros(len(self.keys), bool)
        mask = self.lengths >= a
        if a:
            mask &= (self.table[:, :a] == np.asarray(prefix, float)).all(axis=1)
        return mask

    def starts(self, prefix: Sequence[float], threshold: float, inclusive: bool) -> float:
        key = (tuple(prefix), threshold, inclusive)
        if key not in self._cache:
            self._cache[key] = self._starts(prefix, threshold, inclusive)
        return self._cache[key]

    def _starts(self, prefix: Sequence[float], threshold: float, inclusive: bool) -> float:
        mask = self._prefix_mask(prefix)
        rest = self.table[:, len(prefix):]
        with np.errstate(invalid="ignore"):
            ok = np.isnan(rest) | (rest > threshold) | ((rest == threshold) if inclusive else False)
        return float(self.probs[mask & ok.all(axis=1)].sum())

    def exact(self, prefix: Sequence[float]) -> float:
        return float(self.probs[self._prefix_mask(prefix) & (self.lengths == len(prefix))].sum())


Slot = tuple[float, str]  # (time, role)


@dataclass
class Block:
    """Roles in rank order (slots at one time are ordered by it); ``key`` identifies the block's law (a cache key)."""

    roles: dict[str, IIDRole | TableRole]
    key: Hashable
    ranks: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.ranks = {name: i for i, name in enumerate(self.roles)}

    def _split(self, slots: Sequence[Slot]) -> dict[str, list[float]]:
        out = {name: [] for name in self.roles}
        for t, role in slots:
            out[role].append(t)
        return out

    def starts(self, slots: Sequence[Slot], after: tuple[float, int] | None = None) -> float:
        """P(the block's skeleton starts with ``slots`` and every other slot comes after ``after`` = (time, rank),
        by default the last slot (a slot at its time comes after it when its rank is at least the last's); with
        ``after=(t, len(roles))`` every other slot is strictly later than t."""
        split = self._split(slots)
        if after is None:
            after = (slots[-1][0], self.ranks[slots[-1][1]]) if slots else (-math.inf, 0)
        t, rank = after
        out = 1.0
        for name, role in self.roles.items():
            out *= role.starts(split[name], t, self.ranks[name] >= rank)
            if out == 0.0:
                return 0.0
        return out

    def exact(self, slots: Sequence[Slot]) -> float:
        split = self._split(slots)
        out = 1.0
        for name, role in self.roles.items():
            out *= role.exact(split[name])
        return out

    def candidates(self, slots: Sequence[Slot]) -> list[Slot]:
        """Every slot that could come next: a role's time after the last slot (at its time, rank ≥ the last's)."""
        t0, r0 = (slots[-1][0], self.ranks[slots[-1][1]]) if slots else (-math.inf, 0)
        return [(t, name) for name, role in self.roles.items() for t in role.support()
                if t > t0 or (t == t0 and self.ranks[name] >= r0)]


class BlockLaws:
    """Cached skeleton laws of blocks: the next slot after a block prefix, and the expected role counts at the next
    time (for tie-aware ranking)."""

    def __init__(self):
        self._next: dict = {}
        self._ties: dict = {}

    def next_slots(self, block: Block, slots: tuple[Slot, ...]) -> tuple[dict[Slot, float], float]:
        """P(next slot | the block starts with ``slots``) for every possible slot, and P(the block ends here)."""
        key = (block.key, slots)
        if key not in self._next:
            total = block.starts(slots)
            if total <= 0:
                self._next[key] = ({}, 0.0)
            else:
                law = {}
                for slot in block.candidates(slots):
                    p = block.starts(slots + (slot,)) / total
                    if p > 0:
                        law[slot] = p
                self._next[key] = (law, block.exact(slots) / total if slots else 0.0)
        return self._next[key]

    def next_time_counts(self, block: Block, slots: tuple[Slot, ...]) -> dict[str, float]:
        """Role → E[number of the role's slots at the block's next time (the next slot included) · 1{the next slot
        is in this block}] given the block starts with ``slots``."""
        key = (block.key, slots)
        if key not in self._ties:
            total = block.starts(slots)
            out: dict[str, float] = defaultdict(float)
            if total > 0:
                t0, r0 = (slots[-1][0], block.ranks[slots[-1][1]]) if slots else (-math.inf, 0)
                times = sorted({t for t, _ in block.candidates(slots)})
                names = list(block.roles)
                supports = {n: set(role.support()) for n, role in block.roles.items()}
                for t in times:
                    ranges = [range(0, block.roles[n].max_count + 1)
                              if (t > t0 or block.ranks[n] >= r0) and t in supports[n] else range(0, 1)
                              for n in names]
                    for vector in _product(ranges):
                        if not any(vector):
                            continue
                        extra = tuple((t, n) for n, c in zip(names, vector) for _ in range(c))
                        p = block.starts(slots + extra, after=(t, len(names)))
                        if p > 0:
                            for n, c in zip(names, vector):
                                out[n] += c * p / total
            self._ties[key] = dict(out)
        return self._ties[key]


def _product(ranges):
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for tail in _product(ranges[1:]):
            yield (head, *tail)


@dataclass
class BlockGenerator:
    """A generator in blocks: ``prior`` over global latents; ``blocks(g, history)`` the block laws under g (a block
    may depend on the history before it, e.g. how many of a pool were used); ``block_of(t)`` the block index of a
    time; ``roles(g, t, event)`` the roles the event can fill at time t under g (empty: impossible under g);
    ``pool(g, role)`` the role's events. ``depends(g, block_index)`` is the part of g that the law from this block
    on depends on (a cache key: equal keys give equal laws)."""

    prior: dict[Hashable, float]
    blocks: Callable[[Hashable, Sequence[Line]], list[Block]]
    block_of: Callable[[float], int]
    roles: Callable[[Hashable, float, str], list[str]]
    pool: Callable[[Hashable, str], frozenset]
    depends: Callable[[Hashable, int], Hashable]


class ExactBayes:
    """The Bayes predictor of a :class:`BlockGenerator`, with ``predict_admission`` and ``score`` as
    :class:`cts.tasks.nextevent.ceiling.ScenarioMixture` (posterior keyed by ``label(g)``)."""

    def __init__(self, generator: BlockGenerator, label: Callable[[Hashable], Hashable] = lambda g: g,
                 floor: float = 1e-6):
        self.generator, self.label, self.floor = generator, label, float(floor)
        self.laws = BlockLaws()

    def _skeleton(self, g, history: Sequence[Line]):
        """(blocks, index of the current block, its slots) of the history under g, or None if impossible."""
        gen = self.generator
        blocks = gen.blocks(g, history)
        current = gen.block_of(history[-1][0]) if history else -1
        slots = []
        for t, e in history:
            if gen.block_of(t) != current:
                continue
            roles = gen.roles(g, t, e)
            if not roles:
                return None
            slots.append((t, roles[0]))
        return blocks, current, tuple(slots)

    def slot_law(self, g, history: Sequence[Line]) -> dict[Slot, float] | None:
        """P(next slot | history, g) over (time, role): the current block's continuation, then the next block's
        first slot times the chance the current block ends."""
        skeleton = self._skeleton(g, history)
        if skeleton is None:
            return None
        blocks, current, slots = skeleton
        if current < 0:
            return dict(self.laws.next_slots(blocks[0], ())[0])
        law, end = self.laws.next_slots(blocks[current], slots)
        law = dict(law)
        if end > 0 and current + 1 < len(blocks):
            for slot, p in self.laws.next_slots(blocks[current + 1], ())[0].items():
                law[slot] = law.get(slot, 0.0) + end * p
        return law

    def line_law(self, g, history: Sequence[Line]) -> dict[Line, float]:
        seen = {e for _, e in history}
        out: dict[Line, float] = defaultdict(float)
        for (t, role), p in (self.slot_law(g, history) or {}).items():
            unused = self.generator.pool(g, role) - seen
            for e in unused:
                out[(t, e)] += p / len(unused)
        return out

    def line_probability(self, g, history: Sequence[Line], line: Line) -> float:
        t, e = line
        if e in {x for _, x in history}:
            return 0.0
        law = self.slot_law(g, history) or {}
        seen = {x for _, x in history}
        out = 0.0
        for role in self.generator.roles(g, t, e):
            p = law.get((t, role), 0.0)
            if p:
                out += p / len(self.generator.pool(g, role) - seen)
        return out

    def tie_law(self, g, history: Sequence[Line]) -> dict[str, float]:
        """P(event among the next line's ties | history, g): E[slots of its role at the next time] / unused pool."""
        skeleton = self._skeleton(g, history)
        if skeleton is None:
            return {}
        blocks, current, slots = skeleton
        counts: dict[str, float] = defaultdict(float)
        if current < 0:
            counts.update(self.laws.next_time_counts(blocks[0], ()))
        else:
            for role, c in self.laws.next_time_counts(blocks[current], slots).items():
                counts[role] += c
            _, end = self.laws.next_slots(blocks[current], slots)
            if end > 0 and current + 1 < len(blocks):
                for role, c in self.laws.next_time_counts(blocks[current + 1], ()).items():
                    counts[role] += end * c
        seen = {e for _, e in history}
        out: dict[str, float] = defaultdict(float)
        for role, c in counts.items():
            unused = self.generator.pool(g, role) - seen
            for e in unused:
                out[e] += c / len(unused)
        return out

    def predict_admission(self, lines: Sequence[Line], positions):
        """For each wanted position p: (P(label | lines[:p]), P(next line | lines[:p], a next line exists), P(event
        among the next line's ties | the same)), the posterior over g updated line by line (chain rule)."""
        from cts.training.metrics import normalize_event

        lines = [(float(t), normalize_event(e)) for t, e in lines]
        wanted = set(positions)
        weights = {g: p for g, p in self.generator.prior.items() if p > 0}
        out = {}
        for p in range(max(wanted, default=0) + 1):
            history = lines[:p]
            norm = sum(weights.values())
            if p in wanted:
                posterior: dict = defaultdict(float)
                law: dict[Line, float] = defaultdict(float)
                tie: dict[str, float] = defaultdict(float)
                groups: dict = defaultdict(float)  # g's that give the same laws from here on
                representative = {}
                block = self.generator.block_of(history[-1][0]) if history else 0
                for g, w in weights.items():
                    posterior[self.label(g)] += w / norm
                    key = self.generator.depends(g, block)
                    groups[key] += w / norm
                    representative.setdefault(key, g)
                for key, w in groups.items():
                    g = representative[key]
                    for line, q in self.line_law(g, history).items():
                        law[line] += w * q
                    for e, q in self.tie_law(g, history).items():
                        tie[e] += w * q
                # scored positions have a next line: condition on it (a g that may end here loses weight)
                total = sum(law.values())
                scale = 1 / total if total > 0 else 1.0
                out[p] = (dict(posterior), {x: q * scale for x, q in law.items()},
                          {e: q * scale for e, q in tie.items()})
            if p < len(lines):
                weights = {g: w * self.line_probability(g, history, lines[p]) for g, w in weights.items()}
                weights = {g: w for g, w in weights.items() if w > 0}
                if not weights:  # impossible under every g: restart from the prior (never on the generator's data)
                    weights = dict(self.generator.prior)
        return out

    def _smoothed(self, p: float) -> float:
        return (1 - self.floor) * p + self.floor * 1e-6

    def score(self, law: dict[Line, float], tie: dict[str, float], truth: Line, k: int):
        """The k most probable next events (marginal over times; equal probabilities alphabetical), the k events
        most probably among the next line's ties, −log2 P(true line), −log2 P(true event)."""
        from cts.training.metrics import normalize_event

        events: dict[str, float] = defaultdict(float)
        for (_, event), q in law.items():
            events[event] += q
        rounded = {e: round(q, 12) for e, q in events.items()}
        ranked = sorted(rounded, key=lambda e: (-rounded[e], e))[:k]
        tie_rounded = {e: round(q, 12) for e, q in tie.items()}
        ranked_tied = sorted(tie_rounded, key=lambda e: (-tie_rounded[e], e))[:k]
        hours, event = float(truth[0]), normalize_event(truth[1])
        line_p = self._smoothed(law.get((hours, event), 0.0))
        event_p = self._smoothed(events.get(event, 0.0))
        return ranked, ranked_tied, -math.log2(line_p), -math.log2(event_p)
