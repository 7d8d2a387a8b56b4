"""task=extract's module: a fast_dev_run per causal family through train.py's run body, scored as an annotator and
exported; the exported hf_model/ reproducing the module's greedy annotation in annotate.py."""

import json
import logging

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from cts.annotation.backends.hf import HFBackend
from cts.annotation.runner import run as annotate
from cts.annotation.tasks import EventsTask
from cts.tasks.extract.module import export_hf_model
from cts.training.groups import instantiate_datamodule
from cts.training.run import train
from tests.training.helpers import ROOT, compose_train

from .helpers import overrides


@pytest.mark.e2e
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
