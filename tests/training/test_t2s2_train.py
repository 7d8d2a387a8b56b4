"""data=t2s2: real case reports (the T2S2 release under ../shared/data) through train.py. The config composes, and
a fast_dev_run trains and tests on a corpus imported from a few of the real reports (their long timelines,
repeated hours and years-old history included), its task data built on first use as data=t2s2 builds it."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from cts.data.timeline_corpus import import_timeline_corpus
from cts.training.groups import data_dir, data_settings
from cts.training.run import train
from tests.shared_data import require_shared
from tests.training.helpers import compose_train

REPORTS = 12  # the first reports by name: 8 train, 2 val, 2 test


@pytest.fixture(scope="module")
def t2s2_sample(tmp_path_factory) -> Path:
    """A corpus imported (as ``preprocess.py corpus=t2s2 stage=import`` does) from the first reports of T2S2."""
    source = require_shared("timelines", "t2s2_train")
    folder = tmp_path_factory.mktemp("t2s2")
    bodies = sorted((source / "body").glob("*_body.txt"))[:REPORTS]
    for body in bodies:
        timeline = source / "l33_70b_annotations" / f"{body.stem}.bsv"
        for path, sub in ((body, "body"), (timeline, "l33_70b_annotations")):
            (folder / "source" / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / "source" / sub / path.name)
    import_timeline_corpus(folder / "source", folder / "corpus", reports="body/*_body.txt",
                           timelines="l33_70b_annotations/*.bsv", val=2, test=2)
    return folder


def test_t2s2_config_composes(tmp_path):
    require_shared("timelines", "t2s2_train")
    cfg = compose_train(["data=t2s2", "task=nextevent", f"paths.cache_dir={tmp_path}"], tmp_path)
    assert cfg.data.name == "t2s2" and str(data_dir(cfg)).endswith("t2s2/tasks/nextevent")
    assert cfg.data.build.corpus.source.endswith("shared/data/timelines/t2s2_train")
    assert data_settings(cfg)["data_dir"] == str(data_dir(cfg))


@pytest.mark.e2e
@pytest.mark.parametrize("task,family", [("relation", "bert"), ("nextevent", "gpt")])
def test_t2s2_fast_dev_run_builds_and_scores_every_baseline(task, family, t2s2_sample, tmp_path):
    corpus = t2s2_sample / "corpus"
    cfg = compose_train(["data=t2s2", f"task={task}", f"model={family}", "model.preset=tiny",
                         f"data.build.corpus.dir={corpus}", "data.batch_size=8", "data.eval_batch_size=8",
                         f"paths.cache_dir={tmp_path / 'cache'}", f"paths.log_dir={tmp_path / 'logs'}",
                         "trainer.fast_dev_run=true", "logger=none", "callbacks=none"]
                        + (["task.datamodule.probe_size=2", "task.module.max_new_tokens=8", "task.module.top_k=2",
                            "task.module.rank_candidates=20"] if task == "nextevent" else []), tmp_path)
    metrics = train(cfg)  # the task data is missing: built from the corpus first, as data=t2s2 does
    assert (corpus / "tasks" / task / "meta.json").exists()
    assert torch.isfinite(torch.tensor(metrics["test/loss"]))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["data"] == "t2s2"
    expected = {"relation": {"majority", "time_bin", "median_hours", "logreg_bow"},
                "nextevent": {"most_frequent", "bigram", "bigram_unseen", "kneser_ney", "kneser_ney_unseen", "bucket",
                              "last_time"}}[task]
    assert set(summary["baselines"]) == expected
    best = summary["best_baseline"]
    assert best["name"] in expected and best["delta_ci95"][0] <= best["delta"] <= best["delta_ci95"][1]
    rows = summary["test_rows"]  # fast_dev_run tests one batch: relation scores its pairs (of 1 or 2 reports)
    assert 1 <= rows["admissions"] <= 2 and rows["scored"] >= rows["admissions"]
    if task == "nextevent":
        lengths = pd.read_parquet(corpus / "tasks" / task / "test.parquet")["events"].map(len)
        assert rows == {"scored": int((lengths - 1).sum()), "admissions": 2}  # every position of every test report
        assert "ceiling" not in summary  # real timelines: no generator, no ceiling
