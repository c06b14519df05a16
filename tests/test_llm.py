"""The optional LLM rewrite, against a stand-in server on 127.0.0.1.

The real backend is a remote or local language model outside our control; the server here
mimics only the OpenAI chat-completions protocol, which is what affectlens depends on.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from affectlens.core.labels import LABELS
from affectlens.core.types import Cue, Explanation, FusedPrediction, Segment
from affectlens.explain.llm import LLMConfig, rewrite


def fused(label="happy"):
    p = {k: 0.05 for k in LABELS}
    p[label] = 0.7
    return FusedPrediction(label, p, 0.5, 0.3, {"face": 1.0})


@pytest.fixture
def server():
    replies: list[str] = []
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"choices": [{"message": {"content": replies.pop(0)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1", replies, received
    httpd.shutdown()


def test_rewrite_is_used_when_it_adds_nothing(server):
    url, replies, received = server
    cue = Cue("face", "AU12", 2.0, "lip corners pulled up (AU12, 2.0/5)", 2.0)
    original = Explanation("Happy (70%). Face suggests happy: lip corners pulled up (AU12, 2.0/5).", (cue,))
    replies.append("She looks happy: her lip corners are pulled up (AU12).")
    out = rewrite(Segment(0, 0, 1, "vad", text="great"), fused(), original, LLMConfig(url, "m"))
    assert out.rewritten_by == "m" and "AU12" in out.text
    assert "AU12" in received[0]["messages"][1]["content"]


def test_rewrite_with_invented_cues_is_rejected(server):
    url, replies, _ = server
    original = Explanation("Happy (70%). Face suggests happy: lip corners pulled up (AU12, 2.0/5).",
                           (Cue("face", "AU12", 2.0, "lip corners pulled up (AU12, 2.0/5)"),))
    replies.append("Her brows are lowered (AU04) and she seems angry.")
    out = rewrite(Segment(0, 0, 1, "vad"), fused(), original, LLMConfig(url))
    assert out == original


def test_unreachable_server_keeps_template():
    original = Explanation("Happy (70%).")
    out = rewrite(Segment(0, 0, 1, "vad"), fused(), original, LLMConfig("http://127.0.0.1:9", timeout=2))
    assert out == original
