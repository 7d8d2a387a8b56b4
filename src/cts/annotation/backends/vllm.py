"""vLLM offline engine (GPU): continuous batching over all prompts of a block, tensor parallel across GPUs.

vLLM is not a dependency of cts (large, CUDA-only): install it with ``pip install vllm`` on the GPU machine; it is
imported only when this backend is built. ``structured: true`` constrains decoding to
:data:`cts.annotation.schema.LINE_GRAMMAR` through vLLM's structured outputs (its xgrammar backend).
"""

from __future__ import annotations

from cts.annotation.backends.base import Generation, TokenizerBackend
from cts.annotation.schema import LINE_GRAMMAR


class VLLMBackend(TokenizerBackend):
    name = "vllm"

    def __init__(self, model: str, tensor_parallel_size: int = 1, max_model_len: int | None = None,
                 gpu_memory_utilization: float = 0.9, dtype: str = "auto", load_format: str = "auto",
                 structured: bool = True, **settings):
        super().__init__(model=model, **settings)
        try:
            from vllm import LLM, SamplingParams
        except ImportError as err:
            raise ImportError(
                "llm=vllm needs vLLM, which cts does not install (GPU only): pip install vllm "
                "(or use llm=openai against a running `vllm serve`)"
            ) from err
        constraint = {"structured_outputs": structured_outputs(LINE_GRAMMAR)} if structured else {}
        self.structured = structured
        self.engine = LLM(model=model, tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len,
                          gpu_memory_utilization=gpu_memory_utilization, dtype=dtype, seed=self.seed,
                          load_format=load_format)
        self.sampling = SamplingParams(temperature=self.temperature, max_tokens=self.max_new_tokens, seed=self.seed,
                                       **constraint)
        self.tokenizer = self.engine.get_tokenizer()
        self.tensor_parallel_size = tensor_parallel_size

    def describe(self) -> dict:
        return {**super().describe(), "tensor_parallel_size": self.tensor_parallel_size,
                "structured": "event | hours grammar (vLLM structured outputs)" if self.structured else False}

    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        outputs = self.engine.chat(conversations, self.sampling, use_tqdm=False)
        return [
            Generation(text=o.outputs[0].text, prompt_tokens=len(o.prompt_token_ids),
                       completion_tokens=len(o.outputs[0].token_ids),
                       finish_reason="length" if o.outputs[0].finish_reason == "length" else "stop")
            for o in outputs
        ]


def structured_outputs(grammar: str):
    """vLLM's structured-output parameters for an EBNF grammar, or a clear error naming ``llm.structured``."""
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError as err:
        raise ImportError("llm.structured=true needs vLLM's structured outputs (vllm.sampling_params."
                          "StructuredOutputsParams, vLLM >= 0.10.2): upgrade vLLM, or set "
                          "llm.structured=false") from err
    return StructuredOutputsParams(grammar=grammar)
