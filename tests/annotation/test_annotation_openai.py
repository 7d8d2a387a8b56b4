"""The openai backend against a real HTTP server on loopback: replies, 500s, drops, garbage, timeouts."""

import time

import pytest

from cts.annotation.backends import BackendError
from cts.annotation.backends.openai import OpenAIBackend

pytest_plugins = ["annotation_support"]  # fixtures: notes_dir, fake_server, tiny_llama

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
    assert client.retries == 2 and len(fake_server.requests) == 3


def test_retries_are_bounded_then_a_clear_error(fake_server):
    fake_server.script = ["500"] * 10
    started = time.perf_counter()
    with pytest.raises(BackendError, match=r"no valid reply after 3 attempts \(last: HTTP 500\)"):
        backend(fake_server.url, max_retries=2).generate([CHAT])
    assert len(fake_server.requests) == 3 and time.perf_counter() - started < 5


def test_unreachable_server_fails_fast():
    with pytest.raises(BackendError, match="ConnectError"):
        backend("http://127.0.0.1:9/v1", max_retries=1).generate([CHAT])


def test_client_errors_are_not_retried(fake_server):
    with pytest.raises(BackendError, match="HTTP 404"):
        backend(fake_server.url.replace("/v1", "/nope")).generate([CHAT])
    assert len(fake_server.requests) == 0  # the handler never saw a chat request


def test_token_limit_is_reported(fake_server):
    fake_server.script = [("reply", "fever | 0\nrash")]
    [result] = backend(fake_server.url).generate([CHAT])
    assert result.finish_reason == "stop" and result.completion_tokens >= 1


@pytest.mark.parametrize("bad", [{"max_retries": -1}, {"concurrency": 0}, {"max_prompt_tokens": 10}])
def test_bad_settings(bad):
    with pytest.raises(ValueError):
        backend("http://127.0.0.1:9/v1", **bad)
