"""task=extract: events aligned to the annotator's windows (unaligned ones counted), long notes windowed, a
fast_dev_run per causal family, and the exported hf_model/ reproducing the module's greedy annotation in annotate.py."""

import functools
import json
import logging

import hydra
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from train_helpers import ROOT, compose_train

from cts.annotation.backends.hf import HFBackend
from cts.annotation.runner import run as annotate
from cts.annotation.tasks import EventsTask
from cts.annotation.windows import Window
from cts.tasks.extract.build import build_extract_notes
from cts.tasks.extract.datamodule import align_events
from cts.tasks.extract.module import export_hf_model
from cts.training.groups import instantiate_datamodule
from cts.training.run import train


@pytest.fixture(scope="module")
def extract_data(tmp_path_factory):
    """A 40-admission demo corpus and its extract dataset (one row per note with the admission's events)."""
    from cts.data.demo import generate_demo
    from cts.data.task_dataset import run_build

    root = tmp_path_factory.mktemp("extract_data")
    generate_demo(root, n_admissions=40, seed=3)
    run_build("extract", functools.partial(build_extract_notes, notes=root / "notes.csv.gz"),
              root / "events_normalized.parquet", root / "tasks" / "extract", seed=0)
    return root


def overrides(data, work, family, *extra):
    """Tiny preset, 640-token prompts (~230 note tokens: every demo note is cut into several windows), 32-token
    answers, 2 test admissions."""
    return ["task=extract", f"model={family}", "model.preset=tiny", "model.max_length=672",
            f"data.dir={data / 'tasks' / 'extract'}", "data.batch_size=4", "data.eval_batch_size=4", "data.max_rows=8",
            f"paths.cache_dir={work / 'cache'}", f"paths.log_dir={work / 'logs'}", "task.max_prompt_tokens=640",
            "task.max_new_tokens=32", "task.eval_limit=2", "task.baseline=null", "logger=none", "callbacks=none",
            *extra]


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


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_fast_dev_run_scores_as_an_annotator_and_exports(family, extract_data, tmp_path, caplog):
    cfg = compose_train(overrides(extract_data, tmp_path, family, "trainer.fast_dev_run=true"), tmp_path)
    with caplog.at_level(logging.INFO, logger="cts"):
        metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["test/loss"])) and 0 <= metrics["test/f1"] <= 1
    assert "found in no window" in caplog.text
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"test/f1", "test/recall", "test/mae_hours"} <= set(summary["ci95"])
    exported = tmp_path / "hf_model"
    assert (exported / "model.safetensors").exists() and json.loads(
        (exported / "tokenizer_config.json").read_text()) is not None
    assert HFBackend(model=str(exported), max_new_tokens=4, temperature=0.0, batch_size=1,
                     max_prompt_tokens=128).tokenizer.chat_template


@pytest.mark.parametrize("family,lora", [("gpt", 0), ("llama", 4)])
def test_exported_model_reproduces_the_modules_greedy_annotation(family, lora, extract_data, tmp_path):
    cfg = compose_train(overrides(extract_data, tmp_path, family, f"model.lora.r={lora}"), tmp_path)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare()
    module = hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs())
    module.lm.eval()
    admission = module.admissions["test"][0]
    expected = EventsTask(module.prompt, module.backend()).annotate([admission.notes])[0]
    folder = export_hf_model(module.lm, module.tokenizer, tmp_path / "hf_model")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / f"{admission.hadm_id}.txt").write_text(admission.notes[0].text)
    llm = OmegaConf.load(ROOT / "conf" / "llm" / "hf.yaml")
    llm.model, llm.batch_size = str(folder), 8
    for key, value in module.settings.items():
        if key != "batch_size":
            llm[key] = value
    summary = annotate(task="events", input=str(notes), candidates=None, output=str(tmp_path / "out"), llm=llm,
                       prompt=OmegaConf.create(cfg.task.datamodule.prompt), shard={"index": None, "count": None},
                       corpus_dir="unused", consolidate=False)
    assert summary["counts"]["written"] == 1
    got = json.loads((tmp_path / "out" / f"{admission.hadm_id}.json").read_text())
    assert [(e["event"], e["time"]) for e in got["events"]] == [(e["event"], e["time"]) for e in expected["events"]]
    assert [(r["line"], r["reason"]) for r in got["rejects"]] == [(r["line"], r["reason"]) for r in expected["rejects"]]
    assert got["counts"] == expected["counts"] and got["counts"]["rejects"] + got["counts"]["events"] > 0
