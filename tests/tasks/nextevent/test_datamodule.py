"""task=nextevent data: chunks fit the model, probes hold the true next event, test probes cover every position and
match the prefix tokenization, a long next event shortens only its own prompt."""

import shutil

import numpy as np
import pandas as pd
import pytest

from cts.models.spec import ModelSpec
from cts.tasks.nextevent.datamodule import NextEventDataModule
from tests.training.helpers import built, compose_train, tiny


@pytest.mark.parametrize("family", ["bert", "gpt"])
def test_nextevent_chunks_fit_and_probes_hold_the_true_next_event(family, train_data, tmp_path):
    spec = ModelSpec(family, preset="tiny", max_length=48, cache_dir=tmp_path / "cache")
    dm = NextEventDataModule(str(train_data / "tasks" / "nextevent"), spec, probe_size=5, max_new_tokens=16,
                             cache_dir=str(tmp_path / "cache"))
    dm.prepare()
    assert max(dm.datasets["train"].lengths) <= 48
    probes = dm.module_kwargs()["probes"]
    assert len(probes["val"]) == 5  # val: probe_size; test: every position after the first of every admission
    lengths = dm.frames["test"]["events"].map(len)
    assert len(probes["test"]) == (lengths[lengths >= 2] - 1).sum()
    frame = dm.frames["val"]
    known = {(str(e), float(t)) for events, times in zip(frame["events"], frame["times"])
             for e, t in zip(events, times)}
    for probe in probes["val"]:
        assert (probe["event"], probe["hours"]) in known and probe["event"] in probe["ties"]
        assert probe["event"].lower() in dm.tokenizer.decode(probe["target"]).lower()  # the true line's tokens
        assert len(probe["prompt"]) + max(len(probe["target"]), 16) <= 48
        text = dm.tokenizer.decode(probe["prompt"])
        assert "[EVENT]" in text and probe["event"].lower() not in text.lower().split("\n")[-1]


def test_a_long_next_event_shortens_only_its_own_prompt(train_data, tmp_path):
    """Real timelines have long event texts: the longest answer of a split must not cut every other prompt."""
    directory = tmp_path / "nextevent"
    shutil.copytree(train_data / "tasks" / "nextevent", directory)
    spec = ModelSpec("gpt", preset="tiny", max_length=48, cache_dir=tmp_path / "cache")
    kwargs = {"probe_size": 5, "max_new_tokens": 8, "cache_dir": str(tmp_path / "cache")}
    before = NextEventDataModule(str(directory), spec, **kwargs)
    before.prepare()
    short = before.probes("test")
    chosen = len(short) // 2  # a position in the middle: the prompts before it must not change
    frame = pd.read_parquet(directory / "test.parquet")
    row = frame.index[frame["hadm_id"] == short[chosen]["group"]][0]
    events = [str(e) for e in frame.at[row, "events"]]
    position = short[chosen]["position"]
    events[position] = short[chosen]["event"] + " with a very long description" * 6
    frame.at[row, "events"] = np.array(events, dtype=object)
    frame.at[row, "text"] = "\n".join(f"[TIME] {t:g} [EVENT] {e}" for t, e in zip(frame.at[row, "times"], events))
    frame.to_parquet(directory / "test.parquet")
    after = NextEventDataModule(str(directory), spec, **kwargs)
    after.prepare()
    long = after.probes("test")
    assert [(p["group"], p["position"]) for p in long] == [(p["group"], p["position"]) for p in short]
    assert len(long[chosen]["target"]) > 48  # longer than max_length itself
    assert long[chosen]["prompt"] and len(long[chosen]["prompt"]) <= len(short[chosen]["prompt"])
    # the other prompts keep their history: every other admission's, and this one's before the long event (test
    # probes cover every position; the prompts after it hold the long line itself)
    kept = [i for i, p in enumerate(short) if p["group"] != short[chosen]["group"] or p["position"] < position]
    assert len(kept) >= 5 and [long[i]["prompt"] for i in kept] == [short[i]["prompt"] for i in kept]


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


def test_event_tokens_make_the_most_frequent_train_events_one_token(train_data, tmp_path):
    directory = train_data / "tasks" / "nextevent"
    train = pd.read_parquet(directory / "train.parquet")
    counts = pd.Series([str(e) for s in train["events"] for e in s]).value_counts()
    ranked = sorted(counts.index, key=lambda e: (-counts[e], e))
    n = next(k for k in range(2, len(ranked)) if counts[ranked[k - 1]] > counts[ranked[k]])  # no tie at the cut
    spec = ModelSpec("gpt", preset="tiny", max_length=64, cache_dir=tmp_path / "cache")
    dm = NextEventDataModule(str(directory), spec, probe_size=5, event_tokens=n, cache_dir=str(tmp_path / "cache"))
    dm.prepare()
    for event in ranked[:n]:
        assert dm.tokenizer(f"[EVENT] {event}", add_special_tokens=False)["input_ids"][-1] == \
            dm.tokenizer.convert_tokens_to_ids(event)
    assert dm.tokenizer.convert_tokens_to_ids(ranked[n]) == dm.tokenizer.unk_token_id  # not a whole token
    text = dm.frames["test"]["text"].iat[0]
    ids = dm.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert dm.tokenizer.decode(ids).replace(" ", "") == text.replace(" ", "")  # markers take in their spaces only
    tokens = dm.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "[TIME]" and all(tokens[i + 1] != "Ġ" for i, t in enumerate(tokens[:-1]) if t == "[EVENT]")
    plain = NextEventDataModule(str(directory), spec, cache_dir=str(tmp_path / "cache"))
    plain.prepare()
    assert len(dm.tokenizer) == len(plain.tokenizer) + n  # the default (0) adds none
    assert len(ids) < len(plain.tokenizer(text, add_special_tokens=False)["input_ids"])
    with pytest.raises(ValueError, match="event_tokens must be a count"):
        NextEventDataModule(str(directory), spec, event_tokens=-1)
