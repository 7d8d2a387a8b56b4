"""Nothing lost under faults (issue #20): atomic, verified checkpoints; an exact resume; a killed run that says so
(exit 143) and a submitit requeue that resumes; errors that name the key and the fix; no demo data written into a
mistyped data folder. Real runs of tiny models, real signals sent to real processes, real checkpoint files."""

import io
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import huggingface_hub
import pytest
import torch

from cts.errors import user_message
from cts.models.checkpoint_file import CheckpointError, read_checkpoint
from cts.models.transfer import TransferError, read_backbone_state
from cts.offline import ModelNotDownloaded
from cts.training.checkpoints import RESUME_KEYS
from cts.training.data import MissingDataError
from cts.training.run import SIGTERM_EXIT, ConfigError, check_config, train
from tests.training.helpers import ROOT, compose_train, tiny

FAULT = "+callbacks.fault._target_=tests.training.faults.SignalAt"  # a real signal at a chosen epoch
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false",
       "HYDRA_FULL_ERROR": "0", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` with the fault callbacks importable."""
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=300)


def _weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _flip_tensor_bytes(path: Path) -> None:
    """Overwrite 8 bytes in the middle of the largest tensor with 0xFF (two float32 NaNs), as a bad disk or copy
    would; the archive's structure stays valid, so only the stored checksums can tell."""
    with zipfile.ZipFile(path) as archive:
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[member.header_offset + 26:member.header_offset + 30])
    start = member.header_offset + 30 + name_length + extra_length + member.file_size // 2
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def _one_line_error(done: subprocess.CompletedProcess, expected: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "Traceback" not in output and output.strip().count("\n") == 0, output[-3000:]
    assert output.startswith("error: ") and expected in output, output[-3000:]


# -- 5: checkpoints are atomic and verified ----------------------------------------------------------------------

@pytest.mark.e2e
def test_a_checkpoint_is_replaced_whole_never_rewritten_in_place(train_data, tmp_path, monkeypatch):
    """With the system temp folder on another file system (tmpfs), Lightning's writer copied the new checkpoint over
    the old one, truncating it first: a kill or a full disk then left a cut file. Now the new file is written beside
    the old one and renamed over it: a reader holding the old file still reads it whole."""
    other_fs = Path(tempfile.mkdtemp(dir="/dev/shm")) if Path("/dev/shm").is_dir() else None
    if other_fs is None or other_fs.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's folder")
    monkeypatch.setattr(tempfile, "tempdir", str(other_fs))
    base = tiny(train_data, "relation", tmp_path, "bert", "logger=none", "test=false", "name=atomic")
    train(compose_train(base, tmp_path))
    last = tmp_path / "checkpoints" / "last.ckpt"
    with open(last, "rb") as reader:  # held open across the next save
        train(compose_train(base + ["trainer.max_epochs=2", "ckpt_path=last"], tmp_path))
        old = torch.load(io.BytesIO(reader.read()), weights_only=True)
    assert (old["global_step"], torch.load(last, weights_only=True)["global_step"]) == (2, 4)
    assert sorted(p.name for p in last.parent.iterdir()) == ["best.ckpt", "last.ckpt"]  # no temp file left
    os.rmdir(other_fs)


@pytest.mark.e2e
def test_a_corrupted_truncated_or_weights_only_checkpoint_is_refused_naming_the_file(train_data, tmp_path):
    """Each bad checkpoint is one line naming the file, before any training; never a fresh start, never a run on
    NaN weights that exits 0."""
    base = tiny(train_data, "relation", tmp_path, "bert", "logger=none", "test=false", "name=bad")
    train(compose_train(base, tmp_path))
    last, best = tmp_path / "checkpoints" / "last.ckpt", tmp_path / "checkpoints" / "best.ckpt"
    corrupted = tmp_path / "corrupted.ckpt"
    corrupted.write_bytes(best.read_bytes())
    _flip_tensor_bytes(corrupted)
    assert torch.load(corrupted, weights_only=True)["state_dict"]  # torch itself loads it, NaNs and all

    def refused(overrides: list[str], match: str) -> None:
        with pytest.raises(CheckpointError, match=match) as error:
            train(compose_train(base + overrides, tmp_path))
        assert user_message(error.value) == str(error.value) and "\n" not in str(error.value)

    refused(["train=false", f"ckpt_path={corrupted}"],
            rf"ckpt_path={corrupted}: corrupted: .*/data/\d+ does not match the checksum")
    refused(["ckpt_path=" + str(best), "trainer.max_epochs=2"],
            r"best.ckpt: holds the weights only \(no optimizer_states, lr_schedulers\).*ckpt_path=last")
    good = last.read_bytes()
    last.write_bytes(corrupted.read_bytes())
    refused(["ckpt_path=last", "trainer.max_epochs=2"], r"last.ckpt: corrupted")
    last.write_bytes(b"")  # a save cut short by a full disk, before this fix
    refused(["ckpt_path=last", "trainer.max_epochs=2"], r"last.ckpt: not a complete checkpoint \(truncated")
    assert last.read_bytes() == b""  # refused, not overwritten by a fresh start
    with pytest.raises(TransferError, match=rf"model.init_from={corrupted}: corrupted"):
        read_backbone_state(corrupted)
    last.write_bytes(good)
    assert read_checkpoint(last, required=RESUME_KEYS, weights_only=True)["global_step"] == 2


# -- 6: resume is exact --------------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_resume_from_an_epoch_boundary_repeats_the_uninterrupted_run(train_data, tmp_path):
    """Two epochs in one go vs. stopped by SIGTERM after the first (same max_epochs, so the same LR schedule) and
    resumed with ckpt_path=last: the same weights and metrics (dropout draws, data order, optimizer, schedule)."""
    base = tiny(train_data, "relation", tmp_path, "bert", "logger=none", "trainer.max_epochs=2", "test=false")
    whole = train(compose_train(base + ["name=whole"], tmp_path / "whole"))
    with pytest.raises(SystemExit) as stopped:
        train(compose_train(base + ["name=cut", FAULT], tmp_path / "cut"))
    assert stopped.value.code == SIGTERM_EXIT
    assert torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    resumed = train(compose_train(base + ["name=cut", "ckpt_path=last"], tmp_path / "cut"))
    expected, got = (_weights(tmp_path / run / "checkpoints" / "last.ckpt") for run in ("whole", "cut"))
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)
    for name in ("val/loss", "val/macro_f1", "train/loss"):
        assert resumed[name] == pytest.approx(whole[name], rel=1e-5), name


# -- 8: a killed run does not report success ----------------------------------------------------------------------

@pytest.mark.e2e
def test_sigterm_exits_143_after_saving_a_checkpoint_that_resumes(train_data, tmp_path):
    """A SIGTERM from outside after the 4th batch of the second epoch: exit 143, last.ckpt holds that step (verified,
    with everything a resume needs) and the same command with ckpt_path=last trains the planned steps, no more."""
    paused = tmp_path / "paused"
    args = tiny(train_data, "relation", tmp_path, "bert", "logger=none", "test=false", "name=killed",
                "trainer.max_epochs=2", "trainer.limit_train_batches=10",
                "+callbacks.pause._target_=tests.training.faults.PauseAt", f"+callbacks.pause.marker={paused}")
    run = subprocess.Popen([sys.executable, "train.py", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while not paused.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == SIGTERM_EXIT, output[-3000:]
    assert output.count("stopped by SIGTERM before the run finished (exit 143)") == 1, output[-3000:]
    last = tmp_path / "logs" / "train" / "runs" / "killed" / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last, required=RESUME_KEYS, weights_only=True)["global_step"] == 14  # saved mid-epoch
    resumed = _cli(*args, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert torch.load(last, weights_only=True)["global_step"] == 20  # the planned steps, none repeated or skipped


@pytest.mark.e2e
def test_a_requeued_submitit_job_resumes_from_last_ckpt(train_data, tmp_path):
    """The SLURM requeue path on submitit's local executor: the job gets submitit's preemption signal (USR2) as its
    second epoch starts, is checkpointed and requeued by submitit, and the requeued job resumes from last.ckpt."""
    args = ["-m", "hydra/launcher=local", "name=requeue", "ckpt_path=last", "logger=none", "test=false",
            *tiny(train_data, "relation", tmp_path, "bert", "trainer.max_epochs=2")[2:],
            FAULT, "+callbacks.fault.name=SIGUSR2", "+callbacks.fault.epoch=1", "+callbacks.fault.at=start"]
    done = _cli(*args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = tmp_path / "logs" / "train" / "multiruns" / "requeue"
    [job] = [p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")]
    final = torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)
    assert (final["epoch"], final["global_step"]) == (1, 4)
    logs = "".join(p.read_text() for p in sorted((sweep / ".submitit").rglob("*_log.*")))  # .out and .err
    assert "Caught signal SIGUSR2" in logs and "Restoring states from the checkpoint" in logs, logs[-3000:]


# -- 11: errors that say what to change ----------------------------------------------------------------------------

def test_bad_numbers_and_an_offline_model_name_the_key_and_the_fix(train_data, tmp_path, monkeypatch):
    base = tiny(train_data, "relation", tmp_path)
    with pytest.raises(ConfigError, match=r"^seed=abc: must be a whole number, e\.g\. seed=1234$"):
        check_config(compose_train(base + ["seed=abc"], tmp_path))
    with pytest.raises(ConfigError, match=r"^trainer.max_epochs=abc: must be a whole number, e\.g\. "
                                          r"trainer.max_epochs=2$"):
        check_config(compose_train(base + ["trainer.max_epochs=abc"], tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    model = [o for o in base if o != "model.preset=tiny"] + ["model.name_or_path=nosuchorg/nosuchmodel"]
    with pytest.raises(ModelNotDownloaded) as error:
        check_config(compose_train(model, tmp_path))
    message = user_message(error.value)
    assert message.startswith("model.name_or_path=nosuchorg/nosuchmodel: not downloaded, and this machine is "
                              "offline (HF_HUB_OFFLINE=1)") and "\n" not in message
    assert "HF_HUB_OFFLINE=0 python -c" in message and "huggingface-cli download nosuchorg/nosuchmodel" in message


@pytest.mark.e2e
def test_an_unusable_log_dir_or_model_is_one_line_without_traceback(train_data, tmp_path):
    a_file = tmp_path / "logs.txt"
    a_file.write_text("")
    done = _cli(f"paths.log_dir={a_file}")
    _one_line_error(done, f"paths.log_dir={a_file}: a file, not a folder; every run writes its folder under it: "
                          "choose a writable folder with paths.log_dir=DIR")
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if os.access(read_only, os.W_OK):  # root writes anywhere; sysfs refuses every new folder
        read_only = Path("/sys/cts-read-only")
    done = _cli("-m", f"paths.log_dir={read_only}")
    _one_line_error(done, f"paths.log_dir={read_only}: ")
    assert "choose a writable folder with paths.log_dir=DIR" in done.stderr
    done = _cli("model.name_or_path=nosuchorg/nosuchmodel", f"paths.log_dir={tmp_path / 'logs'}")
    _one_line_error(done, "model.name_or_path=nosuchorg/nosuchmodel: not downloaded")


# -- 12: a mistyped data folder is not filled with the demo -------------------------------------------------------

def test_a_data_dir_without_splits_is_an_error_not_the_demo(tmp_path):
    typo = tmp_path / "some" / "typo"
    cfg = compose_train(["model.preset=tiny", f"data.dir={typo}", f"paths.demo_dir={tmp_path / 'demo'}",
                         f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path)
    with pytest.raises(MissingDataError) as error:
        train(cfg)
    assert str(error.value) == (
        f"data.dir={typo}: no relation splits (train/val/test.parquet) there; only {tmp_path / 'demo'}/tasks/"
        f"relation is built on first use. Check data.dir, or build it with `python preprocess.py stage=build "
        f"task=relation input=EVENTS output={typo}`")
    assert not typo.exists() and not (tmp_path / "demo").exists()  # nothing written, nothing generated
