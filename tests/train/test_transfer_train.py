"""model.init_from (every backbone tensor loaded, loud failures), the transfer experiment configs, fast_dev_run of
task=pubmedqa and task=trials for each family on tiny presets (fixture data), and the transfer report."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf.errors import InterpolationResolutionError
from report_checks import assert_run_report
from train_helpers import FAMILIES, compose_train

from cts.models.spec import ModelSpec
from cts.models.transfer import TransferError, load_backbone
from cts.offline import minilm_path
from cts.reports.__main__ import main as report_main
from cts.training.run import train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DATA = {"pubmedqa": [f"data.dir={FIXTURES / 'pubmedqa'}"],
        "trials": [f"data.dir={FIXTURES / 'trials'}", f"data.corpus={FIXTURES / 'trials' / 'corpus.jsonl'}",
                   "data.n_folds=4"]}


@pytest.fixture(scope="module")
def minilm():
    spec = ModelSpec("bert", name_or_path=minilm_path())
    tokenizer = spec.tokenizer(lambda: [], "unused")
    return spec, tokenizer, spec.build("encoder", tokenizer)


def _checkpoint(path: Path, state: dict, prefix: str = "backbone.") -> Path:
    """A checkpoint laid out as Lightning saves a cts task module: backbone under ``prefix``, plus a head."""
    tensors = {prefix + k: v for k, v in state.items()}
    tensors["head.net.0.weight"] = torch.zeros(4, 4)
    torch.save({"state_dict": tensors, "epoch": 0}, path)
    return path


def test_init_from_loads_every_backbone_tensor_into_encoder_and_masked_lm(minilm, tmp_path, caplog):
    spec, tokenizer, encoder = minilm
    shifted = {k: v + 1.0 if v.is_floating_point() else v for k, v in encoder.state_dict().items()}
    path = _checkpoint(tmp_path / "relation.ckpt", shifted)
    caplog.set_level(logging.INFO, logger="cts.models.transfer")
    target = ModelSpec("bert", name_or_path=minilm_path(), init_from=str(path)).build("encoder", tokenizer)
    loaded = target.state_dict()
    assert all(torch.equal(loaded[k], shifted[k]) for k in shifted)  # every tensor, not a silent strict=False
    assert f"loaded {len(shifted)} tensors, missing 0, unexpected 1" in caplog.text
    lm = ModelSpec("bert", name_or_path=minilm_path(), init_from=str(path)).build("masked_lm", tokenizer)
    assert torch.equal(lm.bert.encoder.layer[5].output.dense.weight, shifted["encoder.layer.5.output.dense.weight"])
    # the other way: a nextevent (masked LM, under "lm.") checkpoint into an encoder; its MLM head is unexpected
    caplog.clear()
    report = load_backbone(encoder, _checkpoint(tmp_path / "nextevent.ckpt", lm.state_dict(), prefix="lm."))
    assert report.loaded == len(shifted) and report.missing == 0
    assert report.unexpected == 1 + sum(k.startswith("cls.") for k in lm.state_dict())
    assert torch.equal(encoder.embeddings.word_embeddings.weight, shifted["embeddings.word_embeddings.weight"])


def test_init_from_fails_loudly_on_a_mismatched_checkpoint(minilm, tmp_path):
    spec, tokenizer, encoder = minilm
    state = encoder.state_dict()
    missing = dict(state)
    missing.pop("encoder.layer.3.attention.self.query.weight")
    with pytest.raises(TransferError, match=r"the backbone did not load: 1 of \d+ tensors .* encoder.layer.3"):
        load_backbone(encoder, _checkpoint(tmp_path / "missing.ckpt", missing))
    resized = {**state, "encoder.layer.0.intermediate.dense.weight": torch.zeros(10, 384)}
    with pytest.raises(TransferError, match=r"another shape .* encoder.layer.0.intermediate.dense.weight"):
        load_backbone(encoder, _checkpoint(tmp_path / "shape.ckpt", resized))
    gpt = {"transformer.wte.weight": torch.zeros(10, 8), "transformer.h.0.attn.c_attn.weight": torch.zeros(8, 24)}
    with pytest.raises(TransferError, match="another architecture"):
        load_backbone(encoder, _checkpoint(tmp_path / "gpt.ckpt", gpt, prefix="lm."))
    with pytest.raises(TransferError, match="a LoRA run"):
        load_backbone(encoder, _checkpoint(tmp_path / "lora.ckpt", {"base_model.model.x.lora_A.weight": torch.ones(1)}))
    torch.save({"weights": {}}, tmp_path / "plain.ckpt")
    with pytest.raises(TransferError, match="no 'state_dict'"):
        load_backbone(encoder, tmp_path / "plain.ckpt")
    with pytest.raises(TransferError, match="no such file"):
        load_backbone(encoder, tmp_path / "absent.ckpt")
    with pytest.raises(ValueError, match="not model.preset"):
        ModelSpec("bert", preset="tiny", init_from=str(tmp_path / "x.ckpt"))


def test_transfer_experiments_set_the_papers_hyperparameters(tmp_path):
    for task, length in (("pubmedqa", 128), ("trials", 512)):
        base = compose_train([f"experiment=transfer/{task}_base"], tmp_path)
        assert (base.data.name, base.task.name, base.model.family, base.model.max_length, base.model.optimizer.lr,
                base.trainer.max_epochs, base.data.batch_size, base.model.init_from) == (
            task, task, "bert", length, 3e-5, 3, 16, None)
        assert base.model.scheduler._target_.endswith("cosine_warmup")
        cts = compose_train([f"experiment=transfer/{task}_cts"], tmp_path)
        with pytest.raises(InterpolationResolutionError, match=r"needs model.init_from=RUN/checkpoints/best.ckpt"):
            cts.model.init_from  # noqa: B018  (the pretrained arm must name its checkpoint)
        cts = compose_train([f"experiment=transfer/{task}_cts", "model.init_from=/ckpt"], tmp_path)
        assert cts.model.init_from == "/ckpt" and cts.model.max_length == length


@pytest.mark.parametrize("task", ["pubmedqa", "trials"])
@pytest.mark.parametrize("family", FAMILIES)
def test_fast_dev_run_every_family(task, family, tmp_path):
    overrides = [f"data={task}", f"task={task}", f"model={family}", "model.preset=tiny", *DATA[task],
                 f"paths.cache_dir={tmp_path / 'cache'}", "trainer.fast_dev_run=true", "logger=none", "callbacks=none",
                 "data.batch_size=4", "data.eval_batch_size=8", "bootstrap.n_resamples=50"]
    metrics = train(compose_train(overrides, tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["task"] == task and summary["family"] == family and np.isfinite(metrics["test/loss"])
    assert set(summary["baselines"]) == ({"majority"} if task == "pubmedqa" else {"majority", "bm25"})
    assert summary["best_baseline"]["metric_name"] == ("test/acc" if task == "pubmedqa" else "test/ndcg10")
    assert_run_report(tmp_path, task)


def test_pubmedqa_needs_its_data_config(tmp_path):
    cfg = compose_train(["task=pubmedqa", "model.preset=tiny", f"paths.cache_dir={tmp_path}"], tmp_path)
    with pytest.raises(Exception, match="task=pubmedqa needs data=pubmedqa"):
        train(cfg)


def _summary(run: Path, task: str, seed: int, overrides: list[str], value: float, baseline: float) -> None:
    run.mkdir(parents=True)
    metric = "test/acc" if task == "pubmedqa" else "test/ndcg10"
    summary = {"task": task, "seed": seed, "overrides": overrides, "metrics": {metric: value},
               "ci95": {metric: [value - 0.05, value + 0.05]},
               "baselines": {"majority": {metric: baseline, "ci95": {metric: [baseline, baseline]}}},
               "best_baseline": {"metric_name": metric, "name": "majority", "value": baseline,
                                 "delta": value - baseline, "delta_ci95": [0, 0]}}
    (run / "summary.json").write_text(json.dumps(summary))


def test_transfer_report_pairs_folds_and_seeds(tmp_path):
    base = {(0, 1): 0.50, (0, 2): 0.54, (1, 1): 0.60, (1, 2): 0.56}
    gain = {(0, 1): 0.02, (0, 2): 0.04, (1, 1): -0.01, (1, 2): 0.03}
    sweep = tmp_path / "sweep_base"
    for (fold, seed), value in base.items():
        _summary(sweep / f"{fold}{seed}", "pubmedqa", seed, [f"data.fold={fold}", f"seed={seed}"], value, 0.55)
    cts_runs = []
    for (fold, seed), value in base.items():
        run = tmp_path / f"cts_{fold}_{seed}"
        _summary(run, "pubmedqa", seed, [f"data.fold={fold}", "model.init_from=/c.ckpt"], value + gain[fold, seed],
                 0.55)
        cts_runs.append(str(run))
    (sweep / "crashed").mkdir()
    out = tmp_path / "report"
    assert report_main(["transfer", str(sweep), *cts_runs, "--out", str(out)]) == 0
    arms = pd.read_csv(out / "transfer.csv").set_index("arm")
    assert arms.loc["base", "runs"] == 4 and arms.loc["base", "mean"] == pytest.approx(np.mean(list(base.values())))
    assert arms.loc["cts", "std"] == pytest.approx(np.std([base[k] + gain[k] for k in base], ddof=1))
    assert arms.loc["baseline:majority", "mean"] == pytest.approx(0.55)
    assert arms.loc["baseline:majority", "runs"] == 4  # once per (fold, seed): both arms score it on the same rows
    diff = pd.read_csv(out / "transfer_diff.csv").iloc[0]
    deltas = np.array(list(gain.values()))
    half = 3.182446 * deltas.std(ddof=1) / 2  # t(0.975, 3)
    assert (diff["pairs"], diff["mean_diff"]) == (4, pytest.approx(deltas.mean()))
    assert (diff["lo"], diff["hi"]) == (pytest.approx(deltas.mean() - half, abs=1e-5),
                                        pytest.approx(deltas.mean() + half, abs=1e-5))
    text = (out / "transfer.md").read_text()
    assert "pubmedqa base: 4" in text and "crashed" in text and (out / "transfer.png").stat().st_size > 1000
    with pytest.raises(SystemExit):
        report_main(["transfer", str(tmp_path / "nowhere"), "--out", str(out)])
