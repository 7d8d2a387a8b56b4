"""Any OpenAI-compatible chat server (``vllm serve``, llama.cpp ``llama-server``, hosted APIs).

Requests run concurrently. Timeouts, dropped connections, 429/5xx and malformed replies are retried with
exponential backoff (tenacity), at most ``max_retries`` times and within ``request_budget_s`` seconds per request in
all; then the run stops (the server is unusable) after the block's finished admissions are written. A prompt the
server refuses (HTTP 400/413/422, e.g. longer than its context) fails alone: its admission is recorded as failed and
the run goes on. Token counts for windowing are estimated from characters (the server's tokenizer is not here).

The key comes from the environment (``OPENAI_API_KEY``, or the variable named by ``llm.api_key_env``), never from
the config, which Hydra stores in every run folder; a URL is stored and logged without its credentials.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from cts.annotation.backends.base import Backend, Failure, Generation
from cts.annotation.schema import RESPONSE_FORMAT, json_to_lines

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
REFUSED_STATUS = {400, 413, 422}  # about this request only: the others may still succeed
MESSAGE_CHARS = 300
_SECRET_ARGUMENT = re.compile(r"^[+~]*(?:[\w.]*\.)?api_key=", re.IGNORECASE)
_URL_ARGUMENT = re.compile(r"^[+~]*(?:[\w.]*\.)?base_url=(.*)$", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` without user, password, query and fragment (where keys hide): safe to store and log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def refuse_command_line_secrets(arguments: list[str]) -> str | None:
    """Why the command line must be refused (a key, or a URL with credentials), else None. Hydra writes every
    override into ``.hydra/overrides.yaml``, ``config.yaml`` and ``hydra.yaml``, so this runs before Hydra does;
    the message never repeats the secret."""
    for argument in arguments:
        if _SECRET_ARGUMENT.match(argument):
            return ("an API key on the command line is refused: Hydra would store it in plain text in the run's "
                    ".hydra/ files. Export OPENAI_API_KEY=... (or name another variable with llm.api_key_env=NAME) "
                    "and run again without it.")
        url = _URL_ARGUMENT.match(argument)
        try:
            parts = urlsplit(url.group(1).strip("'\"")) if url else None
            secret = parts is not None and bool(parts.username or parts.password or parts.query)
        except ValueError:  # unparsable: the backend reports it, without the value
            secret = False
        if secret:
            return ("credentials in llm.base_url on the command line are refused: Hydra would store them in the run's "
                    ".hydra/ files. Give the URL without user, password or query (the key via OPENAI_API_KEY), or "
                    "read the whole URL from the environment: llm.base_url='${oc.env:MY_URL_VARIABLE}'.")
    return None


class _Transient(Exception):
    """A failed attempt worth retrying (its message is what the final error reports)."""


def _error_message(response: httpx.Response) -> str:
    """The server's own error message (OpenAI error JSON) or the start of its body, cut short."""
    try:
        error = response.json().get("error")
        text = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        text = None
    return str(text if text else response.text)[:MESSAGE_CHARS]


class OpenAIBackend(Backend):
    name = "openai"
    batch_invariant = True  # each request is independent of the others

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout_s: float = 120.0, request_budget_s: float = 300.0,
                 max_retries: int = 4, backoff_s: float = 1.0, chars_per_token: float = 3.5, structured: bool = True,
                 **settings):
        super().__init__(model=model, **settings)
        if max_retries < 0 or concurrency < 1 or timeout_s <= 0 or request_budget_s <= 0:
            raise ValueError("llm: need max_retries >= 0, concurrency >= 1, timeout_s > 0 and request_budget_s > 0")
        try:
            self.base_url, self.public_url = base_url.rstrip("/"), redact_url(base_url.rstrip("/"))
        except ValueError:
            raise ValueError("llm.base_url is not a valid URL (not shown: it may hold credentials)") from None
        self.concurrency, self.max_retries, self.backoff_s = concurrency, max_retries, backoff_s
        self.timeout_s, self.request_budget_s = timeout_s, request_budget_s
        self.chars_per_token, self.retries, self._lock = chars_per_token, 0, threading.Lock()
        self.structured, self.schema_refused = structured, False
        key = os.environ.get(api_key_env)
        if key is None and api_key_env != "OPENAI_API_KEY":
            raise ValueError(f"llm.api_key_env={api_key_env}: that environment variable is not set")
        self.client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {key or 'EMPTY'}"},
                                   limits=httpx.Limits(max_connections=concurrency))

    def describe(self) -> dict:
        structured = self.structured and ("free text (the server refused response_format)" if self.schema_refused
                                          else "response_format json_schema")
        return {**super().describe(), "base_url": self.public_url, "timeout_s": self.timeout_s,
                "request_budget_s": self.request_budget_s, "max_retries": self.max_retries, "structured": structured}

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        step = max(1, round(self.chars_per_token))
        return [(i, min(i + step, len(text))) for i in range(0, len(text), step)]

    def count_prompt_tokens(self, messages: list[dict]) -> int:
        return sum(len(m["content"]) for m in messages) // max(1, round(self.chars_per_token)) + 4 * len(messages)

    def generate(self, conversations: list[list[dict]]) -> list[Generation | Failure]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._complete, conversations))

    def _count_retry(self, _state) -> None:
        with self._lock:
            self.retries += 1

    def _complete(self, messages: list[dict]) -> Generation | Failure:
        """One request with retries. tenacity rather than the ``openai`` client's own retries: that client does not
        retry a malformed 200 reply, its backoff is not configurable, and it has no total budget per request."""
        deadline = time.monotonic() + self.request_budget_s
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1) | stop_before_delay(self.request_budget_s),
            wait=wait_exponential(multiplier=self.backoff_s), retry=retry_if_exception_type(_Transient),
            before_sleep=self._count_retry)
        try:
            result = retrying(self._attempt, messages, deadline)
        except RetryError as err:
            attempts = err.last_attempt.attempt_number
            problem = err.last_attempt.exception()
            spent = f", llm.request_budget_s={self.request_budget_s:g} spent" if attempts <= self.max_retries else ""
            return Failure("no valid reply", f"{self.public_url}: no valid reply after {attempts} attempts{spent} "
                           f"(last: {problem})", stops_run=True, retries=attempts - 1)
        result.retries = retrying.statistics.get("attempt_number", 1) - 1
        return result

    def _attempt(self, messages: list[dict], deadline: float) -> Generation | Failure:
        """One request; with ``structured`` the schema goes as ``response_format``. A server that refuses the request
        with it (HTTP 400/422) but answers the same request without it does not take the schema: from then on the
        run asks for free text (parsed as lines, rejects counted), with one warning."""
        schema = self.structured and not self.schema_refused
        result = self._post(messages, deadline, schema)
        if schema and isinstance(result, Failure) and not result.stops_run:
            plain = self._post(messages, deadline, False)
            if isinstance(plain, Generation):
                with self._lock:
                    if not self.schema_refused:
                        log.warning("llm.structured=true: %s refused response_format json_schema (%s); falling back "
                                    "to free text for the rest of the run (llm.structured=false asks for free text "
                                    "from the start)", self.public_url, result.message)
                    self.schema_refused = True
            return plain
        return result

    def _post(self, messages: list[dict], deadline: float, schema: bool) -> Generation | Failure:
        body = {"model": self.model, "messages": messages, "max_tokens": self.max_new_tokens,
                "temperature": self.temperature, "seed": self.seed}
        if schema:
            body["response_format"] = RESPONSE_FORMAT
        timeout = max(0.01, min(self.timeout_s, deadline - time.monotonic()))  # never past the request's budget
        try:
            response = self.client.post(f"{self.base_url}/chat/completions", json=body, timeout=timeout)
        except httpx.HTTPError as err:  # timeout, refused or dropped connection
            raise _Transient(f"{type(err).__name__}: {err}") from None
        if response.status_code in RETRYABLE_STATUS:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code in REFUSED_STATUS:
            return Failure(f"HTTP {response.status_code}", _error_message(response))
        if response.status_code != 200:
            return Failure(f"HTTP {response.status_code}", f"{self.public_url}: HTTP {response.status_code} (not "
                           f"retried; check llm.base_url, llm.model and the key): {_error_message(response)}",
                           stops_run=True)
        try:
            reply = response.json()
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise _Transient(f"malformed response ({type(err).__name__}: {err})") from None
        usage = reply.get("usage") or {}
        return Generation(
            text=json_to_lines(text) if schema else text,
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_prompt_tokens(messages)),
            completion_tokens=int(usage.get("completion_tokens") or len(text) / self.chars_per_token),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )
