"""Metric helpers and encodings: time parsing (hours and bucket tokens), token F1, event-prediction counters,
the 9-bin time embedding agreeing with the dataset's bins, prediction parsing per task, schedules, run names."""

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
    event_statistics,
    parse_hours,
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
