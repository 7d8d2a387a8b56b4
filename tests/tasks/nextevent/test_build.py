"""The next-event builder (``cts.tasks.nextevent.build``): whole admissions in time order, ties kept, raw and
bucket times."""

import pytest

from cts.tasks.nextevent.build import build_sequences
from tests.tasks.helpers import table


def test_nextevent_whole_admissions_in_time_order_ties_kept():
    events = table([(1, "fever", -24.0), (1, "cough", -24.0), (1, "aspirin", 0.5), (2, "rash", 3.0)])
    seqs = build_sequences(events)
    assert seqs["text"][0] == "[TIME] -24 [EVENT] fever\n[TIME] -24 [EVENT] cough\n[TIME] 0.5 [EVENT] aspirin"
    assert seqs["n_events"].tolist() == [3, 1] and list(seqs["events"][0]) == ["fever", "cough", "aspirin"]
    buckets = build_sequences(events, time_format="bucket")
    assert buckets["text"][0].splitlines()[0] == "[TIME] [T-6] [EVENT] fever"
    assert buckets["text"][0].splitlines()[2] == "[TIME] [T+1] [EVENT] aspirin"
    with pytest.raises(ValueError, match="time_format"):
        build_sequences(events, time_format="minutes")
