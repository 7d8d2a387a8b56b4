"""Any OpenAI-compatible chat server (``vllm serve``, llama.cpp ``llama-server``, hosted APIs).

Requests run concurrently; timeouts, dropped connections, 429 and 5xx are retried with exponential backoff, a
bounded number of times, then the batch fails with a clear error and nothing is written for its notes.
Token counts for windowing are estimated from characters (the server's tokenizer is not available here).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from cts.annotation.backends.base import Backend, BackendError, Generation

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    name = "openai"
    batch_invariant = True  # each request is independent of the others

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key: str | None = None,
                 concurrency: int = 8, timeout_s: float = 120.0, max_retries: int = 4, backoff_s: float = 1.0,
                 chars_per_token: float = 3.5, **settings):
        super().__init__(model=model, **settings)
        if max_retries < 0 or concurrency < 1 or timeout_s <= 0:
            raise ValueError("llm: need max_retries >= 0, concurrency >= 1 and timeout_s > 0")
        self.base_url, self.concurrency, self.max_retries, self.backoff_s = (
            base_url.rstrip("/"), concurrency, max_retries, backoff_s)
        self.chars_per_token, self.retries = chars_per_token, 0
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {key}"},
                                   limits=httpx.Limits(max_connections=concurrency))

    def describe(self) -> dict:
        return {**super().describe(), "base_url": self.base_url}

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        step = max(1, round(self.chars_per_token))
        return [(i, min(i + step, len(text))) for i in range(0, len(text), step)]

    def count_prompt_tokens(self, messages: list[dict]) -> int:
        return sum(len(m["content"]) for m in messages) // max(1, round(self.chars_per_token)) + 4 * len(messages)

    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._complete, conversations))

    def _complete(self, messages: list[dict]) -> Generation:
        body = {"model": self.model, "messages": messages, "max_tokens": self.max_new_tokens,
                "temperature": self.temperature, "seed": self.seed}
        url = f"{self.base_url}/chat/completions"
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post(url, json=body)
            except httpx.HTTPError as err:  # timeout, refused or dropped connection
                problem = f"{type(err).__name__}: {err}"
                continue
            if response.status_code in RETRYABLE_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise BackendError(f"{url}: HTTP {response.status_code} (not retried): {response.text[:200]}")
            try:
                reply = response.json()
                choice = reply["choices"][0]
                text = choice["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError) as err:
                problem = f"malformed response ({type(err).__name__}: {err})"
                continue
            usage = reply.get("usage") or {}
            return Generation(
                text=text,
                prompt_tokens=int(usage.get("prompt_tokens") or self.count_prompt_tokens(messages)),
                completion_tokens=int(usage.get("completion_tokens") or len(text) / self.chars_per_token),
                finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            )
        raise BackendError(f"{url}: no valid reply after {self.max_retries + 1} attempts (last: {problem})")
