"""A real OpenAI-compatible chat server on 127.0.0.1 for tests: scripted failures, then deterministic replies.

Each request first consumes the next scripted behaviour (``"500"``, ``"drop"`` = close the connection without
answering, ``"garbage"`` = HTTP 200 with a non-JSON body, ``("delay", seconds)``, ``("reply", text)``,
``("length", text)`` = ``text`` as cut at the token limit, with ``finish_reason="length"``, ``("body", raw)`` = HTTP
200 with the bytes ``raw`` as body, ``("status", code, headers)`` = an error reply with these headers,
``("drip", seconds)`` = the default reply, status line and headers included, one byte every ``seconds``), then the
default reply: one ``event | hours`` line per sentence of the prompt's note, a pure function of the prompt.
A prompt containing a key of ``always`` gets that key's behaviour every time instead of the script's. A prompt
containing ``refuse_text`` is always answered HTTP 400 (the way vLLM refuses a prompt too long for its context),
whatever the script says. With ``echo_prompt``, error bodies are FastAPI validation errors, which repeat what they
were sent as their ``input``: here the prompt's note. A request with ``response_format`` ``json_schema`` is, by
``schema``: ``"honour"`` — the default reply as ``{"events": [{"event", "hours"}]}`` JSON (as vLLM's server does);
``"refuse"`` — HTTP 400 (a server without structured outputs); ``"ignore"`` — the free-text reply.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOTE = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)


def note_of(prompt: str) -> str:
    """The note quoted in the prompt (between triple quotes), or nothing."""
    match = NOTE.search(prompt)
    return match.group(1) if match else ""


def timeline_reply(prompt: str) -> str:
    """``<first three words> | <24 × sentence number - 48>`` for each sentence of the note in the prompt."""
    sentences = [s.strip() for s in re.split(r"[.\n]", note_of(prompt)) if s.strip()]
    return "\n".join(f"{' '.join(s.split()[:3])} | {24 * k - 48}" for k, s in enumerate(sentences)) or "none"


def json_reply(timeline: str) -> str:
    """A line reply as the ``{"events": [...]}`` object a server enforcing the JSON schema would send."""
    items = [line.rsplit(" | ", 1) for line in timeline.splitlines() if " | " in line]
    return json.dumps({"events": [{"event": event, "hours": float(hours)} for event, hours in items]})


class FakeOpenAI:
    def __init__(self, delay: float = 0.0):
        self.script: list = []
        self.requests: list[dict] = []
        self.delay, self.lock = delay, threading.Lock()
        self.refuse_text: str | None = None
        self.always: dict[str, object] = {}
        self.echo_prompt = False
        self.schema = "honour"
        self.auth: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                if self.path != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.prompt = body["messages"][-1]["content"]
                with server.lock:
                    server.requests.append(body)
                    server.auth.append(self.headers.get("Authorization"))
                    if server.refuse_text and server.refuse_text in self.prompt:
                        return self._error(400, "maximum context length is 2048 tokens")
                    schema = (body.get("response_format") or {}).get("type") == "json_schema"
                    if schema and server.schema == "refuse":
                        return self._error(400, "response_format json_schema is not supported")
                    fixed = [action for text, action in server.always.items() if text in self.prompt]
                    action = fixed[0] if fixed else server.script.pop(0) if server.script else None
                if server.delay:
                    time.sleep(server.delay)
                if isinstance(action, tuple) and action[0] == "delay":
                    time.sleep(action[1])
                    action = None
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if action == "500":
                    return self._error(500, "overloaded")
                if action == "garbage":
                    return self._send(200, b"<html>not json</html>")
                if isinstance(action, tuple) and action[0] == "body":
                    return self._send(200, action[1])
                if isinstance(action, tuple) and action[0] == "status":
                    return self._error(action[1], "try again later", action[2])
                replied = isinstance(action, tuple) and action[0] in ("reply", "length")
                text = action[1] if replied else timeline_reply(self.prompt)
                if schema and server.schema == "honour" and not replied:
                    text = json_reply(text)
                finish = "length" if replied and action[0] == "length" else "stop"
                reply = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(text) // 4)}}
                drip = action[1] if isinstance(action, tuple) and action[0] == "drip" else 0.0
                self._send(200, json.dumps(reply).encode(), drip_s=drip)

            def _error(self, status: int, message: str, headers: dict | None = None):
                error = ({"detail": [{"type": "value_error", "msg": message, "input": note_of(self.prompt)}]}
                         if server.echo_prompt else {"error": {"message": message}})
                self._send(status, json.dumps(error).encode(), headers)

            def _send(self, status: int, payload: bytes, headers: dict | None = None, drip_s: float = 0.0):
                """The whole response; with ``drip_s`` one byte at a time, that long apart (a server that never
                pauses long enough for a read timeout)."""
                head = {"Content-Type": "application/json", "Content-Length": str(len(payload)), **(headers or {})}
                raw = (f"HTTP/1.1 {status} {self.responses[status][0]}\r\n"
                       + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode() + payload
                step = 1 if drip_s else len(raw)
                try:
                    for start in range(0, len(raw), step):
                        self.wfile.write(raw[start:start + step])
                        time.sleep(drip_s)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":  # a standalone server for subprocess tests: prints its URL, serves until killed
    import sys

    with FakeOpenAI(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as fake:
        print(fake.url, flush=True)
        fake.thread.join()
