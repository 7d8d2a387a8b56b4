"""The demo generator's Bayes ceiling (``cts.tasks.nextevent.ceiling``): the latent scenario marginalized given the
history, top-k and bits of every probe, tie-aware ranking, the demo pipeline's own admissions — each against values
computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from cts.tasks.nextevent.ceiling import ScenarioMixture, ceiling_predictions, simulate_demo
from cts.training.metrics import score_events


def tiny_generator(n, seed=0):
    """Scenario A (1/2): a or b (1/2 each) at 0 h, then c at 1 h. Scenario B (1/2): a (1/4) or d (3/4), then e."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(("A", [(0.0, "a" if rng.random() < 0.5 else "b"), (1.0, "c")]))
        else:
            out.append(("B", [(0.0, "a" if rng.random() < 0.25 else "d"), (1.0, "e")]))
    return out


def position_state(scenario, history):
    return [("position", len(history))]


def test_ceiling_marginalizes_the_latent_scenario_given_the_history():
    mixture = ScenarioMixture(tiny_generator(40_000), position_state)
    (posterior, law, _), = mixture.predict_admission([(0.0, "a"), (1.0, "c")], [1]).values()
    # P(A | a) = (1/2 · 1/2) / (1/2 · 1/2 + 1/2 · 1/4) = 2/3
    assert posterior["A"] == pytest.approx(2 / 3, abs=0.02)
    assert law[(1.0, "c")] == pytest.approx(2 / 3, abs=0.02) and law[(1.0, "e")] == pytest.approx(1 / 3, abs=0.02)
    (posterior, law, _), = mixture.predict_admission([(0.0, "d"), (1.0, "e")], [1]).values()
    # d is impossible under A: only the floor (1e-6 of the mass) keeps A's weight above 0
    assert posterior["B"] == pytest.approx(1.0, abs=1e-5) and law[(1.0, "e")] == pytest.approx(1.0, abs=1e-5)
    first = mixture.predict_admission([(0.0, "a")], [0])[0][1]  # nothing seen: P(a) = 1/4 + 1/8
    assert first[(0.0, "a")] == pytest.approx(0.375, abs=0.02) and first[(0.0, "d")] == pytest.approx(0.375, abs=0.02)


def test_ceiling_scores_top_k_and_bits_of_every_probe():
    mixture = ScenarioMixture(tiny_generator(40_000), position_state)
    frame = pd.DataFrame({"hadm_id": [1, 2], "events": [["a", "e"], ["b", "c"]], "times": [[0.0, 1.0], [0.0, 1.0]]})
    probes = [{"group": 1, "position": 1, "event": "e", "hours": 1.0, "ties": ["e"]},
              {"group": 2, "position": 1, "event": "c", "hours": 1.0, "ties": ["c"]}]
    strict, tied, line_bits, event_bits = ceiling_predictions(mixture, frame, probes, k=1)
    assert strict == [[(None, "c")], [(None, "c")]] and tied == strict  # after a: c (2/3) beats e (1/3)
    assert line_bits[0] == pytest.approx(math.log2(3), abs=0.1) and line_bits[1] == pytest.approx(0.0, abs=0.01)
    assert event_bits == pytest.approx(line_bits)  # one time per event here
    assert score_events(strict, probes, 1)["top1"].tolist() == [0, 1]


def test_ceiling_ranks_for_tie_aware_accuracy_by_the_chance_an_event_is_among_the_ties():
    # after x: y and z both at 1 h in either order (1/2 each) w.p. 0.6, else w alone at 1 h (0.4): the next line is
    # w with 0.4 (the most probable single line), but y (or z) is among the next line's ties with 0.6
    rng = np.random.default_rng(1)
    sims = [("S", [(0.0, "x"), *([(1.0, "y"), (1.0, "z")] if rng.random() < 0.5 else [(1.0, "z"), (1.0, "y")])])
            if rng.random() < 0.6 else ("S", [(0.0, "x"), (1.0, "w")]) for _ in range(20_000)]
    mixture = ScenarioMixture(sims, position_state)
    _, law, tie = mixture.predict_admission([(0.0, "x"), (1.0, "w")], [1])[1]
    strict, tied, _, _ = mixture.score(law, tie, (1.0, "w"), k=1)
    assert strict == ["w"] and tied == ["y"]
    assert tie["y"] == pytest.approx(0.6, abs=0.02) and tie["w"] == pytest.approx(0.4, abs=0.02)


def test_simulated_demo_admissions_are_the_demo_pipeline_s_own(tmp_path):
    from cts.data.demo import generate_demo

    generate_demo(tmp_path, n_admissions=30, seed=5)
    table = pd.read_parquet(tmp_path / "events_normalized.parquet")
    simulated = simulate_demo(30, 5)
    assert [line for _, lines in simulated for line in lines] == list(zip(table["time"].astype(float),
                                                                          table["event"].astype(str)))
    assert len({scenario for scenario, _ in simulate_demo(200, 6)}) == 10
