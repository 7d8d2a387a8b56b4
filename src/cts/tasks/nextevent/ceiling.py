"""The ceiling of next-event prediction on the demo: the Bayes predictor of the generator that wrote the data.

A model sees the history ``h`` (the ``(hours, event)`` lines before a position), never the admission's latents
(the demo: scenario, sex, stay length), so the best possible predictor is the posterior mixture::

    P(x | h) = Σ_g P(g | h) · P_g(x | h),        P(g | h) ∝ π_g · Π_i P_g(x_i | h_<i)

where ``x = (hours, event)`` is the next line and ``P_g`` the generator's next-line law given the latents.

On the demo both are exact (:func:`demo_ceiling`): the generator read as blocks of role slots
(:func:`demo_generator`, :mod:`cts.tasks.nextevent.bayes`), every probability computed from the generator's own
tables — no simulation, no state summary. :class:`ScenarioMixture` is the Monte Carlo version for a generator that
is only available as a sampler (P_g the frequency of the next line after simulated histories in the same *state*,
with back-off; exact only where the state is sufficient). Both give, per position, the law of the next line and the
chance each event is among the next line's ties (events at its time), scored by ``ceiling_predictions``:
top-1/top-k (strict and tie-aware) over the events ranked by their marginal probability, ``bits_per_event`` (−log2
P of the true line: the model's ``bits_per_event`` measures the same line) and ``event_bits`` (times summed out).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np
import pandas as pd

from cts.tasks.nextevent.bayes import Block, BlockGenerator, ExactBayes, IIDRole, TableRole
from cts.training.metrics import normalize_event, score_events

log = logging.getLogger(__name__)

Line = tuple[float, str]  # (hours, event) of one line of an admission
State = Callable[[Hashable, Sequence[Line]], list[Hashable]]  # (scenario, history) → back-off keys, specific first


class ScenarioMixture:
    """Posterior mixture over latent scenarios of per-scenario next-line frequencies (see the module docstring).

    ``simulated``: (scenario, lines in order) pairs drawn from the generator; ``state``: the back-off keys of a
    history under a scenario (most specific first); lines are compared by (hours, normalized event)."""

    def __init__(self, simulated: Iterable[tuple[Hashable, Sequence[Line]]], state: State, floor: float = 1e-6):
        self.state, self.floor = state, float(floor)
        # per scenario and key: how often each next line followed, and each event was among the next line's ties
        self.counts: dict[Hashable, dict[Hashable, Counter]] = defaultdict(lambda: defaultdict(Counter))
        self.ties: dict[Hashable, dict[Hashable, Counter]] = defaultdict(lambda: defaultdict(Counter))
        admissions: Counter = Counter()
        lines = set()
        for scenario, sequence in simulated:
            sequence = [(float(t), normalize_event(e)) for t, e in sequence]
            admissions[scenario] += 1
            lines.update(sequence)
            for i, line in enumerate(sequence):
                tied = {e for t, e in sequence[i:] if t == line[0]}
                for key in state(scenario, sequence[:i]):
                    self.counts[scenario][key][line] += 1
                    self.ties[scenario][key].update(tied)
        if not admissions:
            raise ValueError("the ceiling needs simulated admissions")
        total = sum(admissions.values())
        self.prior = {s: n / total for s, n in admissions.items()}
        self.n_lines = len(lines) + 1  # the floor spreads over every simulated line and one unknown

    def scenario_law(self, scenario, history: Sequence[Line]) -> tuple[dict[Line, float], dict[str, float]]:
        """P_s(next line | history) and P_s(event among the next line's ties | history): the frequencies after the
        history's state, the events already seen removed, each back-off level interpolated with the coarser one
        by Witten–Bell (weight of the coarser level = distinct lines / (examples + distinct lines), which vanishes
        as the simulation grows)."""
        seen = {e for _, e in history}
        law: dict[Line, float] = {}
        tie: dict[str, float] = {}
        for key in reversed(self.state(scenario, history)):
            counter = self.counts[scenario].get(key)
            if not counter:
                continue
            kept = {line: n for line, n in counter.items() if line[1] not in seen}
            total, distinct = sum(counter.values()), len(kept)
            excluded = total - sum(kept.values())
            kept_total = total - excluded
            if not kept_total:
                continue
            lower = law
            law = {line: (kept.get(line, 0) + distinct * lower.get(line, 0.0)) / (kept_total + distinct)
                   for line in kept.keys() | lower.keys()}
            if not lower:  # the coarsest level with examples: no coarser law to interpolate with
                law = {line: n / kept_total for line, n in kept.items()}
            tied = self.ties[scenario][key]
            tie = {e: (tied.get(e, 0) + distinct * tie.get(e, 0.0)) / (total + distinct) if tie else tied[e] / total
                   for e in (tied.keys() | tie.keys()) - seen}
        return law, tie

    def _smoothed(self, law: dict[Line, float], line: Line) -> float:
        return (1 - self.floor) * law.get(line, 0.0) + self.floor / self.n_lines

    def predict_admission(self, lines: Sequence[Line], positions: Iterable[int]):
        """For each position p (> 0) of one admission: (P(s | lines[:p]) by scenario, the mixture's law of the next
        line, the mixture's probability that each event is among the next line's ties). The posterior is updated
        line by line along the admission."""
        lines = [(float(t), normalize_event(e)) for t, e in lines]
        wanted = set(positions)
        log_weight = {s: math.log(p) for s, p in self.prior.items()}
        out = {}
        for p in range(max(wanted, default=0) + 1):
            laws = {s: self.scenario_law(s, lines[:p]) for s in self.prior}
            if p in wanted:
                top = max(log_weight.values())
                weights = {s: math.exp(w - top) for s, w in log_weight.items()}
                norm = sum(weights.values())
                mixture: dict[Line, float] = defaultdict(float)
                tie: dict[str, float] = defaultdict(float)
                for s, (law, tied) in laws.items():
                    for line, q in law.items():
                        mixture[line] += weights[s] / norm * q
                    for event, q in tied.items():
                        tie[event] += weights[s] / norm * q
                out[p] = ({s: w / norm for s, w in weights.items()}, dict(mixture), dict(tie))
            if p < len(lines):
                for s, (law, _) in laws.items():
                    log_weight[s] += math.log(self._smoothed(law, lines[p]))
        return out

    def score(self, law: dict[Line, float], tie: dict[str, float], truth: Line,
              k: int) -> tuple[list[str], list[str], float, float]:
        """The k most probable next events (marginal over hours), the k events most probably among the next line's
        ties (the choice that maximizes tie-aware accuracy; ties in probability: alphabetical), −log2 P(true line)
        and −log2 P(true event), each with the floor."""
        events: dict[str, float] = defaultdict(float)
        for (_, event), q in law.items():
            events[event] += q
        ranked = sorted(events, key=lambda e: (-events[e], e))[:k]
        ranked_tied = sorted(tie, key=lambda e: (-tie[e], e))[:k]
        hours, event = float(truth[0]), normalize_event(truth[1])
        line_p = self._smoothed(law, (hours, event))
        event_p = (1 - self.floor) * events.get(event, 0.0) + self.floor / self.n_lines
        return ranked, ranked_tied, -math.log2(line_p), -math.log2(event_p)


def ceiling_predictions(mixture: ScenarioMixture, frame: pd.DataFrame, probes: list[dict], k: int):
    """For every probe (its admission's row of ``frame`` by ``hadm_id``, its ``position``): the ceiling's candidate
    events for the strict metrics and for the tie-aware ones (no hours), and the bits of the true line and event."""
    wanted: dict[int, list[int]] = defaultdict(list)
    for probe in probes:
        wanted[probe["group"]].append(probe["position"])
    by_admission = frame.set_index("hadm_id")
    laws = {}
    for hadm, positions in wanted.items():
        row = by_admission.loc[hadm]
        lines = list(zip(np.asarray(row["times"], float).tolist(), map(str, row["events"])))
        for p, (_, law, tie) in mixture.predict_admission(lines, positions).items():
            laws[(hadm, p)] = (law, tie)
    strict, tied, line_bits, event_bits = [], [], np.zeros(len(probes)), np.zeros(len(probes))
    for i, probe in enumerate(probes):
        law, tie = laws[(probe["group"], probe["position"])]
        ranked, ranked_tied, line_bits[i], event_bits[i] = mixture.score(law, tie, (probe["hours"], probe["event"]), k)
        strict.append([(None, event) for event in ranked])
        tied.append([(None, event) for event in ranked_tied])
    return strict, tied, line_bits, event_bits


def ceiling_columns(mixture: ScenarioMixture, frame: pd.DataFrame, probes: list[dict], k: int):
    """``ceiling_predictions`` scored as a model is (``score_events``; the tie-aware columns from the tie-aware
    ranking): (per-probe metric columns, bits of the true line, bits of the true event)."""
    strict, tied, line_bits, event_bits = ceiling_predictions(mixture, frame, probes, k)
    strict_columns, tied_columns = score_events(strict, probes, k), score_events(tied, probes, k)
    columns = {**strict_columns, "top1_tied": tied_columns["top1_tied"], "topk_tied": tied_columns["topk_tied"]}
    return columns, line_bits, event_bits


# -- the demo generator ------------------------------------------------------------------------------------------

_HOURS_PER_YEAR = 8760.0
_DIAGNOSIS = re.compile(r"Discharge Diagnosis:\n(.*)\n")


def simulate_demo(n_admissions: int, seed: int) -> list[tuple[str, list[Line]]]:
    """(scenario name, time-sorted normalized lines) of ``n_admissions`` fresh demo admissions, processed as
    ``generate_demo`` processes the demo's own (unknown times dropped, the normalization recipe, stable time sort)."""
    from cts.data import demo_bank as bank
    from cts.data.demo import generate_corpus
    from cts.data.normalize import normalize_events

    notes, events = generate_corpus(n_admissions, seed)
    names = {s["diagnosis"]: s["name"] for s in bank.SCENARIOS}
    scenario = {hadm: names[_DIAGNOSIS.search(text).group(1).strip()]
                for hadm, text in zip(notes["hadm_id"], notes["text"])}
    events = events[events["time"].notna()][["hadm_id", "event", "time"]].reset_index(drop=True)
    normalized, _ = normalize_events(events)
    out = []
    for hadm, group in normalized.groupby("hadm_id", sort=False):
        out.append((scenario[hadm], list(zip(group["time"].astype(float).tolist(), group["event"].astype(str)))))
    return out


def demo_ceiling() -> ExactBayes:
    """The demo generator's ceiling: its exact Bayes predictor (:func:`demo_generator`)."""
    return ExactBayes(demo_generator(), label=lambda g: g[0])


# -- the demo generator, exactly -----------------------------------------------------------------------------------
# cts.data.demo, read as blocks of role slots (cts.tasks.nextevent.bayes), after the demo's processing: unknown
# times dropped (family history), the normalization recipe (sex letters, "NN yo", bare heart rates and "X for the
# past N weeks" removed; a repeated event keeps its earliest time: the recurrent symptom, and a complication that
# is already a chronic condition), stable time sort (slots at one time in the order the generator wrote them).
# Latents: scenario (1/10), sex (1/2: the pools of chronic conditions and prior procedures), stay length L (4..10).
#   history (≤ -8760 h): 2-5 chronic conditions at -8760·(1..24) h, then w.p. 1/2 a prior procedure at
#       -8760·(1..14) h; at one time conditions come first (in pick order: uniform).
#   presentation (-504..0 h): 2-5 symptoms, the first two at -24·(1..7) h, each other at -(2..22) h, -168·(1..3) h
#       or 0 h (1/3 each); at 0 h the symptoms, then 3-5 findings, then 2-3 ED treatments.
#   first day (1..19 h): 1-2 (at most the ones left) early treatments not given in the ED, at 1..19 h.
#   stay (≥ 24 h): of 4 days drawn from 2..L-1 (sorted), the first 2-4 carry later treatments; 0-2 complications and
#       w.p. 1/2 a procedure on days 2..L-1; the disposition on day L. At a time: later treatments, complications,
#       procedure. A day d is at 24·(d - 1) h.

_BLOCK_EDGES = (-8760.0, 0.0, 23.5)  # history | presentation | first day | stay


def _uniform(low: int, high: int) -> dict[int, float]:
    return {n: 1 / (high - low + 1) for n in range(low, high + 1)}


def _days(stay: int) -> dict[float, float]:
    return {24.0 * (d - 1): 1 / (stay - 2) for d in range(2, stay)}


@functools.cache
def _history_block() -> Block:
    years = {-_HOURS_PER_YEAR * y: 1 / 24 for y in range(1, 25)}
    return Block({"condition": IIDRole(_uniform(2, 5), years),
                  "prior_procedure": IIDRole({0: 0.5, 1: 0.5},
                                             {-_HOURS_PER_YEAR * y: 1 / 14 for y in range(1, 15)})}, "history")


@functools.cache
def _presentation_block(n_symptoms: int, n_findings: int, n_early: int) -> Block:
    extra = {}
    for h in range(2, 23):
        extra[-float(h)] = extra.get(-float(h), 0) + 1 / 3 / 21
    for w in range(1, 4):
        extra[-168.0 * w] = extra.get(-168.0 * w, 0) + 1 / 3 / 3
    extra[0.0] = 1 / 3
    law: dict[tuple, float] = defaultdict(float)
    counts = _uniform(2, min(5, n_symptoms))
    for m, pm in counts.items():
        for d in range(1, 8):
            for draws in itertools.product(extra.items(), repeat=m - 2):
                p = pm / 7 * math.prod(q for _, q in draws)
                law[tuple(sorted([-24.0 * d] * 2 + [t for t, _ in draws]))] += p
    return Block({"symptom": TableRole(law), "finding": IIDRole(_uniform(3, min(5, n_findings)), {0.0: 1.0}),
                  "ed_treatment": IIDRole(_uniform(2, min(3, n_early)), {0.0: 1.0})},
                 ("presentation", n_symptoms, n_findings, n_early))


@functools.cache
def _first_day_block(left: int) -> Block:
    counts = _uniform(1, min(2, left)) if left else {0: 1.0}
    return Block({"early_treatment": IIDRole(counts, {float(h): 1 / 19 for h in range(1, 20)})}, ("first_day", left))


@functools.cache
def _later_law(stay: int, n_later: int) -> TableRole:
    days = sorted(_days(stay))
    law: dict[tuple, float] = defaultdict(float)
    for draws in itertools.product(days, repeat=4):
        ordered = sorted(draws)
        for n, pn in _uniform(2, min(4, n_later)).items():
            law[tuple(ordered[:n])] += pn / len(days) ** 4
    return TableRole(law)


def _visible(n_pool: int, n_taken: int, low: int, high: int) -> dict[int, float]:
    """Law of how many of ``count ~ U{low..min(high, n_pool)}`` picks from a pool of ``n_pool`` survive when
    ``n_taken`` of the pool are already in the admission (normalization drops the repeats): hypergeometric."""
    out: dict[int, float] = defaultdict(float)
    for c, pc in _uniform(low, min(high, n_pool)).items():
        for hit in range(0, min(c, n_taken) + 1):
            out[c - hit] += pc * math.comb(n_taken, hit) * math.comb(n_pool - n_taken, c - hit) / math.comb(n_pool, c)
    return dict(out)


@functools.cache
def _stay_block(stay: int, n_later: int, n_complications: int, taken: int) -> Block:
    days = _days(stay)
    return Block({"later_treatment": _later_law(stay, n_later),
                  "complication": IIDRole(_visible(n_complications, taken, 0, 2), days),
                  "procedure": IIDRole({0: 0.5, 1: 0.5}, days),
                  "disposition": IIDRole({1: 1.0}, {24.0 * (stay - 1): 1.0})},
                 ("stay", stay, n_later, n_complications, taken))


@functools.lru_cache(maxsize=1)
def demo_generator() -> BlockGenerator:
    """cts.data.demo as a :class:`BlockGenerator` (see the comment above); g = (scenario name, sex, stay days)."""
    from cts.data import demo_bank as bank

    def norm(items) -> frozenset:
        return frozenset(normalize_event(e) for e in items)

    def for_sex(pool, sex):
        return norm(e for e in pool if e not in bank.SEX_SPECIFIC.get("M" if sex == "F" else "F", ()))

    scenarios = {s["name"]: s for s in bank.SCENARIOS}
    pools = {}
    for name, s in scenarios.items():
        for sex in ("F", "M"):
            pools[(name, sex)] = {
                "condition": for_sex(bank.CHRONIC_CONDITIONS, sex), "prior_procedure": for_sex(bank.PRIOR_PROCEDURES,
                                                                                               sex),
                "symptom": norm(s["symptoms"]), "finding": norm(s["findings"]), "ed_treatment": norm(
                    s["early_treatments"]), "early_treatment": norm(s["early_treatments"]),
                "later_treatment": norm(s["later_treatments"]), "complication": norm(s["complications"]),
                "procedure": norm(s["procedures"]), "disposition": norm(bank.DISPOSITIONS)}
    by_block = (("condition", "prior_procedure"), ("symptom", "finding", "ed_treatment"), ("early_treatment",),
                ("later_treatment", "complication", "procedure", "disposition"))
    at_zero_only = {"finding", "ed_treatment"}

    def block_of(t: float) -> int:
        return int(np.searchsorted(_BLOCK_EDGES, t, side="left"))

    def blocks(g, history):
        name, sex, stay = g
        p = pools[(name, sex)]
        given = sum(1 for t, e in history if t == 0.0 and e in p["ed_treatment"])
        return [_history_block(), _presentation_block(len(p["symptom"]), len(p["finding"]), len(p["ed_treatment"])),
                _first_day_block(len(p["early_treatment"]) - given),
                _stay_block(stay, len(p["later_treatment"]), len(p["complication"]),
                            sum(1 for t, e in history if t <= _BLOCK_EDGES[0] and e in p["complication"]))]

    def roles(g, t, e):
        p = pools[(g[0], g[1])]
        return [r for r in by_block[block_of(t)] if e in p[r] and (t == 0.0 or r not in at_zero_only)]

    prior = {(name, sex, stay): 1 / len(scenarios) / 2 / 7 for name in scenarios for sex in ("F", "M")
             for stay in range(4, 11)}
    return BlockGenerator(prior=prior, blocks=blocks, block_of=block_of, roles=roles,
                          pool=lambda g, role: pools[(g[0], g[1])][role],
                          depends=lambda g, block: (g[0], g[1] if block == 0 else None, g[2] if block >= 2 else None))
