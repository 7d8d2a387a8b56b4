"""task=forecast data: the loss covers only the hypothesis, every test window is a probe, eval_limit cuts them."""

import pytest

from cts.models.spec import ModelSpec
from cts.tasks.forecast.datamodule import ForecastDataModule
from cts.training.metrics import normalize_event
from tests.training.helpers import built, compose_train, tiny


def test_forecast_loss_covers_only_the_hypothesis(train_data, tmp_path):
    spec = ModelSpec("llama", preset="tiny", cache_dir=tmp_path / "cache")
    dm = ForecastDataModule(str(train_data / "tasks" / "forecast"), spec, probe_size=3,
                            cache_dir=str(tmp_path / "cache"))
    dm.prepare()
    columns = dm.datasets["train"].columns
    ids, labels, prompt = list(columns["input_ids"][0]), list(columns["labels"][0]), int(columns["prompt_length"][0])
    assert all(label == -100 for label in labels[:prompt])
    target = dm.tokenizer.decode([t for t in labels[prompt:] if t != dm.tokenizer.eos_token_id])
    assert target.strip() == dm.frames["train"]["hypothesis"].iat[0]
    assert ids[prompt:] == labels[prompt:]
    probes = dm.probes("test")
    assert len(probes) == len(dm.frames["test"])  # every test window by default
    for probe in probes:
        assert dm.tokenizer.decode(probe["target"]).strip().endswith(probe["event"]) and probe["event"] in probe["ties"]


def test_eval_limit_cuts_the_scored_test_examples(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "forecast", tmp_path, "gpt", "task.eval_limit=3"), tmp_path)
    datamodule = built(cfg, module=False)[0]
    assert len(datamodule.probes("test")) == 3 and len(datamodule.probes("val")) == 4  # val: probe_size


def test_event_tokens_make_frequent_hypothesis_events_one_token_and_the_loss_still_covers_them(train_data, tmp_path):
    directory = train_data / "tasks" / "forecast"
    spec = ModelSpec("gpt", preset="tiny", cache_dir=tmp_path / "cache")
    dm = ForecastDataModule(str(directory), spec, probe_size=3, event_tokens=4, cache_dir=str(tmp_path / "cache"))
    dm.prepare()
    counts = dm.frames["train"]["hypothesis_event"].astype(str).value_counts()
    frequent = sorted(counts[counts >= 2].index, key=lambda e: (-counts[e], e))[:4]
    assert set(dm.word_tokens()) == set(frequent) and len(frequent) == 4
    columns = dm.datasets["train"].columns
    row = next(i for i, e in enumerate(dm.frames["train"]["hypothesis_event"]) if e == frequent[0])
    prompt, labels = int(columns["prompt_length"][row]), list(columns["labels"][row])
    assert dm.tokenizer.convert_tokens_to_ids(frequent[0]) in labels[prompt:]  # one token, inside the loss
    target = dm.tokenizer.decode([t for t in labels[prompt:] if t != dm.tokenizer.eos_token_id])
    assert target.strip() == dm.frames["train"]["hypothesis"].iat[row]  # the text comes back whole
    with pytest.raises(ValueError, match="event_tokens must be a count"):
        ForecastDataModule(str(directory), spec, event_tokens=-2)


def test_exclude_seen_auto_follows_the_train_windows_and_the_model_never_names_an_observed_event(train_data, tmp_path):
    """The demo never repeats an event within an admission, so no train hypothesis repeats its observation: auto
    excludes the observation's events (searching 10 beams for top-1), as ``bigram_unseen`` does."""
    cfg = compose_train(tiny(train_data, "forecast", tmp_path, "gpt", "task.eval_limit=6"), tmp_path)
    datamodule, module = built(cfg)
    assert datamodule.module_kwargs()["train_repeat_share"] == 0.0
    assert module.exclude_seen is True and module.beams == 10
    probes = datamodule.probes("test")
    for probe, observed in zip(probes, datamodule.frames["test"]["observation_events"]):
        assert probe["seen"] == list(observed)
    module.lm.eval()
    for (candidates, _, _), probe in zip(module._predict(probes), probes):
        assert not {normalize_event(e) for _, e in candidates} & {normalize_event(e) for e in probe["seen"]}
    # test hypotheses the train ones do not name: a warning above 5% (compared normalized), none at or below
    events = [probe["event"] for probe in probes]
    assert module.unknown_warnings([e.upper() for e in events], probes, "the train hypotheses") == []
    warned = module.unknown_warnings(events[1:], probes, "the train hypotheses")
    assert len(warned) == 1 and warned[0].startswith(f"{1 / len(events):.1%} of the {len(events)} test events fall "
                                                     "outside the train hypotheses (over 5%)")
    plain = built(compose_train(tiny(train_data, "forecast", tmp_path / "off", "gpt", "task.eval_limit=6",
                                     "task.module.exclude_seen=false"), tmp_path / "off"))[1]
    assert plain.exclude_seen is False and plain.beams == 1  # greedy
