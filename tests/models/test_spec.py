"""Model families are one table: a new family is a row of TRAITS, tasks follow its traits, never its name."""

import pytest
import transformers

from cts.models import spec as spec_module
from cts.models.spec import TRAITS, FamilyTraits, ModelSpec
from cts.tasks.nextevent.datamodule import NextEventDataModule
from cts.tasks.relation.datamodule import RelationDataModule


def test_a_fourth_family_is_one_table_row(train_data, tmp_path, monkeypatch):
    # "roberta-like": a masked LM with a BPE tokenizer and the causal pair template: a combination no family has
    row = FamilyTraits("masked_lm", "sep_text", "bpe", ("query", "value"), "mean", True,
                       TRAITS["bert"].preset_config)
    monkeypatch.setitem(TRAITS, "fourth", row)
    monkeypatch.setattr(spec_module, "FAMILIES", tuple(TRAITS))
    spec = ModelSpec("fourth", preset="tiny", max_length=48, cache_dir=tmp_path / "cache")
    assert (spec.objective, spec.pair_template, spec.tokenizer_kind, spec.pooling) == ("masked_lm", "sep_text", "bpe",
                                                                                       "mean")
    relation = RelationDataModule(str(train_data / "tasks" / "relation"), spec, cache_dir=str(tmp_path / "cache"))
    relation.prepare()
    tokenizer = relation.tokenizer
    assert tokenizer.sep_token in tokenizer.decode(relation.datasets["train"].columns["input_ids"][0])  # "a [SEP] b"
    assert "##" not in "".join(tokenizer.get_vocab())  # a BPE was trained, not a WordPiece
    nextevent = NextEventDataModule(str(train_data / "tasks" / "nextevent"), spec, cache_dir=str(tmp_path / "cache"))
    nextevent.prepare()
    first = list(nextevent.datasets["train"].columns["input_ids"][0])
    assert first[0] == nextevent.tokenizer.cls_token_id and first[-1] == nextevent.tokenizer.sep_token_id  # masked LM
    assert isinstance(spec.build("masked_lm", nextevent.tokenizer), transformers.BertForMaskedLM)
    with pytest.raises(ValueError, match="causal_lm needs model=gpt or model=llama; fourth is a masked_lm"):
        spec.build("causal_lm", nextevent.tokenizer)
