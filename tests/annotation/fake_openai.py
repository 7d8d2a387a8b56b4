"""A real OpenAI-compatible chat server on 127.0.0.1 for tests: scripted failures, then deterministic replies.

Each request first consumes the next scripted behaviour (``"500"``, ``"drop"`` = close the connection without
answering, ``"garbage"`` = HTTP 200 with a non-JSON body, ``("delay", seconds)``, ``("reply", text)``,
``("length", text)`` = ``text`` as cut at the token limit, with ``finish_reason="length"``), then the default
reply: one ``event | hours`` line per sentence of the prompt's note, a pure function of the prompt.
A prompt containing ``refuse_text`` is always answered HTTP 400 (the way vLLM refuses a prompt too long for its
context), whatever the script says. A request with ``response_format`` ``json_schema`` is, by ``schema``:
``"honour"`` — the default reply as ``{"events": [{"event", "hours"}]}`` JSON (as vLLM's server does);
``"refuse"`` — HTTP 400 (a server without structured outputs); ``"ignore"`` — the free-text reply.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOTE = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)


def timeline_reply(prompt: str) -> str:
    """``<first three words> | <24 × sentence number - 48>`` for each sentence of the note in the prompt."""
    match = NOTE.search(prompt)
    sentences = [s.strip() for s in re.split(r"[.\n]", match.group(1) if match else "") if s.strip()]
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
                with server.lock:
                    server.requests.append(body)
                    server.auth.append(self.headers.get("Authorization"))
                    if server.refuse_text and server.refuse_text in body["messages"][-1]["content"]:
                        return self._send(400, b'{"error": {"message": "maximum context length is 2048 tokens"}}')
                    schema = (body.get("response_format") or {}).get("type") == "json_schema"
                    if schema and server.schema == "refuse":
                        return self._send(400, b'{"error": {"message": "response_format json_schema is not '
                                               b'supported"}}')
                    action = server.script.pop(0) if server.script else None
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
                    return self._send(500, b'{"error": "overloaded"}')
                if action == "garbage":
                    return self._send(200, b"<html>not json</html>")
                text = action[1] if isinstance(action, tuple) else timeline_reply(body["messages"][-1]["content"])
                if schema and server.schema == "honour" and not isinstance(action, tuple):
                    text = json_reply(text)
                finish = "length" if isinstance(action, tuple) and action[0] == "length" else "stop"
                reply = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(text) // 4)}}
                self._send(200, json.dumps(reply).encode())

            def _send(self, status: int, payload: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

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
