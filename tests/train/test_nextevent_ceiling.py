"""Issue #22: every-position next-event scoring, the Kneser–Ney baseline, the demo generator's Bayes ceiling and the
share of the gap a model closes — each against values computed by hand."""

import math

import lightning as L
import numpy as np
import pandas as pd
import pytest
from test_lm_evaluation import built
from train_helpers import compose_train, tiny

from cts.tasks.nextevent.baselines import kneser_ney_baselines, unknown_share
from cts.tasks.nextevent.ceiling import ScenarioMixture, ceiling_predictions, simulate_demo
from cts.training.evaluation import TestEvaluation as Evaluation
from cts.training.evaluation import gap_closed
from cts.training.metrics import score_events
from cts.training.ngram import UNK, KneserNey, predict

# -- Kneser–Ney ---------------------------------------------------------------------------------------------------

def toy_kn():
    return KneserNey([["a", "b"], ["a", "c"], ["b", "c"]], order=2, discount=0.5)


def test_kneser_ney_unigram_level_is_continuation_counts_interpolated_with_uniform():
    # continuation counts N1+(• w): a after <s> → 1; b after <s>, a → 2; c after a, b → 2 (total 5, 3 distinct);
    # P1(w) = max(N - 0.5, 0) / 5 + 0.5 * 3 / 5 * 1/4 (vocabulary a, b, c, <unk>)
    model = toy_kn()
    assert model.vocabulary == ["a", "b", "c", UNK]
    unigram = dict(zip(model.vocabulary, model.distribution(["zzz"])))  # unseen context: the unigram level
    assert unigram == pytest.approx({"a": 0.175, "b": 0.375, "c": 0.375, UNK: 0.075})


def test_kneser_ney_bigram_level_by_hand():
    model = toy_kn()
    # after a: c(a b) = c(a c) = 1, c(a •) = 2, 2 distinct: (1 - 0.5)/2 + 0.5 * 2/2 * P1(w)
    after_a = dict(zip(model.vocabulary, model.distribution(["a"])))
    assert after_a == pytest.approx({"a": 0.0875, "b": 0.4375, "c": 0.4375, UNK: 0.0375})
    # at the start: <s> → a twice, b once: c = 3, 2 distinct
    start = dict(zip(model.vocabulary, model.distribution([])))
    assert start == pytest.approx({"a": 1.5 / 3 + 0.175 / 3, "b": 0.5 / 3 + 0.375 / 3, "c": 0.375 / 3,
                                   UNK: 0.075 / 3})
    assert model.log2_probability(["a"], "never seen") == pytest.approx(math.log2(0.0375))  # the unknown bucket


def test_kneser_ney_predict_excludes_seen_events_and_never_names_the_unknown_bucket():
    events, distribution = predict(toy_kn(), ["a"], k=3, exclude=["b"])
    assert events == ["c", "a"]  # b removed; <unk> never ranked
    assert distribution.sum() == pytest.approx(1.0) and distribution[1] == 0.0
    assert distribution[2] == pytest.approx(0.4375 / (1 - 0.4375))


def test_kneser_ney_baselines_choose_the_order_on_val_and_score_every_probe():
    train = pd.DataFrame({"events": [["a", "b", "c"]] * 5 + [["a", "c", "b"]]})
    val = pd.DataFrame({"events": [["a", "b", "c"]]})
    probes = [{"event": "b", "seen": ["a"]}, {"event": "c", "seen": ["a", "b"]}, {"event": "q", "seen": ["a"]}]
    got = kneser_ney_baselines(train, val, probes, k=1)
    assert [c[0][1] for c in got["kneser_ney"][0]] == ["b", "c", "b"]
    bits = got["kneser_ney"][1]
    assert bits[0] < 1 and bits[1] < 1 and bits[2] > 3  # q is the unknown bucket
    assert unknown_share(train, ["a", "q", "Q ", "b"]) == 0.5


# -- the ceiling ----------------------------------------------------------------------------------------------------

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


# -- the gap, the summary -----------------------------------------------------------------------------------------

def test_gap_closed_by_hand():
    share = gap_closed(np.array([0.3, 0.2, 0.1, 0.5]), np.array([0.2, 0.2, 0.2, 0.5]), np.array([0.4, 0.3, 0.4, 0.5]))
    assert share[:3].tolist() == pytest.approx([0.5, 0.0, -0.5]) and np.isnan(share[3])  # no gap: undefined


def test_summary_reports_the_ceiling_apart_from_the_baselines_with_the_gap_closed():
    groups = np.repeat(np.arange(20), 5)
    model, baseline, ceiling = (np.resize(np.array(v, float), 100) for v in ([1, 0, 0, 1, 0], [1, 0, 0, 0, 0],
                                                                              [1, 1, 0, 1, 0]))
    from cts.bootstrap import mean

    evaluation = Evaluation(groups=groups, model={"top1_tied": lambda b: mean(b, model)},
                                baselines={"bigram": {"top1_tied": lambda b: mean(b, baseline)}},
                                headline="top1_tied", ceiling={"top1_tied": lambda b: mean(b, ceiling)},
                                warnings=["6.0% of the 100 test events fall outside the train events"])
    summary = evaluation.summarize(n_resamples=200)
    assert summary["best_baseline"]["name"] == "bigram"  # the ceiling is never a baseline
    assert summary["ceiling"]["test/top1_tied"] == pytest.approx(0.6)
    assert summary["gap_closed"]["value"] == pytest.approx((0.4 - 0.2) / (0.6 - 0.2))
    assert summary["warnings"] == ["6.0% of the 100 test events fall outside the train events"]


# -- every position ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["gpt", "bert"])
def test_test_probes_cover_every_position_and_match_the_prefix_tokenization(family, train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "nextevent", tmp_path, family), tmp_path)
    datamodule = built(cfg, module=False)[0]
    probes, frame = datamodule.probes("test"), datamodule.frames["test"]
    lengths = frame.set_index("hadm_id")["events"].map(len)
    assert len(probes) == int((lengths[lengths >= 2] - 1).sum())
    positions = pd.DataFrame([(p["group"], p["position"]) for p in probes], columns=["hadm", "position"])
    for hadm, group in positions.groupby("hadm"):
        assert sorted(group["position"]) == list(range(1, lengths[hadm]))
    assert len(datamodule.probes("val")) == 4  # val keeps one position of probe_size admissions
    tok, text = datamodule.tokenizer, frame.set_index("hadm_id")["text"]
    for probe in probes[:40]:
        lines = text[probe["group"]].split("\n")
        prefix = tok("\n".join(lines[:probe["position"]]) + "\n", add_special_tokens=False)["input_ids"]
        prompt = probe["prompt"]
        if family == "bert":  # [CLS] + the most recent history
            assert prompt[0] == tok.cls_token_id
            prompt = prompt[1:]
        assert prompt == prefix[-len(prompt):]
        assert lines[probe["position"]].endswith(probe["event"]) and probe["seen"] == list(
            map(str, frame.set_index("hadm_id")["events"][probe["group"]][:probe["position"]]))


def test_nextevent_summary_has_the_ceiling_kneser_ney_and_the_gap_on_the_demo(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "nextevent", tmp_path, "gpt", "task.eval_limit=6"), tmp_path)
    datamodule, module = built(cfg)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_test_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=datamodule)
    summary = module.test_evaluation(datamodule).summarize(n_resamples=100)
    assert {"kneser_ney", "kneser_ney_unseen"} <= set(summary["baselines"])
    assert summary["baselines"]["kneser_ney"]["test/event_bits"] > 0
    assert {"test/top1_tied", "test/top5", "test/bits_per_event", "test/event_bits"} <= set(summary["ceiling"])
    assert summary["gap_closed"]["baseline"] == summary["best_baseline"]["name"]
    assert len(summary["ceiling"]) - 1 == len(summary["ceiling"]["ci95"])
