"""``affectlens serve``: a local web page and HTTP API on 127.0.0.1 (standard library only).

* ``GET /``                      an upload form
* ``POST /api/analyze``          body = the media file's bytes; header ``X-Filename`` gives its name
                                  (for the extension); query ``?format=json|html``; returns the result
* ``GET /api/health``            ``{"status": "ok", "version": ...}``

It listens on the loopback address by default, so the media never leaves the machine; one
request is analysed at a time (the CPU is the limit, not the sockets).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from .. import __version__
from ..core.errors import AffectlensError
from ..pipeline import AnalysisOptions, Pipeline

log = logging.getLogger(__name__)
MAX_UPLOAD = 2 * 1024**3

FORM = """<!doctype html><html><head><meta charset="utf-8"><title>affectlens</title>
<style>body{font-family:system-ui,sans-serif;max-width:720px;margin:3em auto}</style></head><body>
<h1>affectlens</h1><p>Pick a video, audio file, image or transcript. It is analysed on this machine.</p>
<input type="file" id="f"> <button onclick="go()">Analyse</button><p id="s"></p>
<script>
async function go(){const f=document.getElementById('f').files[0]; if(!f) return;
document.getElementById('s').textContent='analysing '+f.name+'...';
const r=await fetch('/api/analyze?format=html',{method:'POST',headers:{'X-Filename':f.name},body:f});
const t=await r.text(); if(!r.ok){document.getElementById('s').textContent=t; return;}
document.open(); document.write(t); document.close();}
</script></body></html>"""


def make_handler(pipeline: Pipeline):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = f"affectlens/{__version__}"

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, message: str) -> None:
            self._send(code, json.dumps({"error": message}).encode(), "application/json")

        def do_GET(self):  # noqa: N802
            path = urlparse(self.path).path
            if path == "/":
                self._send(200, FORM.encode(), "text/html; charset=utf-8")
            elif path == "/api/health":
                self._send(200, json.dumps({"status": "ok", "version": __version__}).encode(), "application/json")
            else:
                self._error(404, "not found")

        def do_POST(self):  # noqa: N802
            url = urlparse(self.path)
            if url.path != "/api/analyze":
                return self._error(404, "not found")
            fmt = parse_qs(url.query).get("format", ["json"])[0]
            if fmt not in ("json", "html"):
                return self._error(400, "format must be json or html")
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0:
                return self._error(400, "empty body: send the file's bytes")
            if length > MAX_UPLOAD:
                return self._error(413, "file too large")
            name = Path(self.headers.get("X-Filename") or "upload.mp4").name
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / name
                with open(path, "wb") as fh:
                    remaining = length
                    while remaining:
                        chunk = self.rfile.read(min(remaining, 1 << 20))
                        if not chunk:
                            break
                        fh.write(chunk)
                        remaining -= len(chunk)
                try:
                    with lock:
                        result = pipeline(path)
                except AffectlensError as e:
                    return self._error(422, str(e))
                except Exception as e:  # the server must survive any one bad request
                    log.exception("analysis failed")
                    return self._error(500, f"{type(e).__name__}: {e}")
            if fmt == "json":
                return self._send(200, result.to_json().encode(), "application/json")
            from ..writers.html import WriteHTML

            buffer = io.StringIO()
            WriteHTML().write(result, buffer)
            self._send(200, buffer.getvalue().encode(), "text/html; charset=utf-8")

        def log_message(self, fmt, *args):
            log.info("%s %s", self.address_string(), fmt % args)

    return Handler


def make_server(host: str = "127.0.0.1", port: int = 8765, options: AnalysisOptions | None = None) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(Pipeline(options or AnalysisOptions())))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--face-fps", type=float, default=10.0)
    from ..cli import add_llm_arguments

    add_llm_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..cli import llm_options

    server = make_server(args.host, args.port, AnalysisOptions(face_fps=args.face_fps, **llm_options(args)))
    print(f"affectlens serving on http://{args.host}:{server.server_port} (Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
