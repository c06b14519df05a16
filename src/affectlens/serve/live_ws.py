"""The ``/v1/live`` WebSocket: one :class:`~affectlens.live.session.LiveSession` per connection.

Receiving and analysing are decoupled so that latency stays bounded when the CPU is short:
a reader task takes every message as it arrives (audio is queued, a frame replaces the frame
still waiting), and the analysis runs in the session's own thread on the newest frame only.
A frame that waited is dropped rather than analysed late; the page then sees fewer labels per
second, never older ones. At most ``MAX_SESSIONS`` sessions run at once (the CPU is shared
with the job worker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from ..live.protocol import AUDIO, FRAME, decode_audio, decode_frame, unpack

log = logging.getLogger(__name__)
MAX_SESSIONS = 2
_slots = threading.BoundedSemaphore(MAX_SESSIONS)


@dataclass
class LiveStats:
    """What one connection received and did (sent to the page as ``stats``; kept for tests)."""

    frames_received: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    audio_seconds: float = 0.0
    mean_luma: list[float] = field(default_factory=list)  # of analysed frames (a black camera reads ~0)
    bad_messages: int = 0

    def to_dict(self) -> dict:
        luma = self.mean_luma
        return {"frames_received": self.frames_received, "frames_analysed": self.frames_analysed,
                "frames_dropped": self.frames_dropped, "audio_seconds": round(self.audio_seconds, 2),
                "mean_luma": round(float(np.mean(luma)), 1) if luma else None,
                "luma_spread": round(float(np.std(luma)), 2) if luma else None,
                "bad_messages": self.bad_messages}


async def serve_live(app: FastAPI, websocket: WebSocket) -> None:
    from ..live.session import LiveSession

    if not _slots.acquire(blocking=False):
        await websocket.close(code=1013, reason=f"{MAX_SESSIONS} live sessions are running; try again later")
        return
    await websocket.accept()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectlens-live-session")
    loop = asyncio.get_running_loop()
    stats = LiveStats()
    app.state.live_stats = getattr(app.state, "live_stats", [])
    app.state.live_stats.append(stats)
    del app.state.live_stats[:-20]
    session = None
    try:
        start = json.loads(await asyncio.wait_for(websocket.receive_text(), timeout=30))
        if start.get("type") != "start":
            await websocket.send_json({"type": "error", "detail": "send {'type': 'start'} first"})
            return
        modalities = tuple(m for m in start.get("modalities") or ("face", "voice", "words")
                           if m in ("face", "voice", "words"))
        language = start.get("language") or None
        session = await loop.run_in_executor(executor, lambda: LiveSession(
            modalities=modalities, asr=bool(start.get("asr", True)), language=language))
        await websocket.send_json({"type": "ready", "modalities": list(modalities)})
        await _run(app, websocket, session, executor, stats, loop)
    except (TimeoutError, WebSocketDisconnect):
        pass
    except Exception as e:  # noqa: BLE001 - tell the page, keep the server
        log.exception("live session failed")
        try:
            await websocket.send_json({"type": "error", "detail": f"{type(e).__name__}: {e}"})
        except Exception:  # noqa: BLE001
            pass
    finally:
        if session is not None:
            await loop.run_in_executor(executor, session.close)
        executor.shutdown(wait=False)
        _slots.release()
        try:
            await websocket.close()
        except Exception:  # noqa: BLE001 - already closed
            pass


async def _run(app, websocket, session, executor, stats: LiveStats, loop) -> None:
    latest: list = [None]  # the newest frame waiting: (time, jpeg)
    audio: list[tuple[float, bytes]] = []
    dropped: list[float] = []
    wake = asyncio.Event()
    stop: dict = {}

    async def reader() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                stop["gone"] = True
                wake.set()
                return
            if message.get("bytes") is not None:
                try:
                    kind, t, payload = unpack(message["bytes"])
                except ValueError:
                    stats.bad_messages += 1
                    continue
                if kind == FRAME:
                    stats.frames_received += 1
                    if latest[0] is not None:  # the older one is dropped; its sender is told
                        stats.frames_dropped += 1
                        dropped.append(latest[0][0])
                    latest[0] = (t, payload)
                elif kind == AUDIO:
                    audio.append((t, payload))
                wake.set()
            elif message.get("text") is not None:
                try:
                    command = json.loads(message["text"])
                except ValueError:
                    stats.bad_messages += 1
                    continue
                if command.get("type") == "stop":
                    stop["save"] = bool(command.get("save"))
                    wake.set()
                    return

    def analyse(frame, chunks) -> list[dict]:
        out = []
        for t, payload in chunks:
            samples = decode_audio(payload)
            stats.audio_seconds += len(samples) / 16_000
            session.add_audio(samples, t)
        if frame is not None:
            t, jpeg = frame
            try:
                rgb = decode_frame(jpeg)
            except ValueError:
                stats.bad_messages += 1
            else:
                stats.mean_luma.append(float(rgb.mean()))
                del stats.mean_luma[:-500]
                started = time.perf_counter()
                update = session.add_frame(rgb, t)
                stats.frames_analysed += 1
                message = update.to_dict()
                message["t"] = t  # exactly as sent: the client matches it to its send time
                message["server_ms"] = round(1000 * (time.perf_counter() - started), 1)
                out.append(message)
        out += [u.to_dict() for u in session.poll()]
        return out

    read_task = asyncio.create_task(reader())
    last_stats = time.monotonic()
    try:
        while True:
            await wake.wait()
            wake.clear()
            frame, latest[0] = latest[0], None
            chunks = audio[:]
            del audio[:]
            for t in dropped[:]:
                await websocket.send_json({"type": "dropped", "t": t})
            del dropped[:]
            if frame is not None or chunks:
                for message in await loop.run_in_executor(executor, analyse, frame, chunks):
                    await websocket.send_json(message)
            if time.monotonic() - last_stats >= 2.0:
                last_stats = time.monotonic()
                await websocket.send_json({"type": "stats", **stats.to_dict()})
            if stop:
                break
            if latest[0] is not None or audio:
                wake.set()
        if "gone" in stop:
            return
        for message in [u.to_dict() for u in await loop.run_in_executor(executor, session.finish)]:
            await websocket.send_json(message)
        await websocket.send_json({"type": "stats", **stats.to_dict()})
        if stop.get("save"):
            job_id = await loop.run_in_executor(executor, _save, app, session)
            await websocket.send_json({"type": "saved", "id": job_id})
    finally:
        read_task.cancel()


def _save(app, session) -> str:
    """The session as a finished job: its result files in every format, listed with the others."""
    from .jobs import Job, new_job_id
    from .runner import write_results

    store = app.state.store
    result = session.result()
    job = Job(id=new_job_id(), status="queued", filename=f"live session {time.strftime('%Y-%m-%d %H:%M')}",
              options=result.options, created=time.time(), kind="live", duration=result.media.duration)
    folder = store.folder(job.id)
    folder.mkdir(parents=True)
    outputs = write_results(result, folder)
    # Added as running, then finished: the job worker never sees it queued.
    job.status = "running"
    store.add(job)
    store.finish(job.id, outputs)
    return job.id
