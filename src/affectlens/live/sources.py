"""Where a live stream comes from: a file played in real time, or a local camera.

Each source is an iterator of :class:`StreamItem` (a frame or an audio chunk) with stream
times, in time order, paced to the wall clock when ``realtime`` is set. The same items feed a
local :class:`~affectlens.live.session.LiveSession` or the server's ``/v1/live`` socket.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import MediaError
from ..ingest.decode import decode, probe

log = logging.getLogger(__name__)
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class StreamItem:
    """``kind`` is ``frame`` (``data`` = RGB uint8 [h, w, 3]) or ``audio`` (float32 16 kHz mono)."""

    kind: str
    time: float
    data: np.ndarray


def file_stream(path: str | Path, *, fps: float = 8.0, chunk: float = 0.25, realtime: bool = True,
                max_side: int = 640, seconds: float | None = None) -> Iterator[StreamItem]:
    """Play a media file as a live stream: frames at ``fps`` and ``chunk``-second audio pieces.

    The audio is decoded first (16 kHz mono, small), then the frames are decoded in a thread
    while they are played, so a long file is never held in memory as frames.
    """
    info = probe(path)
    audio = np.zeros(0, dtype=np.float32)
    if info.has_audio:
        report = decode(info, frame_rate=0, want_audio=True)
        audio = np.asarray(report.audio[:], dtype=np.float32) if report.audio is not None else audio
    end = max(info.duration, len(audio) / SAMPLE_RATE)
    if seconds is not None:
        end = min(end, seconds)
    frames: queue.Queue = queue.Queue(maxsize=16)
    stop = threading.Event()

    def produce() -> None:
        class Done(Exception):
            pass

        def on_frame(frame) -> None:
            if stop.is_set() or frame.time > end:
                raise Done
            frames.put((frame.time, frame.image))

        try:
            if info.has_video:
                report = decode(info, frame_rate=fps, on_frame=on_frame, want_audio=False, max_side=max_side,
                                threads=1)
                for warning in report.warnings:  # a file that breaks off midway: what decoded is played
                    log.warning("%s: %s", path, warning)
        except Done:
            pass
        except MediaError as e:
            log.warning("%s: no more frames: %s", path, e)
        finally:
            frames.put(None)

    thread = threading.Thread(target=produce, daemon=True, name="affectlens-live-file")
    thread.start()
    started = time.monotonic()
    step = int(chunk * SAMPLE_RATE)
    next_audio = 0
    pending = frames.get()
    try:
        while True:
            t_audio = next_audio / SAMPLE_RATE if next_audio < min(len(audio), int(end * SAMPLE_RATE)) else None
            t_frame = pending[0] if pending is not None else None
            if t_audio is None and t_frame is None:
                return
            # In the order they would exist live: a frame at its time, an audio chunk once recorded.
            if t_frame is not None and (t_audio is None or t_frame <= t_audio + chunk):
                item = StreamItem("frame", float(t_frame), pending[1])
                pending = frames.get()
            else:
                # an audio chunk is sent when it has been "recorded", i.e. at its end time
                item = StreamItem("audio", t_audio, audio[next_audio:next_audio + step])
                next_audio += step
            if realtime:
                due = item.time + (chunk if item.kind == "audio" else 0.0)
                wait = started + due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock the producer
            try:
                frames.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def camera_stream(index: int | str = 0, *, fps: float = 8.0, seconds: float | None = None,
                  max_side: int = 640) -> Iterator[StreamItem]:
    """Frames from a local camera through OpenCV, at about ``fps`` (no microphone: OpenCV has
    none; send audio from the browser page at ``/live`` for both). ``index`` may also be a
    device path or stream URL that OpenCV opens (``/dev/video2``, ``rtsp://...``)."""
    import cv2

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise MediaError(f"camera {index} cannot be opened (is it connected, and free?)")
    started = time.monotonic()
    try:
        while seconds is None or time.monotonic() - started < seconds:
            ok, bgr = capture.read()
            if not ok:
                raise MediaError(f"camera {index} stopped delivering frames")
            h, w = bgr.shape[:2]
            scale = max_side / max(h, w)
            if scale < 1:
                bgr = cv2.resize(bgr, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
            t = time.monotonic() - started
            yield StreamItem("frame", t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            wait = started + t + 1.0 / fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
    finally:
        capture.release()
