"""The risk task's bag-of-events baseline on a hand-made fixture."""

import numpy as np
import pandas as pd
import pytest

from cts.tasks.risk.baseline import BagOfEventsBaseline


def test_bag_of_events_baseline_on_a_hand_made_fixture():
    train = pd.DataFrame({"events": [["shock", "copd"], ["shock"], ["rash"], ["rash", "copd"]] * 5,
                          "label": [1, 1, 0, 0] * 5})
    test = pd.DataFrame({"events": [["Shock"], ["rash"], []], "label": [1, 0, 0]})
    probability = BagOfEventsBaseline().fit(train).predict_proba(test)
    assert probability[0] > 0.5 > probability[1]  # "shock" marks the positives (case-insensitive names)
    assert probability[1] < probability[2] < probability[0]  # no events: between the two
    with pytest.raises(ValueError, match="both outcomes"):
        BagOfEventsBaseline().fit(train.assign(label=1))
    assert np.isfinite(probability).all()
