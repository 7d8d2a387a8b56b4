"""task=relation data: causal pairs joined by a separator token, a balanced train sample, the first event's time in
words."""

import numpy as np
import pandas as pd
import pytest

from cts.tasks.relation.datamodule import hours_in_words
from tests.training.helpers import copy_relation, relation_dm


def test_causal_pairs_are_joined_by_a_separator_token(train_data, tmp_path):
    dm = relation_dm(train_data / "tasks" / "relation", tmp_path, family="gpt")
    dm.prepare()
    ids = list(dm.datasets["train"].columns["input_ids"][0])
    assert dm.tokenizer.sep_token_id in ids and dm.tokenizer.sep_token == "[SEP]"
    assert list(dm.datasets["test"].columns["row"]) == list(range(len(dm.frames["test"])))  # predictions → rows


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
