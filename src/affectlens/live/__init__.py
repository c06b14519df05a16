"""Live emotion from a camera and a microphone, or a file played in real time.

Three ways in, one engine (:class:`LiveSession`):

* in Python, locally: ``for update in analyze_live("clip.mp4"): print(update.to_dict())``
  (or ``analyze_live(camera=0)``);
* against a running ``affectlens serve``: :func:`stream_to_server` sends the same stream over
  the ``/v1/live`` WebSocket and yields the server's messages;
* in the browser, at ``http://127.0.0.1:8765/live``;
* on the command line: ``affectlens live --camera 0`` or ``affectlens live --file clip.mp4``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .session import LiveSession, LiveUpdate, RollingAudio
from .sources import StreamItem, camera_stream, file_stream

__all__ = ["LiveSession", "LiveUpdate", "RollingAudio", "StreamItem", "analyze_live", "camera_stream",
           "file_stream", "stream_to_server"]


def analyze_live(source: str | Path | None = None, *, camera: int | None = None, realtime: bool = True,
                 fps: float = 8.0, seconds: float | None = None, asr: bool = True, language: str | None = None,
                 modalities: tuple[str, ...] = ("face", "voice", "words"),
                 session: LiveSession | None = None) -> Iterator[LiveUpdate]:
    """Analyse a live stream on this machine, yielding updates as they come.

    Parameters
    ----------
    source : path, optional
        A media file, played in real time (``realtime=False``: as fast as it can be analysed).
    camera : int, optional
        A local camera index (OpenCV), instead of ``source``.
    session : LiveSession, optional
        Use this session (e.g. to call :meth:`LiveSession.result` after the stream).
    """
    if (source is None) == (camera is None):
        raise ValueError("give either a media file or a camera index")
    items = (file_stream(source, fps=fps, realtime=realtime, seconds=seconds) if source is not None
             else camera_stream(camera or 0, fps=fps, seconds=seconds))
    own = session is None
    session = session or LiveSession(modalities=modalities, asr=asr, language=language)
    try:
        for item in items:
            if item.kind == "frame":
                yield session.add_frame(item.data, item.time)
            else:
                session.add_audio(item.data, item.time)
            yield from session.poll()
        yield from session.finish()
    finally:
        if own:
            session.close()


def stream_to_server(url: str, source: str | Path | None = None, *, camera: int | None = None,
                     token: str | None = None, fps: float = 8.0, seconds: float | None = None,
                     realtime: bool = True, asr: bool = True, save: bool = False) -> Iterator[dict]:
    """Send a file (in real time) or a camera to ``affectlens serve`` and yield its messages."""
    from .client import stream_to_server as _stream

    yield from _stream(url, source, camera=camera, token=token, fps=fps, seconds=seconds, realtime=realtime,
                       asr=asr, save=save)
