"""Backbones for every task: a pretrained model by name or path, or a random-init size preset.

``ModelSpec`` is what ``conf/model/*.yaml`` instantiates. It knows how to get the tokenizer (the model's own, or
one trained on the train split for presets) and how to build the backbone for a task's need: an ``encoder``
(classification heads) or the family's language model (``spec.objective``: masked LM for bert, causal LM for gpt
and llama). Real checkpoints keep their ``from_pretrained(name_or_path)`` path (bert-base-uncased, gpt2,
meta-llama/Llama-3.1-8B-Instruct); the offline defaults come from pip packages (``cts.offline``).

What differs between families lives in one table, ``TRAITS``: tasks ask ``spec.objective``,
``spec.pair_template``… and never test the family's name, so a fourth family is one config and one row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertConfig,
    GPT2Config,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from cts.hashing import fingerprint
from cts.io import atomic_dir
from cts.models.tokenizers import prepare_tokenizer, train_tokenizer
from cts.models.transfer import load_backbone

log = logging.getLogger(__name__)

KINDS = {"encoder": AutoModel, "causal_lm": AutoModelForCausalLM, "masked_lm": AutoModelForMaskedLM}
POOLINGS = ("cls", "pooler", "last", "mean")
# (hidden, layers, heads, feed-forward, tokenizer vocabulary) per size preset.
PRESETS = {"tiny": (64, 2, 2, 128, 1000), "small": (256, 4, 4, 1024, 8000), "base": (768, 12, 12, 3072, 30000)}


def _bert_config(vocab, hidden, layers, heads, ffn, positions, ids) -> PretrainedConfig:
    return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=ffn, max_position_embeddings=positions, pad_token_id=ids["pad_token_id"])


def _gpt2_config(vocab, hidden, layers, heads, ffn, positions, ids) -> PretrainedConfig:
    return GPT2Config(vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=heads, n_inner=ffn,
                      n_positions=positions, **ids)


def _llama_config(vocab, hidden, layers, heads, ffn, positions, ids) -> PretrainedConfig:
    return LlamaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                       num_key_value_heads=max(1, heads // 2), intermediate_size=ffn,
                       max_position_embeddings=positions, tie_word_embeddings=True, **ids)


@dataclass(frozen=True)
class FamilyTraits:
    """Everything a task or the builder needs to know about a model family.

    ``objective``: the family's language-model head (``masked_lm``: sequences framed ``[CLS] … [SEP]``, spans
    filled at ``[MASK]``; ``causal_lm``: bare tokens ending in end-of-text, spans generated).
    ``pair_template``: ``native`` = the tokenizer's own pair encoding (``[CLS] a [SEP] b [SEP]``); ``sep_text`` =
    the text ``a [SEP] b``, pooled at the last token. ``tokenizer_kind``: what a preset trains on the train split.
    ``optional_pooler``: the encoder has a pooler layer, dropped unless ``pooling=pooler`` (unused parameters break
    DDP). ``preset_config``: the random-init config of a size preset.
    """

    objective: str
    pair_template: str
    tokenizer_kind: str
    lora_targets: tuple[str, ...]
    pooling: str
    optional_pooler: bool
    preset_config: Callable[..., PretrainedConfig]


TRAITS = {
    "bert": FamilyTraits("masked_lm", "native", "wordpiece", ("query", "value"), "cls", True, _bert_config),
    "gpt": FamilyTraits("causal_lm", "sep_text", "bpe", ("c_attn",), "last", False, _gpt2_config),
    "llama": FamilyTraits("causal_lm", "sep_text", "bpe", ("q_proj", "v_proj"), "last", False, _llama_config),
}
FAMILIES = tuple(TRAITS)  # the built-in families; ModelSpec reads TRAITS itself, so a row added later counts too


class ModelSpec:
    """How to get a tokenizer and a backbone of one family; optimizer/scheduler factories ride along."""

    def __init__(self, family: str, name: str | None = None, name_or_path: str | None = None,
                 gguf_file: str | None = None, preset: str | None = None, vocab_size: int | None = None,
                 max_length: int = 128, pooling: str | None = None, lora: dict | None = None,
                 freeze_embeddings: bool = False, optimizer: Callable | None = None, scheduler: Callable | None = None,
                 cache_dir: str | Path = ".cache/cts", init_from: str | None = None):
        if family not in TRAITS:  # the table as it is now: a row added at run time is a family (docs/extending.md)
            raise ValueError(f"model.family must be one of {tuple(TRAITS)}, got {family!r}")
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"model.preset must be one of {tuple(PRESETS)} or null, got {preset!r}")
        if preset is None and not name_or_path:
            raise ValueError(f"model {family}: set model.name_or_path (hub id or local dir) or model.preset "
                             f"({', '.join(PRESETS)})")
        if init_from and preset is not None:
            raise ValueError("model.init_from needs a pretrained tokenizer (model.name_or_path), not model.preset: a "
                             "preset trains its tokenizer on each task's train split, so token ids would not match")
        self.traits = TRAITS[family]
        pooling = pooling or self.traits.pooling
        if pooling not in POOLINGS:
            raise ValueError(f"model.pooling must be one of {POOLINGS}, got {pooling!r}")
        self.family, self.preset, self.gguf_file = family, preset, gguf_file
        self.name_or_path = None if preset else str(name_or_path)
        self.name = f"{family}-{preset}" if preset else (name or Path(str(name_or_path)).name)
        self.vocab_size = vocab_size or (PRESETS[preset][4] if preset else None)
        self.max_length, self.pooling = int(max_length), pooling
        self.lora = dict(lora) if lora and lora.get("r") else None  # r = 0 or null: no LoRA
        self.freeze_embeddings = bool(freeze_embeddings)
        self.optimizer = optimizer or (lambda params: torch.optim.AdamW(params, lr=5e-5))
        self.scheduler = scheduler
        self.cache_dir = Path(cache_dir)
        self.init_from = str(init_from) if init_from else None  # a cts checkpoint whose backbone starts this one

    @property
    def objective(self) -> str:
        return self.traits.objective

    @property
    def pair_template(self) -> str:
        return self.traits.pair_template

    @property
    def tokenizer_kind(self) -> str:
        return self.traits.tokenizer_kind

    def describe(self) -> dict:
        """Curated hyperparameters (what identifies the backbone), for loggers and summaries."""
        return {"family": self.family, "name": self.name, "source": self.preset or self.name_or_path,
                "vocab_size": self.vocab_size, "max_length": self.max_length, "pooling": self.pooling,
                "lora": self.lora, "freeze_embeddings": self.freeze_embeddings, "init_from": self.init_from}

    # -- tokenizer ---------------------------------------------------------------------------------------------
    def tokenizer(self, train_texts: Callable[[], Iterable[str]], data_key: str,
                  extra_tokens: Iterable[str] = (), word_tokens: Iterable[str] = ()) -> PreTrainedTokenizerFast:
        """The model's tokenizer, or for a preset one trained on ``train_texts()``; task tokens and whole-phrase
        tokens (``prepare_tokenizer``) added."""
        if self.preset:
            tokenizer = train_tokenizer(self.tokenizer_kind, train_texts, self.vocab_size, data_key, self.cache_dir)
        else:
            tokenizer = AutoTokenizer.from_pretrained(self._pretrained_dir())
        return prepare_tokenizer(tokenizer, extra_tokens, masked_lm=self.objective == "masked_lm",
                                 word_tokens=word_tokens)

    # -- backbone ----------------------------------------------------------------------------------------------
    def build(self, kind: str, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
        """The backbone for ``kind`` (encoder, causal_lm, masked_lm), embeddings sized to the tokenizer."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
        if kind != "encoder" and kind != self.objective:
            able = [f for f, t in TRAITS.items() if t.objective == kind]
            raise ValueError(f"{kind} needs model={' or model='.join(able)}; {self.family} is a {self.objective}")
        # a pooler only when pooled with it: unused parameters break DDP (and cost memory)
        extra = {"add_pooling_layer": False} if kind == "encoder" and self.traits.optional_pooler and \
            self.pooling != "pooler" else {}
        if self.preset:
            model = KINDS[kind].from_config(self._preset_config(tokenizer), **extra)
        else:
            model = KINDS[kind].from_pretrained(self._pretrained_dir(), dtype=torch.float32, **extra)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        model.config.pad_token_id = tokenizer.pad_token_id
        if self.init_from:  # before freezing and LoRA: the plain backbone's keys (cts.models.transfer)
            load_backbone(model, self.init_from)
        model.train()  # from_pretrained returns eval mode (dropout off); Lightning keeps whatever mode it finds
        if self.freeze_embeddings and not self.preset and kind == "encoder":
            # pretrained token embeddings kept as they are: on CPU their dense gradient and AdamW update are a quarter
            # of a MiniLM step (measured: 0.61 → 0.46 s for 32 pairs); encoders only (causal LMs tie them to the head)
            model.get_input_embeddings().weight.requires_grad_(False)
        if self.lora:
            model = self._with_lora(model, tokenizer)
        return model

    def _preset_config(self, tokenizer: PreTrainedTokenizerFast) -> PretrainedConfig:
        hidden, layers, heads, ffn, _ = PRESETS[self.preset]
        ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
               "eos_token_id": tokenizer.eos_token_id}
        return self.traits.preset_config(len(tokenizer), hidden, layers, heads, ffn, max(512, 4 * self.max_length), ids)

    def _pretrained_dir(self) -> str:
        """``name_or_path`` itself, or for a GGUF file a cached de-quantized copy (converting takes ~15 s)."""
        if not self.gguf_file:
            return self.name_or_path
        target = self.cache_dir / "models" / f"{Path(self.gguf_file).stem}-{fingerprint(self.name_or_path)}"
        if not (target / "config.json").exists():
            log.info("de-quantizing %s (once) into %s", self.gguf_file, target)
            model = AutoModelForCausalLM.from_pretrained(self.name_or_path, gguf_file=self.gguf_file,
                                                         dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(self.name_or_path, gguf_file=self.gguf_file)
            model.hf_quantizer = None  # weights are plain float32 after de-quantization; save them as such
            del model.config.quantization_config
            with atomic_dir(target) as folder:  # published whole (fsynced) or not at all
                model.save_pretrained(folder)
                tokenizer.save_pretrained(folder)
        return str(target)

    def _with_lora(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast):
        from peft import LoraConfig, get_peft_model

        options = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": self.traits.lora_targets, **self.lora}
        added = sorted(tokenizer.get_added_vocab().values())
        config = LoraConfig(r=int(options["r"]), lora_alpha=int(options["alpha"]),
                            lora_dropout=float(options["dropout"]), target_modules=list(options["target_modules"]),
                            trainable_token_indices=added or None)
        return get_peft_model(model, config)
