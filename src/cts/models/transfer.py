"""``model.init_from=PATH``: start a backbone from the backbone of any cts checkpoint (relation, risk, nextevent,
forecast …), with an explicit key mapping and a loud failure when it does not fit.

The authors' transfer code loaded a checkpoint with ``strict=False`` under mismatched key prefixes, so the
"pretrained" model may never have received a tensor. Here every key is mapped by a stated rule:

1. a cts task module holds its backbone under ``backbone.`` (classification tasks) or ``lm.`` (language-model tasks):
   that prefix is removed; every other tensor of the checkpoint (heads, time encodings) is *unexpected*;
2. a language-model wrapper keeps the base model under its ``base_model_prefix`` (``bert.``, ``transformer.``,
   ``model.``): that prefix is removed on both sides, so an encoder and a language model of one architecture share
   their base-model keys; tensors outside the base model (``cls.*``, ``lm_head.*``) are heads: unexpected in the
   source, left as initialised in the target;
3. every base-model tensor of the target must be found with the same shape; word-embedding rows may differ only
   by tokens a task appended to the same vocabulary (the common rows are copied).

A missing tensor, a shape mismatch or a checkpoint that holds no tensor of this architecture is an error that
names the file and examples; the counts loaded / missing / unexpected are logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel

from cts.models.checkpoint_file import CheckpointError, read_checkpoint

log = logging.getLogger(__name__)

MODULE_PREFIXES = ("backbone.", "lm.")  # where cts task modules keep their backbone (see TaskModule subclasses)
BASE_PREFIXES = ("bert", "transformer", "model")  # base_model_prefix of BertFor*, GPT2LMHeadModel, LlamaForCausalLM


class TransferError(ValueError):
    """A checkpoint that cannot initialise this backbone; the message names the file and what did not fit."""


@dataclass(frozen=True)
class LoadReport:
    loaded: int
    missing: int
    unexpected: int
    resized: tuple[str, ...] = ()

    def line(self) -> str:
        resized = f"; embedding rows matched up to the smaller vocabulary: {', '.join(self.resized)}" \
            if self.resized else ""
        return (f"loaded {self.loaded} tensors, missing {self.missing}, unexpected {self.unexpected} "
                f"(heads and task layers of the source){resized}")


def _base_keys(keys, base_prefix: str) -> dict[str, str]:
    """Base-model-relative key → original key (rule 2); with no prefix (an encoder) the keys are already relative."""
    return {key.removeprefix(base_prefix + ".") if base_prefix else key: key for key in keys
            if not base_prefix or key.startswith(base_prefix + ".")}


def read_backbone_state(path: str | Path) -> tuple[dict[str, torch.Tensor], int]:
    """The backbone tensors of a cts checkpoint, keyed without the module prefix (rule 1), and how many other
    tensors (task heads, time encodings, metric states) the checkpoint holds."""
    path = Path(path)
    try:
        state = read_checkpoint(path, "model.init_from", map_location="cpu", weights_only=True)["state_dict"]
    except CheckpointError as error:  # missing, truncated, corrupted, unreadable, no state_dict
        raise TransferError(str(error)) from None
    prefix = next((p for p in MODULE_PREFIXES if any(k.startswith(p) for k in state)), None)
    if prefix is None:
        raise TransferError(f"model.init_from={path}: no tensor under {' or '.join(MODULE_PREFIXES)}: not a cts task "
                            f"checkpoint (keys such as {sorted(state)[:3]})")
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if any("lora_" in k for k in backbone):
        raise TransferError(f"model.init_from={path}: a LoRA run (adapter tensors under peft's wrapper); its base "
                            "weights are the untouched pretrained ones, so initialising from it would transfer "
                            "nothing. Pretrain without model.lora.r, or merge the adapters first")
    return backbone, len(state) - len(backbone)


def load_backbone(model: PreTrainedModel, path: str | Path) -> LoadReport:
    """Copy the backbone of checkpoint ``path`` into ``model`` (rules in the module docstring); raises
    ``TransferError`` unless every base-model tensor of ``model`` was loaded."""
    source, outside = read_backbone_state(path)
    base_prefix = model.base_model_prefix if model.base_model is not model else ""
    source_prefix = next((p for p in BASE_PREFIXES if any(k.startswith(p + ".") for k in source)), "")
    source_base = _base_keys(source, source_prefix)
    target = model.state_dict()
    target_base = _base_keys(target, base_prefix)
    embedding = next((name for name, tensor in model.named_parameters()
                      if tensor is model.get_input_embeddings().weight), None)
    mapped, missing, mismatched, resized = {}, [], [], []
    for key, target_key in target_base.items():
        if key not in source_base:
            missing.append(target_key)
            continue
        tensor, wanted = source[source_base[key]], target[target_key]
        if tensor.shape == wanted.shape:
            mapped[target_key] = tensor
        elif target_key == embedding and tensor.shape[1:] == wanted.shape[1:]:
            rows = min(tensor.shape[0], wanted.shape[0])  # tokens a task appended to the same vocabulary
            merged = wanted.clone()
            merged[:rows] = tensor[:rows]
            mapped[target_key] = merged
            resized.append(f"{target_key} {tuple(tensor.shape)} → {tuple(wanted.shape)}")
        else:
            mismatched.append(f"{key}: checkpoint {tuple(tensor.shape)}, model {tuple(wanted.shape)}")
    used = {source_base[k] for k in target_base if k in source_base}
    unexpected = [k for k in source if k not in used]
    name = type(model).__name__
    if not mapped:
        raise TransferError(f"model.init_from={path}: no tensor of the checkpoint fits {name}: a checkpoint of another "
                            f"architecture (checkpoint keys such as {sorted(source)[:2]}, model keys such as "
                            f"{sorted(target_base)[:2]})")
    if mismatched:
        raise TransferError(f"model.init_from={path}: {len(mismatched)} tensor(s) have another shape than {name}'s "
                            f"(another size or preset?), e.g. {'; '.join(mismatched[:3])}")
    if missing:
        raise TransferError(f"model.init_from={path}: the backbone did not load: {len(missing)} of {len(target_base)} "
                            f"tensors of {name} are not in the checkpoint, e.g. {', '.join(missing[:3])}")
    result = model.load_state_dict(mapped, strict=False)
    left = [k for k in result.missing_keys if k in mapped]
    if left or result.unexpected_keys:  # cannot happen after the checks above; guards the mapping itself
        raise TransferError(f"model.init_from={path}: load_state_dict disagreed: {left[:3]} "
                            f"{result.unexpected_keys[:3]}")
    report = LoadReport(len(mapped), len(missing), len(unexpected) + outside, tuple(resized))
    log.info("model.init_from=%s into %s: %s", path, name, report.line())
    return report
