"""The ceiling of next-event prediction on the demo: the Bayes predictor of the generator that wrote the data.

A model sees the history ``h`` (the ``(hours, event)`` lines before a position), never the admission's scenario,
so the best possible predictor is the posterior mixture over scenarios::

    P(x | h) = Σ_s P(s | h) · P_s(x | h),        P(s | h) ∝ π_s · Π_i P_s(x_i | h_<i)

where ``x = (hours, event)`` is the next line and ``P_s`` the generator's next-line law given the scenario. Both
are estimated by Monte Carlo from the generator itself (:func:`simulate_demo`: ``generate_corpus`` with a seed the
demo never uses, normalized exactly as the demo's table): ``π_s`` is the share of simulated admissions of scenario
``s``, and ``P_s(x | h)`` the frequency of ``x`` after the simulated histories of scenario ``s`` whose *state*
equals ``h``'s, with the events already in ``h`` removed (normalization drops repeated events, so an event never
comes twice) and the rest renormalized. The state is the most specific of a back-off list of keys with at least
``min_count`` simulated examples (:func:`demo_state`: the last time, how many history events share it, the last
event's role in the scenario and how many events of each role the history holds).

Exact where, given the scenario, the next line depends on the history only through that state and the set of
events seen (a hand-built generator in the tests); on the demo the state summarizes the within-block counts, so
this is an estimate of the ceiling from below (a model could in principle beat it by a little). A line the
simulation never produced after that state gets the floor probability ``floor`` / |lines| (its bits are large,
not infinite). Reported: top-1/top-k (strict and tie-aware) over the events ranked by their marginal probability,
``bits_per_event`` (−log2 P of the true line: the model's ``bits_per_event`` measures the same line) and
``event_bits`` (−log2 P of the true event, times summed out).
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np
import pandas as pd

from cts.training.metrics import normalize_event

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


# -- the demo generator ------------------------------------------------------------------------------------------

_HISTORY_HOURS = -8760.0  # chronic conditions and prior procedures are dated in whole years before admission
_DIAGNOSIS = re.compile(r"Discharge Diagnosis:\n(.*)\n")


@functools.lru_cache(maxsize=1)
def _roles() -> dict[str, dict[str, str]]:
    """Scenario name → {normalized event: its role in that scenario's pools}."""
    from cts.data import demo_bank as bank

    out = {}
    for scenario in bank.SCENARIOS:
        roles = {normalize_event(e): "disposition" for e in bank.DISPOSITIONS}
        for role in ("procedures", "complications", "later_treatments", "early_treatments", "findings", "symptoms"):
            roles.update({normalize_event(e): role for e in scenario[role]})
        out[scenario["name"]] = roles
    return out


def demo_state(scenario: str, history: Sequence[Line]) -> list[tuple]:
    """Back-off keys of a demo history under a scenario, most specific first: (last hours, events at them, last
    role, events per role of the history's era — years before admission or the stay), then without the role counts,
    without the count at the last hours, the last hours alone, and nothing (the first event)."""
    if not history:
        return [("start",)]
    hours, event = history[-1]
    roles = _roles()[scenario]

    def role(line: Line) -> str:
        return "history" if line[0] <= _HISTORY_HOURS else roles.get(line[1], "other")

    era = [role(line) for line in history if (line[0] <= _HISTORY_HOURS) == (hours <= _HISTORY_HOURS)]
    at_last = sum(1 for t, _ in history if t == hours)
    last = role(history[-1])
    return [("all", hours, at_last, last, tuple(sorted(Counter(era).items()))), ("role", hours, at_last, last),
            ("count", hours, at_last), ("hours", hours), ("any",)]


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


@functools.lru_cache(maxsize=2)
def demo_ceiling(n_admissions: int = 20000, seed: int = 1_000_003) -> ScenarioMixture:
    """The demo generator's ceiling, from ``n_admissions`` simulated admissions (cached per process)."""
    log.info("nextevent ceiling: simulating %d demo admissions (seed %d) for the Bayes predictor", n_admissions, seed)
    return ScenarioMixture(simulate_demo(n_admissions, seed), demo_state)
