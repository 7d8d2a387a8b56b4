"""DataModule machinery: clear errors on bad task files, tokenization cached by tokenizer + data hash,
length-grouped batches that cover every row once (and shard evenly across DDP ranks), dynamic padding."""

import shutil

import numpy as np
import pandas as pd
import pytest

from cts.models.spec import ModelSpec
from cts.tasks.forecast.datamodule import ForecastDataModule
from cts.tasks.nextevent.datamodule import NextEventDataModule
from cts.tasks.relation.datamodule import RelationDataModule, hours_in_words
from cts.training import data as data_module
from cts.training.data import LengthGroupedBatchSampler, PadCollator


def relation_dm(directory, tmp_path, family="bert", **kwargs):
    return RelationDataModule(str(directory), ModelSpec(family, preset="tiny", cache_dir=tmp_path / "cache"),
                              batch_size=4, eval_batch_size=4, cache_dir=str(tmp_path / "cache"), **kwargs)


def copy_relation(train_data, tmp_path):
    target = tmp_path / "relation"
    shutil.copytree(train_data / "tasks" / "relation", target)
    return target


def test_tokenization_is_cached_and_invalidated_by_new_data(train_data, tmp_path, monkeypatch):
    directory = copy_relation(train_data, tmp_path)
    first = relation_dm(directory, tmp_path)
    first.prepare()
    calls = []
    original = RelationDataModule.encode
    monkeypatch.setattr(RelationDataModule, "encode", lambda self, f, s: calls.append(s) or original(self, f, s))
    again = relation_dm(directory, tmp_path)
    again.prepare()
    assert calls == []  # every split came from the cache
    assert [list(x) for x in again.datasets["val"].columns["input_ids"]] == \
           [list(x) for x in first.datasets["val"].columns["input_ids"]]
    frame = pd.read_parquet(directory / "val.parquet")
    frame.iloc[:3].to_parquet(directory / "val.parquet")  # the val split changed: only it is re-tokenized
    changed = relation_dm(directory, tmp_path)
    changed.prepare()
    assert calls == ["val"] and len(changed.datasets["val"]) == 3


def test_missing_split_names_the_build_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train.parquet not found: build the relation dataset first with "
                                                r"`python preprocess.py stage=build task=relation"):
        relation_dm(tmp_path, tmp_path).prepare()


def test_missing_column_names_the_file_and_column(train_data, tmp_path):
    directory = copy_relation(train_data, tmp_path)
    pd.read_parquet(directory / "test.parquet").drop(columns=["time_a"]).to_parquet(directory / "test.parquet")
    with pytest.raises(ValueError, match=r"test.parquet: missing column\(s\) \['time_a'\] for task relation"):
        relation_dm(directory, tmp_path).prepare()


def test_bad_label_names_the_row(train_data, tmp_path):
    directory = copy_relation(train_data, tmp_path)
    frame = pd.read_parquet(directory / "val.parquet")
    frame.loc[2, "label"] = 7
    frame.to_parquet(directory / "val.parquet")
    with pytest.raises(ValueError, match=r"val.parquet: row 2, column 'label': 7 is not in 0..2"):
        relation_dm(directory, tmp_path).prepare()


def test_causal_pairs_are_joined_by_a_separator_token(train_data, tmp_path):
    dm = relation_dm(train_data / "tasks" / "relation", tmp_path, family="gpt")
    dm.prepare()
    ids = list(dm.datasets["train"].columns["input_ids"][0])
    assert dm.tokenizer.sep_token_id in ids and dm.tokenizer.sep_token == "[SEP]"
    assert list(dm.datasets["test"].columns["row"]) == list(range(len(dm.frames["test"])))  # predictions → rows


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


def test_length_grouped_batches_cover_every_row_once_with_little_padding():
    lengths = np.random.default_rng(0).integers(3, 60, size=1000)
    sampler = LengthGroupedBatchSampler(lengths, batch_size=16, shuffle=True, seed=1, group_factor=8)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000)) and len(batches) == len(sampler)
    padded = sum(max(lengths[b]) * len(b) for b in batches)
    random_padded = sum(max(lengths[b]) * len(b) for b in np.array_split(np.random.permutation(1000), 63))
    assert padded < 0.7 * random_padded
    sampler.set_epoch(1)
    assert list(sampler) != batches  # reshuffled each epoch
    assert list(LengthGroupedBatchSampler(lengths, 16, shuffle=False)) == \
           list(LengthGroupedBatchSampler(lengths, 16, shuffle=False))


def test_batches_shard_evenly_across_ranks(monkeypatch):
    lengths = np.arange(50)
    shards = []
    for rank in range(3):
        monkeypatch.setattr(data_module, "world_rank", lambda rank=rank: (3, rank))
        sampler = LengthGroupedBatchSampler(lengths, batch_size=4, shuffle=True, seed=0)
        shards.append(list(sampler))
        assert len(shards[-1]) == len(sampler) == 5  # 13 batches → 5 per rank (padded by repeats)
    assert {i for shard in shards for b in shard for i in b} == set(range(50))


def test_pad_collator_pads_ids_masks_and_labels():
    batch = PadCollator(pad_token_id=0)([{"input_ids": np.array([5, 6, 7]), "labels": np.array([-100, 6, 7]),
                                          "time_a": 2.5}, {"input_ids": np.array([8]), "labels": np.array([8]),
                                                           "time_a": -1.0}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["time_a"].tolist() == [2.5, -1.0]


def test_a_seed_sweep_scores_every_seed_on_the_same_val_and_test_rows(train_data, tmp_path):
    directory = train_data / "tasks" / "relation"
    full = {split: pd.read_parquet(directory / f"{split}.parquet") for split in ("train", "val", "test")}
    size = min(len(frame) for frame in full.values()) // 2
    reads = {seed: {split: relation_dm(directory, tmp_path, max_rows=size, seed=seed).read(split)
                    for split in full} for seed in (1, 2)}
    for split in ("val", "test"):
        assert len(reads[1][split]) == size
        pd.testing.assert_frame_equal(reads[1][split], reads[2][split])
    assert not reads[1]["train"].equals(reads[2]["train"])  # train rows still follow the seed
    other = relation_dm(directory, tmp_path, max_rows=size, seed=1, sample_seed=7).read("test")
    assert not other.equals(reads[1]["test"])  # data.sample_seed, not seed, draws them


def test_max_rows_per_split_samples_train_and_keeps_every_test_row(train_data, tmp_path):
    directory = train_data / "tasks" / "relation"
    full = {split: pd.read_parquet(directory / f"{split}.parquet") for split in ("train", "val", "test")}
    dm = relation_dm(directory, tmp_path, max_rows={"train": 10, "val": 3, "test": None})
    assert [len(dm.read(split)) for split in full] == [10, 3, len(full["test"])]
    assert len(relation_dm(directory, tmp_path, max_rows={"train": 10}).read("val")) == len(full["val"])
    assert data_module.split_limits(0) is None and data_module.split_limits(5) == 5
    for bad in ({"tets": 3}, -1, 2.5, "100", True):
        with pytest.raises(ValueError, match="max_rows"):
            data_module.split_limits(bad)


def test_balance_train_draws_the_labels_equally_and_only_on_train(train_data, tmp_path):
    directory = copy_relation(train_data, tmp_path)
    train = pd.read_parquet(directory / "train.parquet")
    train["label"] = np.where(np.arange(len(train)) % 10 == 0, 1, 0)  # 10 % "after", no "before": like real data
    train.to_parquet(directory / "train.parquet")
    n = len(train) // 4
    dm = relation_dm(directory, tmp_path, max_rows=n, balance_train=True)
    drawn = dm.read("train")
    counts = drawn["label"].value_counts().to_dict()
    assert len(drawn) == n and counts[1] == min(n // 2, (train["label"] == 1).sum()) and counts[0] == n - counts[1]
    assert drawn.equals(relation_dm(directory, tmp_path, max_rows=n, balance_train=True).read("train"))  # seeded
    pd.testing.assert_frame_equal(dm.read("test"), relation_dm(directory, tmp_path, max_rows=n).read("test"))


def test_relation_class_weights():
    from cts.tasks.relation.module import class_weight_vector

    assert class_weight_vector(None) is None and class_weight_vector("none") is None
    assert class_weight_vector("balanced", [80, 10, 10]) == pytest.approx([100 / 240, 100 / 30, 100 / 30])
    assert class_weight_vector("balanced", [90, 10, 0]) == pytest.approx([100 / 180, 100 / 20, 0.0])
    assert class_weight_vector([1, 2, 3]) == [1.0, 2.0, 3.0]
    for bad in ("balnced", [1, 2], [0, 0, 0], [-1, 1, 1]):
        with pytest.raises(ValueError, match="class_weights"):
            class_weight_vector(bad, [1, 1, 1])


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


@pytest.mark.parametrize(("hours", "words"), [
    (0.0, "on admission"), (0.4, "on admission"), (-72.0, "3 days before admission"), (1.0, "1 hour after admission"),
    (5.0, "5 hours after admission"), (-131400.0, "15 years before admission"), (340.0, "2 weeks after admission")])
def test_first_time_in_words(hours, words):
    assert hours_in_words(hours) == words


def test_first_time_text_goes_into_the_first_event(train_data, tmp_path):
    directory = train_data / "tasks" / "relation"
    dm = relation_dm(directory, tmp_path, first_time_text="words")
    dm.prepare()
    frame = dm.frames["val"]
    text = dm.tokenizer.decode(dm.datasets["val"].columns["input_ids"][0], skip_special_tokens=True)
    assert hours_in_words(frame["time_a"][0]).split()[-1] in text
    with pytest.raises(ValueError, match="first_time_text must be one of"):
        relation_dm(directory, tmp_path, first_time_text="digits")
