"""The next-event baselines on hand-made fixtures with known answers: most frequent, bigram, time bucket, last time,
and Kneser–Ney with its order chosen on val."""

import numpy as np
import pandas as pd
import pytest

from cts.tasks.nextevent.baselines import fit_and_predict as nextevent_baselines
from cts.tasks.nextevent.baselines import kneser_ney_baselines
from cts.training.metrics import bucket_hours


def nextevent_train():
    # followers: a→b twice, a→c once; b→c twice; c→a once. Next events overall: b 2, c 3, a 1.
    return pd.DataFrame({"events": [["a", "b", "c"], ["a", "b", "c"], ["a", "c", "a"]],
                         "times": [[0.0, 2.0, 30.0], [0.0, 2.0, 30.0], [-5.0, 0.5, 2.0]]})


def test_nextevent_baselines_on_a_hand_made_fixture():
    probes = [{"event": "c", "hours": 40.0, "ties": ["c"], "previous_event": "a", "previous_hours": 2.5,
               "seen": ["a", "b"]},
              {"event": "z", "hours": -1.0, "ties": ["z"], "previous_event": "unknown", "previous_hours": -2.0,
               "seen": ["unknown"]}]
    got = nextevent_baselines(nextevent_train(), probes, k=2)
    events = {name: [[e for _, e in c] for c in got[name][0]] for name in ("most_frequent", "bigram", "bigram_unseen")}
    assert events["most_frequent"] == [["c", "b"], ["c", "b"]]
    assert events["bigram"] == [["b", "c"], ["c", "b"]]         # a's followers; unknown → most frequent
    assert events["bigram_unseen"] == [["c"], ["c", "b"]]      # b seen; a (the only other event) is seen too
    # 2.5 h lies in bucket 2 ([1, 3) h); in train bucket 2 is followed by bucket 6 ([24, 48) h: 30 h) twice
    (first,), _ = got["bucket"][0]
    assert first[0] == pytest.approx(bucket_hours(6)) and first[1] == ""
    assert [c[0][0] for c in got["last_time"][0]] == [2.5, -2.0]


def test_kneser_ney_baselines_choose_the_order_on_val_and_score_every_probe():
    train = pd.DataFrame({"events": [["a", "b", "c"]] * 5 + [["a", "c", "b"]]})
    val = pd.DataFrame({"events": [["a", "b", "c"]]})
    probes = [{"event": "b", "seen": ["a"]}, {"event": "c", "seen": ["a", "b"]}, {"event": "q", "seen": ["a"]}]
    got = kneser_ney_baselines(train, val, probes, k=1)
    assert [c[0][1] for c in got["kneser_ney"][0]] == ["b", "c", "b"]
    bits = got["kneser_ney"][1]
    assert bits[0] < 1 and bits[1] < 1 and bits[2] > 3  # q is the unknown bucket


def test_kneser_ney_event_bits_over_the_model_s_candidates_score_every_other_event_as_one_bucket():
    """Given the events the model ranks, an event outside them costs −log2 of the mass of everything outside them
    (the unknown bucket and the train events left out), the outcomes the model's event bits are over; an event among
    them keeps its own probability."""
    train = pd.DataFrame({"events": [["a", "b", "c"]] * 5 + [["a", "c", "b"]]})
    val = pd.DataFrame({"events": [["a", "b", "c"]]})
    probes = [{"event": "c", "seen": ["a"]}, {"event": "q", "seen": ["a"]}, {"event": "b", "seen": ["a"]}]
    plain = kneser_ney_baselines(train, val, probes, k=1)
    within = kneser_ney_baselines(train, val, probes, k=1, vocabulary=["a", "B"])  # "B" compares equal to b
    for name in ("kneser_ney", "kneser_ney_unseen"):
        c_bits, unknown_bits, b_bits = plain[name][1]
        bucket_bits = -np.log2(2.0 ** -c_bits + 2.0 ** -unknown_bits)  # same history: P(c) + P(<unk>)
        assert within[name][1] == pytest.approx([bucket_bits, bucket_bits, b_bits])
        assert bucket_bits < min(c_bits, unknown_bits)
