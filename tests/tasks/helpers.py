"""An event table as the task builders read it (categorical events, their time bins)."""

import pandas as pd

from cts.data.time_bins import time_bin


def table(rows):
    frame = pd.DataFrame(rows, columns=["hadm_id", "event", "time"])
    frame["event"] = frame["event"].astype("category")
    frame["time_bin"] = time_bin(frame["time"].to_numpy())
    return frame
