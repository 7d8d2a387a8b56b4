"""The openai backend against a real HTTP server on loopback: replies, 500s, drops, garbage, malformed replies,
timeouts, slow drips, Retry-After, refusals, the request budget, and keys, URL credentials and echoed prompts kept out
of everything stored."""

import json
import time
from email.utils import formatdate

import pytest

from cts.annotation.backends import Failure
from cts.annotation.backends.openai import (
    OpenAIBackend,
    redact_url,
    refuse_command_line_secrets,
    retry_after_s,
    without_prompt,
)
from cts.hashing import fingerprint

CHAT = [{"role": "system", "content": "s"}, {"role": "user", "content": 'x\n"""\nFever began. Rash followed.\n"""'}]


def backend(url, **overrides):
    settings = dict(model="m", base_url=url, max_new_tokens=32, temperature=0.0, batch_size=4,
                    max_prompt_tokens=512, concurrency=4, timeout_s=2.0, max_retries=3, backoff_s=0.01)
    return OpenAIBackend(**{**settings, **overrides})


def test_concurrent_replies_in_order(fake_server):
    fake_server.script = [("delay", 0.3)]  # one slow reply must not reorder the results
    chats = [[{"role": "user", "content": f'"""\nEvent {k}.\n"""'}] for k in range(6)]
    results = backend(fake_server.url).generate(chats)
    assert [r.text for r in results] == [f"Event {k} | -48" for k in range(6)]
    assert len(fake_server.requests) == 6
    assert fake_server.requests[0]["temperature"] == 0.0 and fake_server.requests[0]["max_tokens"] == 32


@pytest.mark.parametrize("failure", ["500", "drop", "garbage", ("delay", 1.0)])
def test_transient_failures_are_retried(fake_server, failure):
    fake_server.script = [failure, failure]
    client = backend(fake_server.url, timeout_s=0.4)
    [result] = client.generate([CHAT])
    assert result.text == "Fever began | -48\nRash followed | -24"
    assert client.retries == 2 and result.retries == 2 and len(fake_server.requests) == 3


def test_retries_are_bounded_then_the_run_must_stop(fake_server):
    fake_server.script = ["500"] * 10
    started = time.perf_counter()
    [failure] = backend(fake_server.url, max_retries=2).generate([CHAT])
    assert failure == Failure("HTTP 500", "no reply",
                              f"{fake_server.url}: no valid reply after 3 attempts (last: HTTP 500)",
                              stops_run=True, retries=2, prompt_hash=fingerprint(CHAT))
    assert len(fake_server.requests) == 3 and time.perf_counter() - started < 5


def test_unreachable_server_fails_fast():
    [failure] = backend("http://127.0.0.1:9/v1", max_retries=1).generate([CHAT])
    assert failure.stops_run and "after 2 attempts (last: ConnectError" in failure.message


def test_wrong_url_is_not_retried_and_stops_the_run(fake_server):
    [failure] = backend(fake_server.url.replace("/v1", "/nope")).generate([CHAT])
    assert failure.status == "HTTP 404" and failure.stops_run and "check llm.base_url" in failure.message
    assert len(fake_server.requests) == 0  # the handler never saw a chat request


def test_a_refused_prompt_fails_alone_without_retries(fake_server):
    fake_server.refuse_text = "Rash followed"
    other = [{"role": "user", "content": '"""\nFever began.\n"""'}]
    refused, answered = backend(fake_server.url).generate([CHAT, other])
    assert refused == Failure("HTTP 400", "prompt refused", "maximum context length is 2048 tokens", stops_run=False,
                              retries=0, prompt_hash=fingerprint(CHAT))
    # refused with the schema and again without it: the prompt, not the schema, is the problem
    assert answered.text == "Fever began | -48" and len(fake_server.requests) == 3
    assert not backend(fake_server.url).schema_refused


def test_structured_requests_carry_the_json_schema_and_replies_are_read_as_lines(fake_server):
    client = backend(fake_server.url)
    [result] = client.generate([CHAT])
    request = fake_server.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"]["required"] == ["events"]
    assert result.text == "Fever began | -48\nRash followed | -24"
    assert client.describe()["structured"] == "response_format json_schema"
    [plain] = backend(fake_server.url, structured=False).generate([CHAT])
    assert "response_format" not in fake_server.requests[1] and plain.text == result.text


def test_a_server_refusing_the_schema_falls_back_to_free_text_with_one_warning(fake_server, caplog):
    fake_server.schema = "refuse"
    client = backend(fake_server.url)
    results = client.generate([CHAT, CHAT, CHAT])
    assert [r.text for r in results] == ["Fever began | -48\nRash followed | -24"] * 3
    warnings = [r for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(warnings) == 1 and "llm.structured" in warnings[0].getMessage()
    assert client.schema_refused and "free text" in client.describe()["structured"]
    assert "response_format" not in fake_server.requests[-1]  # later requests no longer ask for it


def test_a_server_ignoring_the_schema_is_parsed_as_free_text(fake_server):
    fake_server.schema = "ignore"
    [result] = backend(fake_server.url).generate([CHAT])
    assert result.text == "Fever began | -48\nRash followed | -24"


def test_a_hung_server_costs_at_most_the_request_budget(fake_server):
    fake_server.script = [("delay", 3.0)] * 10
    started = time.perf_counter()
    [failure] = backend(fake_server.url, timeout_s=0.5, request_budget_s=1.2, max_retries=10).generate([CHAT])
    assert time.perf_counter() - started < 2.5  # 1.2 s budget; without it 11 attempts × 0.5 s
    assert (failure.stops_run and failure.status == "timeout" and "llm.request_budget_s=1.2 spent" in failure.message
            and "no complete reply within" in failure.message)


def test_a_reply_dripping_past_the_attempt_deadline_is_cut_and_retried(fake_server):
    fake_server.script = [("drip", 0.02)]  # ~300 bytes, 6 s in all, yet never 0.5 s without a byte
    started = time.perf_counter()
    [result] = backend(fake_server.url, timeout_s=0.5).generate([CHAT])
    assert result.text == "Fever began | -48\nRash followed | -24" and result.retries == 1
    assert time.perf_counter() - started < 1.5


def test_a_dripping_server_costs_at_most_the_request_budget(fake_server):
    fake_server.script = [("drip", 0.02)] * 10
    started = time.perf_counter()
    [failure] = backend(fake_server.url, timeout_s=1.0, request_budget_s=1.5, max_retries=10).generate([CHAT])
    assert time.perf_counter() - started < 2.5  # without a deadline the first reply ends after 6 s, "in time"
    assert failure.stops_run and failure.status == "timeout" and "llm.request_budget_s=1.5 spent" in failure.message


def test_retry_after_is_honoured_within_the_budget(fake_server):
    fake_server.script = [("status", 429, {"Retry-After": "1"})]
    started = time.perf_counter()
    [result] = backend(fake_server.url).generate([CHAT])  # backoff alone: 0.01 s
    assert result.retries == 1 and 1.0 <= time.perf_counter() - started < 2.0
    assert 28 < retry_after_s(formatdate(time.time() + 30, usegmt=True)) <= 30  # an HTTP date
    assert retry_after_s("soon") == retry_after_s(None) == 0.0
    fake_server.script = [("status", 503, {"Retry-After": "3600"})]
    started = time.perf_counter()
    [failure] = backend(fake_server.url, request_budget_s=2).generate([CHAT])
    assert time.perf_counter() - started < 1 and failure.stops_run and failure.retries == 0  # no use waiting
    assert "asks to wait past llm.request_budget_s=2" in failure.message and "Retry-After 3600" in failure.message


MALFORMED = {
    "content a list": b'{"choices": [{"message": {"content": [{"type": "text", "text": "fever | 0"}]}}]}',
    "usage a string": b'{"choices": [{"message": {"content": "fever | 0"}}], "usage": "12 tokens"}',
    "count 1e999": b'{"choices": [{"message": {"content": "fever | 0"}}], "usage": {"completion_tokens": 1e999}}',
    "count true": b'{"choices": [{"message": {"content": "fever | 0"}}], "usage": {"prompt_tokens": true}}',
    "no choices": b'{"choices": []}',
    "cut short": b'{"choices": [{"message": {"content": "fev',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_reply_is_retried_then_fails_its_prompt_alone(fake_server, body):
    fake_server.script = [("body", body)]  # once: a glitch, retried
    [result] = backend(fake_server.url).generate([CHAT])
    assert result.text == "Fever began | -48\nRash followed | -24" and result.retries == 1
    fake_server.always = {"Rash followed": ("body", body)}  # every time, for one prompt of two
    other = [{"role": "user", "content": '"""\nFever began.\n"""'}]
    failed, answered = backend(fake_server.url, max_retries=1).generate([CHAT, other])
    assert (failed.status, failed.kind, failed.stops_run, failed.retries) == ("HTTP 200", "malformed reply", False, 1)
    assert "malformed reply: " in failed.message and "fever" not in failed.message  # says how, not what
    assert failed.prompt_hash == fingerprint(CHAT) and answered.text == "Fever began | -48"
    [alone] = backend(fake_server.url, max_retries=0).generate([CHAT])  # nothing readable: the server is at fault
    assert alone.kind == "malformed reply" and alone.stops_run


def test_an_echoed_prompt_reaches_neither_the_failure_nor_the_log(fake_server, caplog):
    fake_server.echo_prompt = True  # error bodies repeat the prompt, JSON-escaped
    fake_server.refuse_text = "Rash followed"
    [refused] = backend(fake_server.url).generate([CHAT])
    fake_server.refuse_text, fake_server.schema = None, "refuse"  # its warning quotes the server's message
    backend(fake_server.url).generate([CHAT])
    assert "refused response_format" in caplog.text
    for word in ("Fever", "began", "Rash", "followed"):
        assert word not in refused.message and word not in caplog.text
    assert (refused.status, refused.kind, refused.prompt_hash) == ("HTTP 400", "prompt refused", fingerprint(CHAT))
    assert "maximum context length is 2048 tokens" in refused.message


def test_without_prompt_removes_the_prompts_words_even_cut_or_escaped():
    prompt = "Patient Zoë Smith, MRN 12345, had fever.\nRash followed."
    echo = json.dumps({"detail": "bad input: " + prompt[:27]})  # raw JSON: "\u00eb", and "12345" cut to "1234"
    shown = without_prompt(echo, prompt)
    assert shown == '{"detail": "bad input: […]"}'
    assert without_prompt("maximum context length is 2048 tokens", prompt) == "maximum context length is 2048 tokens"


def test_key_comes_from_the_environment_and_never_from_the_config(fake_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    backend(fake_server.url).generate([CHAT])
    monkeypatch.setenv("MY_KEY", "sk-named")
    backend(fake_server.url, api_key_env="MY_KEY").generate([CHAT])
    monkeypatch.delenv("OPENAI_API_KEY")
    backend(fake_server.url).generate([CHAT])
    assert fake_server.auth == ["Bearer sk-from-env", "Bearer sk-named", "Bearer EMPTY"]
    with pytest.raises(ValueError, match="llm.api_key_env=ABSENT_KEY: that environment variable is not set"):
        backend(fake_server.url, api_key_env="ABSENT_KEY")
    with pytest.raises(TypeError, match="api_key"):
        backend(fake_server.url, api_key="sk-in-config")


@pytest.mark.parametrize("url, stored", [
    ("http://user:s3cret@10.0.0.1:8000/v1", "http://10.0.0.1:8000/v1"),
    ("https://api.example.org/v1?api_key=s3cret#x", "https://api.example.org/v1"),
    ("http://[::1]:8000/v1", "http://[::1]:8000/v1"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])
def test_urls_are_stored_without_credentials(url, stored):
    assert redact_url(url) == stored
    assert backend(url).describe()["base_url"] == stored


def test_an_unparsable_url_is_an_error_that_does_not_show_it():
    with pytest.raises(ValueError, match=r"llm.base_url is not a valid URL \(not shown") as caught:
        backend("http://user:s3cret@host:port/v1")
    assert "s3cret" not in str(caught.value)
    assert refuse_command_line_secrets(["llm.base_url=http://[::1"]) is None  # left to the backend's error


@pytest.mark.parametrize("arguments, refused", [
    (["llm=openai", "llm.api_key=sk-1"], "an API key on the command line is refused"),
    (["+llm.api_key=sk-1"], "an API key on the command line is refused"),
    (["++api_key=sk-1"], "an API key on the command line is refused"),
    (["llm.base_url=http://u:sk-1@host/v1"], "credentials in llm.base_url on the command line are refused"),
    (["llm.base_url='https://host/v1?key=sk-1'"], "credentials in llm.base_url on the command line are refused"),
    (["llm.base_url=http://host:8000/v1", "llm.api_key_env=MY_KEY", "limit=2"], None),
])
def test_secrets_on_the_command_line_are_refused_without_repeating_them(arguments, refused):
    message = refuse_command_line_secrets(arguments)
    assert (message is None) if refused is None else (refused in message and "sk-1" not in message)


def test_token_limit_is_reported(fake_server):
    fake_server.script = [("reply", "fever | 0\nrash")]
    [result] = backend(fake_server.url).generate([CHAT])
    assert result.finish_reason == "stop" and result.completion_tokens >= 1


@pytest.mark.parametrize("bad", [{"max_retries": -1}, {"concurrency": 0}, {"max_prompt_tokens": 10},
                                 {"request_budget_s": 0}])
def test_bad_settings(bad):
    with pytest.raises(ValueError):
        backend("http://127.0.0.1:9/v1", **bad)
