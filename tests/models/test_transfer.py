"""model.init_from (``cts.models.transfer``): every backbone tensor loaded, into an encoder and a masked LM, and loud
failures on a mismatched checkpoint."""

import logging
from pathlib import Path

import pytest
import torch

from cts.models.spec import ModelSpec
from cts.models.transfer import TransferError, load_backbone
from cts.offline import minilm_path


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
