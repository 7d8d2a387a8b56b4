"""docs/extending.md's four walks, each as the smallest working example, added from outside ``src/`` and ``conf/``
(the code and configs in tests/project/extending/, found through ``--config-dir`` and ``PYTHONPATH``, or Hydra's
``hydra.searchpath`` in process):

- a task (``task=phase``): built by ``preprocess.py stage=build``, trained and tested by train.py with its baseline;
- a model family (``model=qwen``, Qwen2): a row of ``TRAITS`` registered by its config's target, trained on a
  causal-LM task;
- a dataset variant (``corpus=jsonl``, ``data=jsonl``): imported by its own stage, read by ``stage=build``, and
  built on first use by train.py;
- an LLM backend (``llm=sentences``): annotate.py annotates the tiny notes with it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

import cts  # noqa: F401  (registers the config resolvers)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).resolve().parent / "extending"
CONF = EXAMPLES / "conf"


def run(script: str, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    """``python SCRIPT --config-dir tests/project/extending/conf ARGS`` as a user types it, with the examples
    importable; logs under ``tmp``."""
    path = os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    done = subprocess.run([sys.executable, str(ROOT / script), "--config-dir", str(CONF), *args,
                           f"paths.log_dir={tmp / 'logs'}"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def compose_train(overrides: list[str], output_dir: Path):
    """train.py's config with the examples' config folder on Hydra's search path (as ``--config-dir`` adds it)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train", return_hydra_config=True,
                      overrides=[f"hydra.searchpath=[file://{CONF}]", *overrides])
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def quick(work: Path, *extra: str) -> list[str]:
    """Seconds-long training: tiny preset, one batch of each split, no logger or checkpoints."""
    return ["model.preset=tiny", "data.batch_size=8", "data.eval_batch_size=8", "data.num_workers=0",
            f"paths.cache_dir={work / 'cache'}", f"paths.log_dir={work / 'logs'}", "trainer.fast_dev_run=true",
            "logger=none", "callbacks=none", "bootstrap.n_resamples=50", *extra]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A 40-admission demo corpus (events_normalized.parquet, splits.parquet)."""
    from cts.data.demo import generate_demo

    folder = tmp_path_factory.mktemp("extending_demo")
    generate_demo(folder, n_admissions=40, seed=3)
    return folder


@pytest.fixture
def examples_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


@pytest.mark.e2e
def test_a_task_added_from_outside_is_built_trained_and_tested_with_a_baseline(corpus, tmp_path, examples_importable):
    """(a) A task: conf/task/phase.yaml + build/datamodule/module in tests/project/extending/phase_task.py."""
    from cts.training.run import train

    data = tmp_path / "phase"
    run("preprocess.py", "stage=build", "task=phase", f"input={corpus / 'events_normalized.parquet'}",
        f"output={data}", tmp=tmp_path)
    meta = json.loads((data / "meta.json").read_text())
    events = pd.read_parquet(corpus / "events_normalized.parquet")
    assert meta["task"] == "phase" and sum(meta["rows"].values()) == len(events)  # one row per event
    train_rows = pd.read_parquet(data / "train.parquet")
    assert set(train_rows["label"]) == {0, 1, 2}  # before, at and after admission all occur

    metrics = train(compose_train(["task=phase", "data=events", f"data.dir={data}", *quick(tmp_path)], tmp_path))
    assert 0.0 <= metrics["test/acc"] <= 1.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["task"], summary["optimized_metric"]) == ("phase", "val/acc_best")
    assert set(summary["baselines"]) == {"majority"} and summary["best_baseline"]["metric_name"] == "test/acc"
    assert (tmp_path / "report.html").is_file()


@pytest.mark.e2e
def test_a_model_family_added_from_outside_trains_a_causal_lm_task(corpus, tmp_path, examples_importable):
    """(b) A model family: conf/model/qwen.yaml, whose target adds Qwen2's row to TRAITS (qwen_family.py)."""
    import transformers

    from cts.data.task_dataset import run_build
    from cts.models.spec import TRAITS, ModelSpec
    from cts.tasks.nextevent.build import build_sequences
    from cts.training.run import train

    with pytest.raises(ValueError, match="model.family must be one of"):
        ModelSpec("qwen", preset="tiny")  # not a family until its config's target registers it
    data = tmp_path / "nextevent"
    run_build("nextevent", build_sequences, corpus / "events_normalized.parquet", data, seed=0)
    cfg = compose_train(["model=qwen", "task=nextevent", "data=events", f"data.dir={data}",
                         *quick(tmp_path, "task.datamodule.probe_size=4", "task.module.max_new_tokens=8",
                                "task.module.ceiling.enabled=false", "task.eval_limit=3",
                                "task.module.rank_candidates=20")], tmp_path)
    assert cfg.model.optimizer.lr == 5.0e-5 and cfg.model.family == "qwen"  # the gpt family's settings, then its own
    try:
        metrics = train(cfg)
        spec = ModelSpec("qwen", preset="tiny", cache_dir=tmp_path / "cache")  # the row is in the table now
        assert isinstance(spec.build("causal_lm", _tokenizer(spec)), transformers.Qwen2ForCausalLM)
    finally:
        TRAITS.pop("qwen", None)
    assert metrics["test/perplexity"] > 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["family"], summary["model"]) == ("qwen", "qwen-tiny")


def _tokenizer(spec):
    return spec.tokenizer(lambda: ["fever | 0", "cough | 24"] * 50, data_key="extending-test")


def _stays(path: Path) -> Path:
    """12 stays of 6 patients (two each), six timeline events per stay."""
    events = ["fever", "cough", "chest pain", "ceftriaxone", "blood cultures", "metoprolol", "rash", "home"]
    lines = []
    for k in range(12):
        timeline = [[events[(k + i) % len(events)], [-48, -24, 0, 24, 48, 96][i]] for i in range(6)]
        text = ". ".join(f"{event} at {hours} hours" for event, hours in timeline)
        lines.append(json.dumps({"id": f"stay-{k}", "patient": f"p-{k // 2}", "text": text, "timeline": timeline}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.e2e
def test_a_dataset_variant_is_imported_read_by_a_stage_and_built_by_train(tmp_path, examples_importable):
    """(c) A dataset variant: jsonl_corpus.py's importer as conf/stage/import_jsonl.yaml, conf/corpus/jsonl.yaml
    (corpus=jsonl points the stages at it) and conf/data/jsonl.yaml (train.py builds its task data on first use)."""
    from cts.training.run import train

    stays = _stays(tmp_path / "stays.jsonl")
    data_dir = tmp_path / "data"
    run("preprocess.py", "corpus=jsonl", "stage=import_jsonl", f"input={stays}", f"paths.data_dir={data_dir}",
        tmp=tmp_path)
    imported = data_dir / "jsonl"
    splits = pd.read_parquet(imported / "splits.parquet")
    assert len(splits) == 12 and splits.groupby("subject_id")["split"].nunique().max() == 1  # by patient
    assert set(splits["split"]) == {"train", "val", "test"}
    run("preprocess.py", "corpus=jsonl", "stage=build", "task=relation", f"paths.data_dir={data_dir}", tmp=tmp_path)
    pairs = pd.concat(pd.read_parquet(imported / "tasks" / "relation" / f"{s}.parquet")
                      for s in ("train", "val", "test"))
    assert len(pairs) == 12 * 5  # consecutive events of each stay

    fresh = tmp_path / "fresh"  # no corpus there yet: train.py imports it, then builds the task data
    metrics = train(compose_train(["data=jsonl", "task=relation", f"paths.data_dir={fresh}",
                                   f"data.build.create.source={stays}", *quick(tmp_path)], tmp_path))
    assert 0.0 <= metrics["test/macro_f1"] <= 1.0
    assert (fresh / "jsonl" / "import_report.json").is_file()
    assert (fresh / "jsonl" / "tasks" / "relation" / "test.parquet").is_file()


@pytest.mark.e2e
def test_an_llm_backend_added_from_outside_annotates_the_notes(tmp_path, monkeypatch):
    """(d) An LLM backend: conf/llm/sentences.yaml selects sentence_backend.SentenceBackend."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from sentence_backend import sentence_events

    from tests.annotation.helpers import write_notes

    notes = write_notes(tmp_path / "notes", 3)
    run("annotate.py", "llm=sentences", f"input={notes}", "candidates=none", f"output={tmp_path / 'out'}",
        tmp=tmp_path)
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    for note in sorted(notes.glob("*.txt")):
        written = events[events["hadm_id"] == int(note.stem)]
        assert sorted(zip(written["event"], written["time"])) == sorted(sentence_events(note.read_text()))
    manifest = json.loads((tmp_path / "out" / "100.json").read_text())["manifest"]
    assert manifest["generation"]["backend"] == "sentences" and manifest["generation"]["model"] == "sentences"
