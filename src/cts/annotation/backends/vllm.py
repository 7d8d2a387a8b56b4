"""vLLM offline engine (GPU): continuous batching over all prompts of a block, tensor parallel across GPUs.

vLLM is not a dependency of cts (large, CUDA-only): install it with ``pip install vllm`` on the GPU machine.
"""

from __future__ import annotations

from cts.annotation.backends.base import Generation, TokenizerBackend


class VLLMBackend(TokenizerBackend):
    name = "vllm"

    def __init__(self, model: str, tensor_parallel_size: int = 1, max_model_len: int | None = None,
                 gpu_memory_utilization: float = 0.9, dtype: str = "auto", load_format: str = "auto",
                 **settings):
        super().__init__(model=model, **settings)
        try:
            from vllm import LLM, SamplingParams
        except ImportError as err:
            raise ImportError(
                "llm=vllm needs vLLM, which cts does not install (GPU only): pip install vllm "
                "(or use llm=openai against a running `vllm serve`)"
            ) from err
        self.engine = LLM(model=model, tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len,
                          gpu_memory_utilization=gpu_memory_utilization, dtype=dtype, seed=self.seed,
                          load_format=load_format)
        self.sampling = SamplingParams(temperature=self.temperature, max_tokens=self.max_new_tokens, seed=self.seed)
        self.tokenizer = self.engine.get_tokenizer()
        self.tensor_parallel_size = tensor_parallel_size

    def describe(self) -> dict:
        return {**super().describe(), "tensor_parallel_size": self.tensor_parallel_size}

    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        outputs = self.engine.chat(conversations, self.sampling, use_tqdm=False)
        return [
            Generation(text=o.outputs[0].text, prompt_tokens=len(o.prompt_token_ids),
                       completion_tokens=len(o.outputs[0].token_ids),
                       finish_reason="length" if o.outputs[0].finish_reason == "length" else "stop")
            for o in outputs
        ]
