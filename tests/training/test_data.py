"""DataModule machinery (``cts.training.data``), through the relation datamodule: clear errors on bad task files,
tokenization cached by tokenizer + data hash, length-grouped batches that cover every row once (and shard evenly across
DDP ranks), dynamic padding, max_rows samples that keep val and test fixed across a seed sweep."""

import numpy as np
import pandas as pd
import pytest

from cts.tasks.relation.datamodule import RelationDataModule
from cts.training import data as data_module
from cts.training.data import LengthGroupedBatchSampler, PadCollator
from tests.training.helpers import copy_relation, relation_dm


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
