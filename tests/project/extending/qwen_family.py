"""A fourth model family from outside the package (docs/extending.md, "Adding a model family"): Qwen2, a causal LM
with grouped-query attention, as one row of ``cts.models.spec.TRAITS``.

Inside cts the row goes into the ``TRAITS`` table of ``src/cts/models/spec.py`` beside bert, gpt and llama, and
``conf/model/<family>.yaml`` targets ``cts.models.spec.ModelSpec``. From outside, ``conf/model/qwen.yaml`` targets
:func:`qwen_spec`, which adds the row when train.py builds the model, before the spec is made.
"""

from __future__ import annotations

from transformers import PretrainedConfig, Qwen2Config

from cts.models.spec import TRAITS, FamilyTraits, ModelSpec


def qwen2_config(vocab, hidden, layers, heads, ffn, positions, ids) -> PretrainedConfig:
    """A size preset (``model.preset=tiny|small|base``) as a random-init Qwen2 config."""
    return Qwen2Config(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                       num_key_value_heads=max(1, heads // 2), intermediate_size=ffn,
                       max_position_embeddings=positions, tie_word_embeddings=True, **ids)


QWEN = FamilyTraits(objective="causal_lm", pair_template="sep_text", tokenizer_kind="bpe",
                    lora_targets=("q_proj", "v_proj"), pooling="last", optional_pooler=False,
                    preset_config=qwen2_config)


def qwen_spec(**settings) -> ModelSpec:
    """``conf/model/qwen.yaml``'s target: the family's row registered, then an ordinary ModelSpec."""
    TRAITS.setdefault("qwen", QWEN)
    return ModelSpec(**settings)
