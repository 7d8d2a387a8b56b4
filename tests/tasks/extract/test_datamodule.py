"""task=extract data: events aligned to the annotator's windows (unaligned ones counted), long notes windowed,
and a model that cannot generate refused with the families that can."""

import hydra
import pandas as pd
import pytest

from cts.annotation.windows import Window
from cts.tasks.extract.datamodule import align_events
from cts.training.groups import instantiate_datamodule
from cts.training.run import train
from tests.training.helpers import compose_train

from .helpers import overrides


def test_events_go_to_the_window_that_holds_them_and_unfound_ones_are_none():
    text = "Chest pain began 2 days ago. " + "Filler words here. " * 3 + "Later ATRIAL fibrillation on day 3."
    cut = text.index("Later")
    windows = [Window(0, cut + 10, cut), Window(cut - 10, len(text), len(text))]
    places = align_events([text], [windows], ["chest pain", "atrial fibrillation", "kidney stones"], threshold=90)
    assert places[0] == (0, 0, 0)
    assert places[1][:2] == (0, 1) and text[places[1][2]:].lower().startswith("atrial")
    assert places[2] is None  # in no window: the caller counts it


def test_events_of_two_notes_align_to_the_note_that_mentions_them():
    notes = ["Admitted with sepsis.", "Discharge: started on warfarin."]
    windows = [[Window(0, len(n), len(n))] for n in notes]
    assert [p[:2] for p in align_events(notes, windows, ["sepsis", "warfarin"], 90)] == [(0, 0), (1, 0)]


def test_long_notes_are_windowed_and_unaligned_events_counted(extract_data, tmp_path):
    cfg = compose_train(overrides(extract_data, tmp_path, "gpt"), tmp_path)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare()
    train_rows = datamodule.frames["train"]
    assert datamodule.counts["train"]["windows"] > 2 * len(train_rows)  # several windows per note
    frame = pd.DataFrame({"hadm_id": [1], "note_id": ["1-DS-1"], "text": [train_rows["text"].iloc[0]],
                          "events": [["no such event anywhere", *train_rows["events"].iloc[0][:3]]],
                          "hours": [[5.0, *train_rows["hours"].iloc[0][:3]]]})
    encoded = datamodule.encode(frame, "train")
    assert sum(encoded["unaligned"]) == 1 and sum(encoded["events"]) == 4
    assert sum(encoded["aligned"]) + sum(encoded["cut_at_max_new_tokens"]) == 3
    targets = [datamodule.tokenizer.decode([t for t in labels if t != -100]) for labels in encoded["labels"]]
    assert sum("none" in t for t in targets) >= 1  # windows without an event answer "none"
    assert all(len(ids) <= 640 + 32 for ids in encoded["input_ids"])


def test_a_bert_model_is_refused_with_the_families_that_can(extract_data, tmp_path):
    cfg = compose_train(overrides(extract_data, tmp_path, "bert"), tmp_path)
    with pytest.raises(Exception, match="needs model=gpt or model=llama"):
        train(cfg)
