"""A Python client for ``affectlens serve``'s ``/v1/live``: what the browser page does, scriptable.

Used by ``affectlens live --server`` and by the live benchmark, so the latency measured there
is the one the page sees (minus the browser's JPEG encoding).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

from .protocol import AUDIO, FRAME, encode_audio, encode_frame, pack
from .sources import camera_stream, file_stream


def live_url(url: str) -> str:
    """``http://host:port`` (or a ws:// URL) -> the ``/v1/live`` WebSocket URL."""
    base = url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    return base if base.endswith("/v1/live") else base + "/v1/live"


def stream_to_server(url: str, source: str | Path | None = None, *, camera: int | None = None,
                     token: str | None = None, fps: float = 8.0, seconds: float | None = None,
                     realtime: bool = True, asr: bool = True, save: bool = False,
                     max_in_flight: int = 2) -> Iterator[dict]:
    """Stream a file or a camera to the server; yield each message it sends back.

    Each received message carries ``received_at`` (``time.monotonic()``); each ``frame``
    message also carries ``sent_at``, when its frame left, so callers can measure latency.
    At most ``max_in_flight`` frames wait for an answer (as the page does): a slow server gets
    fewer frames, not a growing backlog.
    """
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {token}"} if token else None
    items = (file_stream(source, fps=fps, realtime=realtime, seconds=seconds) if source is not None
             else camera_stream(camera or 0, fps=fps, seconds=seconds))
    inbox: Queue = Queue()
    sent: dict[float, float] = {}
    in_flight = threading.Semaphore(max_in_flight)
    with connect(live_url(url), additional_headers=headers, max_size=8 << 20, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "start", "asr": asr}))

        def receive() -> None:
            try:
                for raw in ws:
                    message = json.loads(raw)
                    message["received_at"] = time.monotonic()
                    if message.get("type") in ("frame", "dropped"):
                        message["sent_at"] = sent.pop(message.get("t"), None)
                        in_flight.release()
                    inbox.put(message)
            except Exception as e:  # noqa: BLE001 - the connection closed
                inbox.put({"type": "closed", "reason": str(e)})
            inbox.put(None)

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()

        def pending() -> Iterator[dict]:
            while True:
                try:
                    message = inbox.get_nowait()
                except Empty:
                    return
                if message is not None:
                    yield message

        for item in items:
            if item.kind == "frame":
                # Live, a frame the server has no time for is dropped, as a camera would; a file
                # played as fast as possible waits for the server instead.
                if not (in_flight.acquire(blocking=False) if realtime else in_flight.acquire(timeout=120)):
                    continue
                t = round(item.time, 3)
                sent[t] = time.monotonic()
                ws.send(pack(FRAME, t, encode_frame(item.data)))
            else:
                ws.send(pack(AUDIO, item.time, encode_audio(item.data)))
            yield from pending()
        ws.send(json.dumps({"type": "stop", "save": save}))
        # The server sends what is left (the last utterance, stats, "saved") and then closes.
        while (message := inbox.get(timeout=180)) is not None:
            yield message
