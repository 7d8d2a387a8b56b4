"""Annotation test fixtures: small note folders, a tiny random Llama with its own tokenizer, the fake server.

Imported by the test modules (not a conftest.py, which would shadow ``tests/conftest.py`` for other areas).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_openai import FakeOpenAI

ROOT_DIR = Path(__file__).resolve().parents[2]
SENTENCES = [
    "Fever and rash began two days before admission", "Chest pain resolved on day three",
    "Ceftriaxone was started at admission", "Metoprolol was discontinued", "No shortness of breath",
    "Blood cultures grew E coli", "Creatinine peaked on day two", "Discharged home on day five",
]


def write_notes(folder, count: int, first_id: int = 100, sentences: int = 4):
    """``<hadm_id>.txt`` notes of a few deterministic sentences each."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        picks = [SENTENCES[(k + i) % len(SENTENCES)] for i in range(sentences)]
        (folder / f"{first_id + k}.txt").write_text(". ".join(picks) + ".\n")
    return folder


@pytest.fixture
def notes_dir(tmp_path):
    return write_notes(tmp_path / "notes", 12)


@pytest.fixture
def fake_server():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    """A 2-layer random LlamaForCausalLM and a 400-token byte-level BPE with a ChatML template, saved to disk."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_llama")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|im_start|>", "<|im_end|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(SENTENCES * 20 + ["event | hours", "none", "-48 | 24 | 0"], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<pad>")
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
