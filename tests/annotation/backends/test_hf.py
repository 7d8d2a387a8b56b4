"""The transformers backend with a tiny random Llama: batching, token limits, resume determinism."""

import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cts.annotation.backends.hf import SMOLLM2_GGUF, HFBackend, resolve_model
from cts.annotation.runner import run

from ..helpers import write_notes

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = dict(max_new_tokens=12, temperature=0.0, batch_size=4, max_prompt_tokens=256)


def chats(count):
    return [[{"role": "system", "content": "You are a physician."},
             {"role": "user", "content": "Fever began. " * (k + 1)}] for k in range(count)]


def test_batched_generation_equals_one_at_a_time(tiny_llama):
    backend = HFBackend(model=str(tiny_llama), **SETTINGS)
    batched = backend.generate(chats(5))
    backend.batch_size = 1
    single = backend.generate(chats(5))
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in single]
    assert all(g.completion_tokens <= 12 for g in batched)
    assert all(g.finish_reason == "length" for g in batched if g.completion_tokens == 12)
    assert backend.describe()["model"] == str(tiny_llama) and backend.describe()["backend"] == "hf"


def test_token_spans_point_into_the_text(tiny_llama):
    backend = HFBackend(model=str(tiny_llama), **SETTINGS)
    text = "Fever began two days before admission."
    spans = backend.token_spans(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text) and len(spans) < len(text)
    assert backend.count_prompt_tokens(chats(1)[0]) > len(backend.token_spans("Fever began. "))


def test_model_resolution_and_clear_errors(tmp_path, tiny_llama):
    folder, gguf = resolve_model("smollm2")
    assert gguf == SMOLLM2_GGUF and (Path(folder) / gguf).is_file()
    assert resolve_model("meta-llama/Llama-3.1-8B-Instruct") == ("meta-llama/Llama-3.1-8B-Instruct", None)
    with pytest.raises(FileNotFoundError, match="no GGUF file"):
        resolve_model(str(tmp_path / "missing.gguf"))
    plain = tmp_path / "no_template"
    shutil.copytree(tiny_llama, plain)
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ValueError, match="no chat template"):
        HFBackend(model=str(plain), **SETTINGS)


def test_resume_after_losing_files_mid_block_is_exact(tmp_path, tiny_llama):
    notes = write_notes(tmp_path / "notes", 6, sentences=12)
    llm = OmegaConf.create({"_target_": "cts.annotation.backends.hf.HFBackend", "model": str(tiny_llama),
                            **SETTINGS, "max_new_tokens": 6, "batch_size": 3, "max_prompt_tokens": 64,
                            "window_overlap": 0.1})
    args = dict(task="events", input=str(notes), candidates=None, llm=llm, corpus_dir="unused", block_size=3,
                prompt=OmegaConf.create({"name": "short", "system": "Physician.", "user": "Events:\n{note}"}),
                shard=OmegaConf.create({"index": None, "count": None}), consolidate=False)
    run(output=str(tmp_path / "out"), **args)
    whole = {p.name: json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.json"))}
    # long for 64 tokens
    assert len(whole) == 6 and all(r["manifest"]["notes"][0]["windows"] > 1 for r in whole.values())
    for name in ("101.json", "104.json"):  # as if killed before these were written
        (tmp_path / "out" / name).unlink()
    summary = run(output=str(tmp_path / "out"), **args)
    assert summary["counts"]["written"] == 2 and summary["counts"]["already done"] == 4
    again = {p.name: json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.json"))}
    for record in (*whole.values(), *again.values()):
        record["manifest"].pop("created")
    assert again == whole
