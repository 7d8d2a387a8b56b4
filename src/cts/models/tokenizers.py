"""Tokenizers: the model's own, or one trained on the train split (WordPiece for BERT, byte-level BPE otherwise).

Trained tokenizers are cached under ``cache_dir`` keyed by kind (``wordpiece``/``bpe``), vocabulary size and a hash
of the training data's key, so every run on the same split reuses the same vocabulary (and its tokenized-data cache).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from tokenizers import AddedToken
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from cts.hashing import fingerprint
from cts.io import atomic_dir

log = logging.getLogger(__name__)

BERT_SPECIALS = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                 "mask_token": "[MASK]"}
BPE_END = "<|endoftext|>"


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerFast) -> str:
    """Hash of the full tokenizer (vocabulary, merges, normalizer, added tokens)."""
    return fingerprint(tokenizer.backend_tokenizer.to_str(), tokenizer.padding_side)


TOKENIZER_KINDS = ("wordpiece", "bpe")


def train_tokenizer(kind: str, texts: Callable[[], Iterable[str]], vocab_size: int, data_key: str,
                    cache_dir: str | Path) -> PreTrainedTokenizerFast:
    """Train (or load from cache) a ``wordpiece`` (BERT's, lower-cased) or byte-level ``bpe`` tokenizer on
    ``texts()`` (the train split only)."""
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer kind must be one of {TOKENIZER_KINDS}, got {kind!r}")
    path = Path(cache_dir) / "tokenizers" / f"{kind}-{vocab_size}-{fingerprint(data_key)}"
    if (path / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(path)
    from tokenizers import ByteLevelBPETokenizer, processors
    from tokenizers.implementations import BertWordPieceTokenizer

    if kind == "wordpiece":
        trainer = BertWordPieceTokenizer(lowercase=True)
        trainer.train_from_iterator(texts(), vocab_size=vocab_size, special_tokens=list(BERT_SPECIALS.values()),
                                    show_progress=False)
        cls, sep = trainer.token_to_id("[CLS]"), trainer.token_to_id("[SEP]")
        trainer._tokenizer.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=trainer._tokenizer, **BERT_SPECIALS)
    else:
        trainer = ByteLevelBPETokenizer(add_prefix_space=False)
        trainer.train_from_iterator(texts(), vocab_size=vocab_size, special_tokens=[BPE_END], show_progress=False)
        trainer._tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=trainer._tokenizer, bos_token=BPE_END, eos_token=BPE_END,
                                            unk_token=BPE_END, pad_token=BPE_END)
    with atomic_dir(path) as folder:  # a concurrent job training the same tokenizer writes the same files
        tokenizer.save_pretrained(folder)
    log.info("trained a %s tokenizer (%d tokens) on the train split, cached at %s", kind, len(tokenizer), path)
    return AutoTokenizer.from_pretrained(path)


def prepare_tokenizer(tokenizer: PreTrainedTokenizerFast, extra_tokens: Iterable[str] = (),
                      masked_lm: bool = False, word_tokens: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """Give every tokenizer what the tasks rely on: a pad token, a separator, right padding, the task's tokens, and
    for a masked-LM family the ``[CLS] … [SEP]`` frame and ``[MASK]`` (whatever tokenizer kind it trains).

    ``word_tokens``: whole phrases (e.g. the frequent event strings of a timeline) that become one ordinary token
    each, matched on whole words only (the longest leftmost phrase wins); text
    outside them keeps the subword pieces, so an unseen phrase is still spelled, never an unknown bucket."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    wanted = {"sep_token": "[SEP]", **({"cls_token": "[CLS]", "mask_token": "[MASK]"} if masked_lm else {})}
    missing = {name: token for name, token in wanted.items() if getattr(tokenizer, name) is None}
    if missing:
        tokenizer.add_special_tokens(missing)
    tokenizer.padding_side = "right"
    vocabulary = tokenizer.get_vocab()  # built once: a pretrained vocabulary holds ~50,000 entries
    new = [token for token in extra_tokens if str(token) not in vocabulary]  # str or AddedToken
    if new:
        tokenizer.add_tokens(new, special_tokens=True)
        vocabulary = tokenizer.get_vocab()
    words = [AddedToken(word, single_word=True, normalized=False, special=False)
             for word in dict.fromkeys(word_tokens) if word.strip() and word not in vocabulary]
    if words:
        tokenizer.add_tokens(words)
    return tokenizer
