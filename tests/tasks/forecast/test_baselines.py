"""The forecast baselines on a hand-made fixture with known answers."""

import pandas as pd

from cts.tasks.forecast.baselines import fit_and_predict as forecast_baselines


def test_forecast_baselines_on_a_hand_made_fixture():
    train = pd.DataFrame({"last_event": ["a", "a", "a", "b"], "hypothesis_event": ["x", "y", "x", "y"]})
    probes = [{"event": "x", "hours": 3.0, "ties": ["x"], "last_event": "a", "observation_times": [0.0, 2.0, 2.0, 3.0],
               "seen": ["c", "X", "a"]},
              {"event": "y", "hours": 1.0, "ties": ["y"], "last_event": "q", "observation_times": [-1.0, 1.0],
               "seen": ["q"]}]
    got = forecast_baselines(train, probes, k=1)
    assert [c[0][1] for c in got["most_frequent"][0]] == ["x", "x"]  # x 2, y 2: tie → alphabetical
    assert [c[0][1] for c in got["bigram"][0]] == ["x", "x"]         # a → x twice; q unseen → most frequent
    # the observation's events skipped (compared normalized: "X" is x): a → y next; q → the most frequent, x
    assert [c[0][1] for c in got["bigram_unseen"][0]] == ["y", "x"]
    assert [c[0][0] for c in got["observed_time_mode"][0]] == [2.0, 1.0]  # mode; a tie goes to the latest
    assert [c[0][0] for c in got["last_time"][0]] == [3.0, 1.0]
