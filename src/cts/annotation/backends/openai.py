"""Any OpenAI-compatible chat server (``vllm serve``, llama.cpp ``llama-server``, hosted APIs).

Requests run concurrently (asyncio, at most ``concurrency`` in flight). Each attempt has a wall-clock deadline of
``timeout_s`` over connect, send and the whole reply, never past the request's ``request_budget_s``: a server that
drips its reply a few bytes at a time is cut there, as a silent one is. Timeouts, dropped connections and HTTP
408/409/425/429/5xx are retried with exponential backoff (tenacity), or after the server's ``Retry-After`` (seconds or
an HTTP date) when that is longer, at most ``max_retries`` times and within ``request_budget_s`` per request in all;
then the run stops (the server is unusable) after the block's finished admissions are written. A ``Retry-After`` that
would pass the budget stops at once.

A prompt the server refuses (HTTP 400/413/422, e.g. longer than its context) fails alone: its admission is recorded as
failed and the run goes on, and reruns skip it. So does a prompt whose every reply is unreadable (HTTP 200 with a body
that is not JSON or is cut short, content that is not text, token counts that are not counts): such replies are
retried like a timeout first, and only when no request of the batch got a readable reply is the server unusable.
Messages kept from the server lose every word of the prompt (servers echo it in their errors), and each failure
carries a hash of its prompt (:func:`cts.hashing.fingerprint` of the messages). Token counts for windowing are
estimated from characters (the server's tokenizer is not here).

The key comes from the environment (``OPENAI_API_KEY``, or the variable named by ``llm.api_key_env``), never from
the config, which Hydra stores in every run folder; a URL is stored and logged without its credentials.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from cts.annotation.backends.base import Backend, Failure, Generation
from cts.annotation.schema import RESPONSE_FORMAT, json_to_lines
from cts.hashing import fingerprint

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
REFUSED_STATUS = {400, 413, 422}  # about this request only: the others may still succeed
MESSAGE_CHARS = 300
ECHO_CHARS = 4000  # of a server's error text, cleaned of the prompt's words before it is cut to MESSAGE_CHARS
_SECRET_ARGUMENT = re.compile(r"^[+~]*(?:[\w.]*\.)?api_key=", re.IGNORECASE)
_URL_ARGUMENT = re.compile(r"^[+~]*(?:[\w.]*\.)?base_url=(.*)$", re.IGNORECASE)
_WORD = re.compile(r"\w+")
_JSON_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")  # "\n" in a raw JSON body would glue two words together
_REMOVED = re.compile(r"\x00(?:\W*\x00)*")


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


def without_prompt(text: str, prompt: str) -> str:
    """``text`` with every word found in ``prompt`` removed, each run of them shown as ``[…]``: a server that echoes
    the prompt in its error must not put note text into failure records or logs. A word counts when it is part of
    the prompt (case-folded), so a word the echo cut in half goes too; words of the instructions go with the note's,
    which costs some wording, never text."""
    haystack = prompt.casefold()
    spaced = _JSON_ESCAPE.sub(" ", text.replace("\x00", ""))
    return _REMOVED.sub("[…]", _WORD.sub(lambda w: "\x00" if w[0].casefold() in haystack else w[0], spaced))


def retry_after_s(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks to wait (delay seconds or an HTTP date); 0 when absent or unreadable."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    when = when if when.tzinfo else when.replace(tzinfo=UTC)  # HTTP dates are GMT ("-0000" parses zoneless)
    return max(0.0, when.timestamp() - time.time())


class _Transient(Exception):
    """A failed attempt worth retrying: ``status`` names it in the final failure, the message says what happened,
    ``wait_s`` is how long the server asked to wait (``Retry-After``)."""

    def __init__(self, status: str, message: str, wait_s: float = 0.0):
        super().__init__(message)
        self.status, self.wait_s = status, wait_s


class _Malformed(_Transient):
    """An HTTP 200 reply that cannot be read; says how without repeating it (it may hold note text)."""

    def __init__(self, why: str):
        super().__init__("HTTP 200", f"malformed reply: {why}")


def _error_message(response: httpx.Response, prompt: str) -> str:
    """The server's own error message (OpenAI error JSON) or the start of its body, without the prompt's words,
    cut short."""
    try:
        error = response.json().get("error")
        text = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError, RecursionError):
        text = None
    text = text if isinstance(text, str) and text else response.text
    return without_prompt(text[:ECHO_CHARS], prompt)[:MESSAGE_CHARS]


def _token_count(usage: dict, key: str, estimate: int) -> int:
    """``usage[key]`` (absent or 0: the estimate); anything but a non-negative integer makes the reply malformed."""
    value = usage.get(key)
    if value is None:
        return estimate
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        shown = value if isinstance(value, int | float) else type(value).__name__  # a number is no text
        raise _Malformed(f"usage.{key} is {shown}, not a token count")
    return value or estimate


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
        self.chars_per_token, self.retries = chars_per_token, 0
        self.structured, self.schema_refused = structured, False
        key = os.environ.get(api_key_env)
        if key is None and api_key_env != "OPENAI_API_KEY":
            raise ValueError(f"llm.api_key_env={api_key_env}: that environment variable is not set")
        self._headers = {"Authorization": f"Bearer {key or 'EMPTY'}"}

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
        """One output per conversation, in order. Unreadable replies fail their prompts alone, unless nothing
        readable came back at all: then the server, not the prompts, is at fault and the run must stop."""
        results = asyncio.run(self._generate(conversations))
        if results and all(isinstance(r, Failure) and r.kind == "malformed reply" for r in results):
            for result in results:
                result.stops_run = True
        return results

    async def _generate(self, conversations: list[list[dict]]) -> list[Generation | Failure]:
        """A client per call: its connections belong to this event loop. Timeouts are the attempts' deadlines."""
        slots = asyncio.Semaphore(self.concurrency)  # a request's budget starts when it is sent, not queued

        async def one(client: httpx.AsyncClient, messages: list[dict]) -> Generation | Failure:
            async with slots:
                return await self._complete(client, messages)

        async with httpx.AsyncClient(headers=self._headers, timeout=None,
                                     limits=httpx.Limits(max_connections=self.concurrency)) as client:
            return list(await asyncio.gather(*(one(client, m) for m in conversations)))

    def _count_retry(self, _state) -> None:
        self.retries += 1

    async def _complete(self, client: httpx.AsyncClient, messages: list[dict]) -> Generation | Failure:
        """One request with retries. tenacity rather than the ``openai`` client's own retries: that client does not
        retry a malformed 200 reply, its backoff is not configurable, and it has no total budget per request."""
        deadline = time.monotonic() + self.request_budget_s
        backoff = wait_exponential(multiplier=self.backoff_s)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1) | stop_before_delay(self.request_budget_s),
            wait=lambda state: max(backoff(state), state.outcome.exception().wait_s),
            retry=retry_if_exception_type(_Transient), before_sleep=self._count_retry)
        try:
            result = await retrying(self._attempt, client, messages, deadline)
            result.retries = retrying.statistics.get("attempt_number", 1) - 1
        except RetryError as err:
            result = self._gave_up(err.last_attempt.attempt_number, err.last_attempt.exception(), deadline)
        if isinstance(result, Failure):
            result.prompt_hash = fingerprint(messages)
        return result

    def _gave_up(self, attempts: int, problem: _Transient, deadline: float) -> Failure:
        """The failure after the last attempt: of this prompt alone when its replies were unreadable, else the
        server's (the run stops)."""
        if problem.wait_s and problem.wait_s > deadline - time.monotonic():
            why = f", the server asks to wait past llm.request_budget_s={self.request_budget_s:g}"
        elif attempts <= self.max_retries:
            why = f", llm.request_budget_s={self.request_budget_s:g} spent"
        else:
            why = ""
        malformed = isinstance(problem, _Malformed)
        return Failure(problem.status, "malformed reply" if malformed else "no reply",
                       f"{self.public_url}: no valid reply after {attempts} attempts{why} (last: {problem})",
                       stops_run=not malformed, retries=attempts - 1)

    async def _attempt(self, client: httpx.AsyncClient, messages: list[dict], deadline: float
                       ) -> Generation | Failure:
        """One request; with ``structured`` the schema goes as ``response_format``. A server that refuses the request
        with it (HTTP 400/422) but answers the same request without it does not take the schema: from then on the
        run asks for free text (parsed as lines, rejects counted), with one warning."""
        schema = self.structured and not self.schema_refused
        result = await self._post(client, messages, deadline, schema)
        if schema and isinstance(result, Failure) and not result.stops_run:
            plain = await self._post(client, messages, deadline, False)
            if isinstance(plain, Generation) and not self.schema_refused:
                log.warning("llm.structured=true: %s refused response_format json_schema (%s); falling back to free "
                            "text for the rest of the run (llm.structured=false asks for free text from the start)",
                            self.public_url, result.message)
                self.schema_refused = True
            return plain
        return result

    async def _post(self, client: httpx.AsyncClient, messages: list[dict], deadline: float, schema: bool
                    ) -> Generation | Failure:
        body = {"model": self.model, "messages": messages, "max_tokens": self.max_new_tokens,
                "temperature": self.temperature, "seed": self.seed}
        if schema:
            body["response_format"] = RESPONSE_FORMAT
        seconds = min(self.timeout_s, deadline - time.monotonic())  # never past the request's budget
        try:
            async with asyncio.timeout(max(0.0, seconds)):  # connect, send and every byte of the reply
                response = await client.post(f"{self.base_url}/chat/completions", json=body)
        except TimeoutError:
            raise _Transient("timeout", f"timeout: no complete reply within {max(0.0, seconds):.3g} s") from None
        except httpx.HTTPError as err:  # refused or dropped connection
            raise _Transient("connection error", f"{type(err).__name__}: {err}") from None
        status = f"HTTP {response.status_code}"
        if response.status_code in RETRYABLE_STATUS:
            wait_s = retry_after_s(response.headers.get("Retry-After"))
            raise _Transient(status, f"{status}, Retry-After {wait_s:.1f} s" if wait_s else status, wait_s)
        prompt = "\n".join(m["content"] for m in messages)
        if response.status_code in REFUSED_STATUS:
            return Failure(status, "prompt refused", _error_message(response, prompt))
        if response.status_code != 200:
            return Failure(status, "request rejected", f"{self.public_url}: {status} (not retried; check "
                           f"llm.base_url, llm.model and the key): {_error_message(response, prompt)}",
                           stops_run=True)
        return self._read(response, messages, schema)

    def _read(self, response: httpx.Response, messages: list[dict], schema: bool) -> Generation:
        """The reply as a :class:`Generation`; anything but OpenAI's shape, with text content and whole token counts,
        raises :class:`_Malformed` here, inside the request's retries, so no bad reply escapes them."""
        try:
            reply = response.json()
        except (ValueError, RecursionError):
            raise _Malformed("the body is not JSON, or is cut short") from None
        choices = reply.get("choices") if isinstance(reply, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise _Malformed("no choices[0].message object")
        text, usage = message.get("content"), reply.get("usage")
        text, usage = "" if text is None else text, {} if usage is None else usage
        if not isinstance(text, str):
            raise _Malformed(f"message content is {type(text).__name__}, not text")
        if not isinstance(usage, dict):
            raise _Malformed(f"usage is {type(usage).__name__}, not an object")
        return Generation(
            text=json_to_lines(text) if schema else text,
            prompt_tokens=_token_count(usage, "prompt_tokens", self.count_prompt_tokens(messages)),
            completion_tokens=_token_count(usage, "completion_tokens", int(len(text) / self.chars_per_token)),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )
