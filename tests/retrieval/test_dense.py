"""retrieval.encoder=static: a model2vec model distilled once from a (tiny, random) BERT, cached by content,
deterministic, usable as the cascade's first stage; missing packages and unknown encoders fail by name."""

import sys
from pathlib import Path

import numpy as np
import pytest

from cts.data.notes import Note
from cts.retrieval import dense
from cts.retrieval.chunking import Chunker
from cts.retrieval.dense import StaticEncoder
from cts.retrieval.retriever import Retriever

from .helpers import NOTE, QUERIES

ROOT = Path(__file__).resolve().parents[2]
WORDS = ("chest pain shortness breath aspirin heparin troponin elevated fever sepsis cough given presents "
         "morning history illness ed mr was and the of in with who").split()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 1-layer random BERT with a 40-token WordPiece vocabulary: distils in well under a second."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s"]
    wordpiece = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocabulary)}, unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    BertTokenizerFast(tokenizer_object=wordpiece, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                      sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocabulary), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def test_static_encoder_is_deterministic_and_distilled_once(tiny_bert, tmp_path, monkeypatch):
    texts = ["chest pain since the morning", "given aspirin and heparin", "fever"]
    first = StaticEncoder(str(tiny_bert), cache_dir=tmp_path)
    vectors = first.encode(texts)
    assert vectors.shape[0] == 3 and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5) and first.encoded == 3
    path = first.cache_path()
    assert path.parent == tmp_path / "static" and (path / "model.safetensors").exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # written atomically: no temp left

    real = dense._model2vec()

    def no_distill(*args, **kwargs):
        raise AssertionError("distilled again instead of loading the cache")

    monkeypatch.setattr(dense, "_model2vec", lambda: (real[0], no_distill))
    again = StaticEncoder(str(tiny_bert), cache_dir=tmp_path)
    assert again.cache_path() == path
    assert np.array_equal(again.encode(texts), vectors)  # from the cache, bit for bit


def test_cache_key_follows_the_source_model_content(tiny_bert, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert, copy)
    assert StaticEncoder(str(copy), cache_dir=tmp_path).cache_path().name == \
        StaticEncoder(str(tiny_bert), cache_dir=tmp_path).cache_path().name  # same content, same key
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("{", "{\"changed\": 1, ", 1))
    assert StaticEncoder(str(copy), cache_dir=tmp_path).cache_path() != \
        StaticEncoder(str(tiny_bert), cache_dir=tmp_path).cache_path()


def test_static_encoder_as_the_cascade_first_stage(tiny_bert, tmp_path):
    retriever = Retriever(mode="cascade", queries=QUERIES, encoder="static", model_name_or_path=str(tiny_bert),
                          cache_dir=tmp_path, cascade_top_n=4, top_k=3)
    assert retriever.settings()["encoder"] == "static"
    ranked = retriever.rank([retriever.lexical(Note("1", 1, NOTE), Chunker()(NOTE))])[0]
    assert retriever.encoder.encoded == 4 and len(ranked.kept) == 3
    assert np.isfinite(ranked.dense).sum() == 4


def test_missing_model2vec_and_unknown_encoders_fail_by_name(monkeypatch):
    with pytest.raises(ValueError, match="retrieval.encoder must be one of"):
        Retriever(mode="dense", queries=QUERIES, encoder="word2vec")
    monkeypatch.setitem(sys.modules, "model2vec", None)
    with pytest.raises(ModuleNotFoundError, match="retrieval.encoder=static needs model2vec"):
        Retriever(mode="dense", queries=QUERIES, encoder="static")
    Retriever(mode="bm25", queries=QUERIES, encoder="static")  # bm25 loads no encoder


def test_encoder_static_composes():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("preprocess", overrides=["stage=notes", "retrieval=cascade", "retrieval.encoder=static"])
    retriever = instantiate(cfg.retrieval)
    assert isinstance(retriever.encoder, StaticEncoder) and retriever.encoder.cache_dir.name == "cts"
    assert retriever.encoder.cache_dir.parent.name == ".cache"
