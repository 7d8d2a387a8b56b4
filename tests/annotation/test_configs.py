"""Every annotate stage and llm option composes; prompts render as intended and are identified by their hash."""

import importlib.util
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import cts  # noqa: F401  (registers ${cts.or:...})
from cts.annotation.prompts import Prompt

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("stage, target, prompt", [
    ("annotate", "cts.annotation.runner.run", "timeline"), ("context", "cts.annotation.runner.run", "context"),
    ("summary", "cts.annotation.runner.run", "summary"),
    ("consolidate", "cts.annotation.consolidate.consolidate", "timeline"),
    ("evaluate", "cts.reports.evaluation.evaluate", "timeline"),
])
@pytest.mark.parametrize("llm", ["hf", "vllm", "openai"])
def test_every_stage_composes(stage, target, prompt, llm):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("annotate", overrides=[f"stage={stage}", f"llm={llm}", "input=x", "output=y"],
                      return_hydra_config=True)
    node = OmegaConf.to_container(cfg.stage, resolve=False)
    assert node["_target_"] == target and cfg.prompt.name == prompt
    if target.endswith("run"):
        assert cfg.stage.task == {"annotate": "events"}.get(stage, stage) and cfg.stage.output == "y"
        assert cfg.stage.llm._target_.split(".")[-2] == llm


def test_slurm_fan_out_composes():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("annotate", overrides=["hydra/launcher=slurm", "shard.count=11", "shard.index=3"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher.tasks_per_node == 1 and cfg.hydra.launcher.gres == "gpu:1"
    assert cfg.stage.shard.count == 11 and cfg.stage.shard.index == 3
    assert "${now:" not in OmegaConf.to_container(cfg.stage, resolve=False)["output"]  # a requeued job finds its files


def test_prompt_rendering_and_hash():
    prompt = Prompt.from_config(OmegaConf.load(CONF / "annotate/prompt/timeline.yaml"))
    whole = prompt.messages("Note with {braces} and {note}.")
    assert whole[0]["role"] == "system" and "physician" in whole[0]["content"]
    assert "Note with {braces} and {note}." in whole[1]["content"] and "Excerpts" not in whole[1]["content"]
    assert "event | hours" in whole[1]["content"] and "{rules}" not in whole[1]["content"]
    chunked = prompt.messages("Note.", [{"text": "fever"}, {"text": "rash"}])[1]["content"]
    assert chunked.endswith("Excerpts:\n[1] fever\n[2] rash") and prompt.chunk_fields == {"text"}
    changed = Prompt.from_config({**OmegaConf.to_container(OmegaConf.load(CONF / "annotate/prompt/timeline.yaml")),
                                  "system": "You are a nurse."})
    assert len(prompt.hash) == 12 and changed.hash != prompt.hash
    with pytest.raises(ValueError, match="unknown keys"):
        Prompt.from_config({"name": "x", "system": "s", "user": "u", "temperature": 0})


def test_vllm_missing_is_a_clear_error():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; this checks the message users without it get")
    from cts.annotation.backends.vllm import VLLMBackend

    with pytest.raises(ImportError, match=r"llm=vllm needs vLLM.*pip install vllm"):
        VLLMBackend(model="m", max_new_tokens=8, temperature=0.0, batch_size=1, max_prompt_tokens=512)
