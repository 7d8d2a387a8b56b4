"""Metric helpers and encodings: time parsing (hours and bucket tokens), token F1, event-prediction counters
(tie-aware and distinct top-k, hours error, bits per event), the 9-bin time embedding agreeing with the dataset's bins,
prediction parsing per task, schedules, run names."""

import math

import numpy as np
import pytest
import torch

from cts.bootstrap import ClusterBootstrap
from cts.config import run_name
from cts.data.time_bins import log_bucket, log_bucket_tokens, time_bin
from cts.models.heads import TimeEncoding, pool
from cts.tasks.forecast.module import ForecastModule
from cts.tasks.nextevent.module import NextEventModule
from cts.training.metrics import (
    bucket_hours,
    distinct_events,
    event_statistics,
    likelihood_statistics,
    normalize_event,
    parse_hours,
    point_values,
    score_events,
    token_f1,
)
from cts.training.schedule import linear_warmup


def test_every_bucket_token_parses_to_hours_inside_its_bucket():
    for token in log_bucket_tokens():
        index = int(token[2:-1]) if token != "[T0]" else 0
        assert log_bucket(np.array([parse_hours(token)]))[0] == index, token
    assert bucket_hours(0) == 0.0


@pytest.mark.parametrize("text,hours", [("-24", -24.0), (" 2.5 ", 2.5), ("1 2", 12.0), ("soon", None), ("nan", None)])
def test_parse_hours(text, hours):
    assert parse_hours(text) == hours


def test_token_f1():
    assert token_f1("Chest  pain", "chest pain") == 1.0
    assert token_f1("chest pain", "chest tightness") == pytest.approx(0.5)
    assert token_f1("", "fever") == 0.0


def test_event_prediction_metrics():
    predictions = [[(2.0, "Fever"), (5.0, "cough")],   # top-1 hit, same bucket
                   [(None, "rash"), (1.0, "cough")]]   # top-k hit, time unparsed
    truths = [{"hours": 2.5, "event": "fever"}, {"hours": 30.0, "event": "cough"}]
    boot = ClusterBootstrap([1, 2], n_resamples=1)
    values = {name: float(f(boot)[0]) for name, f in event_statistics(score_events(predictions, truths, 2)).items()}
    assert (values["top1"], values["topk"], values["time_parsed"]) == (0.5, 1.0, 0.5)
    assert values["hours_mae"] == pytest.approx(0.5) and values["time_bucket_acc"] == 0.5


def test_bins_encoding_uses_the_datasets_bins():
    hours = torch.tensor([-100.0, -60.0, -0.5, 0.0, 14.9, 15.0, 200.0])
    encoding = TimeEncoding("bins", 50)
    expected = torch.as_tensor(time_bin(hours.numpy()).astype(np.int64))
    assert torch.equal(encoding(hours), encoding.embedding(expected))
    sinusoidal = TimeEncoding("sinusoidal", 50)(hours)
    assert sinusoidal.shape == (7, 50) and torch.isfinite(sinusoidal).all()
    assert TimeEncoding("none")(hours).shape == (7, 0)
    with pytest.raises(ValueError, match="time_encoding must be one of"):
        TimeEncoding("learned")


def test_loghours_encoding_leads_with_the_signed_log_hours():
    hours = torch.tensor([-(np.e**2 - 1), 0.0, np.e - 1, 1e6])
    loghours = TimeEncoding("loghours", 50)(hours)
    assert loghours.shape == (4, 50) and torch.isfinite(loghours).all()
    expected = torch.tensor([-2.0, 0.0, 1.0, np.log1p(1e6)]) / 10  # sign(h) · ln(1 + |h|) / 10
    assert torch.allclose(loghours[:, 0], expected.float(), atol=1e-6)
    assert torch.allclose(loghours[:, 1:], TimeEncoding("sinusoidal", 50)(hours)[:, :49])  # then the same code


def test_last_token_pooling_skips_padding():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert pool(hidden, mask, "last").view(-1).tolist() == [1.0, 7.0]
    assert pool(hidden, mask, "mean").view(-1).tolist() == [0.5, 5.5]


def test_prediction_parsing_per_task():
    assert NextEventModule.parse(None, "[TIME] -24 [EVENT] chest pain") == (-24.0, "chest pain")
    assert NextEventModule.parse(None, "[time] [T+5] [event] fever") == (bucket_hours(5), "fever")
    assert NextEventModule.parse(None, "garbage") == (None, "garbage")
    assert ForecastModule.parse(None, "2.5: heparin drip") == (2.5, "heparin drip")
    assert ForecastModule.parse(None, "no colon") == (None, "no colon")


def test_warmup_is_capped_for_short_runs():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = linear_warmup(optimizer, num_training_steps=100, warmup_steps=500)
    factors = [schedule.lr_lambdas[0](step) for step in (0, 25, 49, 50, 99)]
    # warm-up capped at 50 steps: step / 50 up to 50, then (100 - step) / 50
    assert factors == pytest.approx([0.0, 0.5, 0.98, 1.0, 0.02])


def test_run_names_are_file_safe_and_bounded():
    assert run_name(None, []) == "default"
    assert run_name("mine", ["model=gpt"]) == "mine"
    assert run_name(None, ["data.dir=/a/b c", "paths.log_dir=/x", "model=gpt"]) == "data.dir=_a_b_c,model=gpt"
    long = run_name(None, [f"model.lora.r={i}" for i in range(40)])
    assert len(long) <= 80 and long == run_name(None, [f"model.lora.r={i}" for i in range(40)])


# The log-bucket edges (hours), written out here so the expected middles do not come from the code under test.
EDGES = [1, 3, 6, 12, 24, 48, 96, 168, 336, 720, 2160, 4320, 8760]


@pytest.mark.parametrize("index,hours", [
    (1, 0.5), (-1, -0.5),                                    # (0, 1): half the upper edge
    (2, 3 ** 0.5), (-3, -(18 ** 0.5)),                       # geometric middle of (1, 3) and (3, 6)
    (13, (4320 * 8760) ** 0.5),                              # the last bucket with two edges
    (14, 8760 * 2 ** 0.5), (-14, -8760 * 2 ** 0.5),          # open-ended top bucket: (8760, 2 × 8760)
])
def test_bucket_hours_is_the_geometric_middle_of_the_bucket(index, hours):
    assert len(EDGES) == 13
    assert bucket_hours(index) == pytest.approx(hours, rel=1e-12)


def test_normalize_event_lowercases_and_collapses_spaces():
    assert normalize_event("  Chest\tPAIN \n worse ") == "chest pain worse"


def test_distinct_events_collapses_repeats_and_skips_empty_events():
    candidates = [(1.0, "Fever"), (2.0, " fever "), (None, ""), (3.0, "cough"), (4.0, "rash")]
    assert distinct_events(candidates, 2) == [(1.0, "Fever"), (3.0, "cough")]
    assert distinct_events(candidates, 5) == [(1.0, "Fever"), (3.0, "cough"), (4.0, "rash")]


def test_score_events_columns_row_by_row():
    predictions = [
        [(2.0, "Fever"), (2.0, "cough")],        # 0: strict top-1 hit
        [(1.0, "cough"), (3.0, "fever")],        # 1: top-1 is a tie of the truth; truth second
        [(5.0, "rash"), (6.0, "rash"), (7.0, "fever")],  # 2: truth only the second distinct event
        [(-3.0, "rash"), (9.0, "headache")],     # 3: nothing right; truth in the past
        [],                                      # 4: no prediction
        [(None, "chest pain")],                  # 5: time unparsed, half the words right
    ]
    truths = [
        {"hours": 2.5, "event": "fever"},
        {"hours": 0.0, "event": "fever", "ties": ["Cough"]},
        {"hours": 0.5, "event": "fever"},
        {"hours": -1.0, "event": "fever", "ties": ["nausea"]},
        {"hours": 4.0, "event": "fever"},
        {"hours": 10.0, "event": "chest tightness"},
    ]
    columns = score_events(predictions, truths, 1)
    assert columns["top1"].tolist() == [1, 0, 0, 0, 0, 0]
    assert columns["top1_tied"].tolist() == [1, 1, 0, 0, 0, 0]
    assert columns["topk"].tolist() == [1, 0, 0, 0, 0, 0]       # k = 1: a hit in second place is no top-k hit
    assert columns["topk_tied"].tolist() == [1, 1, 0, 0, 0, 0]
    assert columns["history"].tolist() == [0, 0, 0, 1, 0, 0]   # only a negative true time is history
    assert columns["parsed"].tolist() == [1, 1, 1, 1, 0, 0]
    assert columns["abs_error"].tolist() == [0.5, 1.0, 4.5, 2.0, 0, 0]
    assert columns["bucket_correct"].tolist() == [1, 0, 0, 0, 0, 0]
    assert columns["token_f1"].tolist() == pytest.approx([1, 0, 0, 0, 0, 0.5])
    wider = score_events(predictions, truths, 2)
    assert wider["topk"].tolist() == [1, 1, 1, 0, 0, 0]
    assert wider["topk_tied"].tolist() == [1, 1, 1, 0, 0, 0]
    assert wider["top1"].tolist() == [1, 0, 0, 0, 0, 0]


def test_hours_mae_is_split_between_history_and_stay():
    columns = {name: np.zeros(4) for name in ("top1", "top1_tied", "topk", "topk_tied", "token_f1", "bucket_correct")}
    columns["parsed"] = np.array([1.0, 1.0, 1.0, 0.0])
    columns["abs_error"] = np.array([2.0, 4.0, 10.0, 0.0])
    columns["history"] = np.array([1.0, 0.0, 0.0, 1.0])
    boot = ClusterBootstrap([1, 2, 3, 4], n_resamples=1)
    values = {name: float(f(boot)[0]) for name, f in event_statistics(columns).items()}
    assert values["hours_mae"] == pytest.approx(16 / 3)
    assert values["hours_mae_history"] == pytest.approx(2.0)   # row 0 only: row 3 is history but unparsed
    assert values["hours_mae_stay"] == pytest.approx(7.0)      # rows 1 and 2
    assert values["time_parsed"] == pytest.approx(0.75)


def test_bits_per_event_and_token_perplexity_at_full_sample():
    bits = np.array([1.0, 2.0, 3.0, 10.0])
    log_likelihood = -bits * np.log(2.0)
    n_tokens = np.array([2, 1, 1, 4])
    values = point_values(likelihood_statistics(log_likelihood, n_tokens), groups=["a", "b", "c", "d"])
    assert set(values) == {"bits_per_event", "token_perplexity"}
    assert values["bits_per_event"] == pytest.approx(4.0)           # the full sample, not a resample
    assert values["token_perplexity"] == pytest.approx(4.0)         # exp(16 ln 2 / 8 tokens) = 2 ** 2
    assert all(type(value) is float for value in values.values())


def truth(event, hours=0.0, ties=()):
    return {"event": event, "hours": hours, "ties": list(ties)}


def values(statistics, n_rows):
    boot = ClusterBootstrap(np.arange(n_rows), n_resamples=1)
    return {name: float(statistic(boot)[0]) for name, statistic in statistics.items()}


def test_tie_aware_accuracy_counts_any_unseen_event_at_the_true_time():
    truths = [truth("fever", ties=["fever", "cough"]), truth("fever", ties=["fever", "cough"]), truth("rash")]
    predictions = [[(0.0, "Cough")], [(0.0, "fever")], [(0.0, "cough")]]
    columns = score_events(predictions, truths, k=1)
    assert columns["top1"].tolist() == [0, 1, 0]          # strict: only the listed next event
    assert columns["top1_tied"].tolist() == [1, 1, 0]     # tied: cough shares fever's time; rash has no tie


def test_top_k_is_over_distinct_events_not_beams():
    beams = [(1.0, "a"), (2.0, "a"), (3.0, "A "), (1.0, "b"), (1.0, "c"), (1.0, "d"), (1.0, "e"), (1.0, "f")]
    # 5 beams hold only a and b; the 5 distinct events are a..e, so f (6th distinct) is out and e is in
    columns = score_events([beams, beams], [truth("e"), truth("f")], k=5)
    assert columns["topk"].tolist() == [1, 0]
    assert columns["top1"].tolist() == [0, 0]


def test_hours_mae_covers_parsed_rows_split_into_history_and_stay():
    truths = [truth("x", hours=-10.0), truth("x", hours=4.0), truth("x", hours=2.0)]
    predictions = [[(-4.0, "x")], [(5.0, "x")], [(None, "x")]]
    got = values(event_statistics(score_events(predictions, truths, k=1)), 3)
    assert got["time_parsed"] == pytest.approx(2 / 3)
    assert got["hours_mae"] == pytest.approx((6 + 1) / 2)
    assert got["hours_mae_history"] == pytest.approx(6.0) and got["hours_mae_stay"] == pytest.approx(1.0)


def test_bits_per_event_and_token_perplexity():
    log_likelihood = np.array([-math.log(2) * 3, -math.log(2) * 5])  # 3 and 5 bits, over 2 and 6 tokens
    got = values(likelihood_statistics(log_likelihood, np.array([2, 6])), 2)
    assert got["bits_per_event"] == pytest.approx(4.0)
    assert got["token_perplexity"] == pytest.approx(2 ** (8 / 8))
