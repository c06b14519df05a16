"""A stand-in OpenAI chat-completions server for the tests of the language-model client.

A real server (``local_llm`` in conftest.py) covers the normal path; it cannot be made to hang,
invent, fail once or trickle on demand, so those cases use this stub, which speaks the same
protocol, the only thing affectlens depends on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Stub:
    """An OpenAI-style server on 127.0.0.1 whose handler does what the test says.

    Records every request body and header, how many requests were in flight at most, and, for
    requests it never answers, how long after the request the client closed the connection.
    """

    def __init__(self, behaviour: Callable[[BaseHTTPRequestHandler, dict, int], None] | None = None) -> None:
        self.behaviour = behaviour or self.hang
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.disconnects: list[float] = []
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests.append(body)
                    stub.headers.append(dict(self.headers))
                    n = len(stub.requests)
                    stub.active += 1
                    stub.max_active = max(stub.max_active, stub.active)
                try:
                    stub.behaviour(self, body, n)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with stub.lock:
                        stub.active -= 1

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def hang(self, handler: BaseHTTPRequestHandler, body: dict, n: int) -> None:
        """Never answer; note when the client gives up and closes the connection (at most 20 s)."""
        t0 = time.monotonic()
        handler.connection.settimeout(0.05)
        while time.monotonic() - t0 < 20:
            try:
                if handler.connection.recv(1, socket.MSG_PEEK) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        with self.lock:
            self.disconnects.append(time.monotonic() - t0)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(handler: BaseHTTPRequestHandler, text: str, finish: str = "stop", status: int = 200,
          tokens: int = 20) -> None:
    body = json.dumps({"choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant",
                                                                                      "content": text}}],
                       "usage": {"completion_tokens": tokens}}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
