"""Decode a media file: sampled upright RGB frames streamed to a callback, audio kept as
16 kHz mono (:class:`~affectlens.core.audio.AudioTrack`: float16 held, float32 read).

One :func:`decode` call can demux audio and video together; the pipeline makes two (frames
for the video branch, audio for the audio branch, which run at the same time), since reading
the audio alone costs well under a second per hour. Frames are handed on as they are decoded,
so memory does not grow with video length (only the 16 kHz audio does: about 115 MB per hour).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.audio import AudioTrack, to_half
from ..core.errors import INPUT_DOC, MediaError
from ..core.types import MediaInfo, MediaKind, VideoFrame

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
TEXT_SUFFIXES = {".srt", ".vtt", ".csv", ".txt"}


class _AudioBuffer:
    """16 kHz mono samples appended chunk by chunk into one preallocated float16 array.

    A list of chunks joined at the end holds the track twice at that moment; sized from the
    container's duration, the buffer holds it once, at half precision (:mod:`affectlens.core.audio`: 115 MB
    for an hour), and grows by half when the duration was wrong.
    """

    #: At most this much is reserved up front, whatever the container claims (broken metadata
    #: can claim years); longer audio grows the buffer as it arrives.
    MAX_RESERVED_SECONDS = 4 * 3600.0

    def __init__(self, expected_seconds: float) -> None:
        seconds = min(max(expected_seconds, 1.0), self.MAX_RESERVED_SECONDS)
        self._data = np.zeros(int(seconds * SAMPLE_RATE) + SAMPLE_RATE, dtype=np.float16)
        self._n = 0

    def append(self, chunk: np.ndarray) -> None:
        chunk = to_half(chunk.reshape(-1))
        if self._n + len(chunk) > len(self._data):
            grown = np.zeros(max(self._n + len(chunk), int(len(self._data) * 1.5)), dtype=np.float16)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : self._n + len(chunk)] = chunk
        self._n += len(chunk)

    def track(self) -> AudioTrack:
        """The samples so far (a view: copying would hold the track twice for a moment)."""
        return AudioTrack(self._data[: self._n])


@dataclass
class DecodeReport:
    """What decoding produced besides frames: the audio and anything that went wrong midway."""

    audio: AudioTrack | None  # 16 kHz mono; slices read as float32
    frames_decoded: int = 0
    frames_sampled: int = 0
    warnings: list[str] = field(default_factory=list)


def _open(path: Path):
    import av

    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path} is a folder; expected {INPUT_DOC}")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as e:
        reason = getattr(e, "strerror", None) or str(e)  # FFmpeg's words, without errno and path
        raise MediaError(f"{path}: cannot be read as media ({reason}); expected {INPUT_DOC}") from e


def _rotation(stream) -> int:
    """Degrees to rotate frames counter-clockwise so they display upright (multiples of 90)."""
    rotate = stream.metadata.get("rotate") if stream.metadata else None
    if rotate is not None:
        try:
            return int(float(rotate)) % 360
        except ValueError:
            return 0
    return 0


def _first_frame_rotation(container) -> int:
    """Rotation from the display matrix, which PyAV exposes on decoded frames only."""
    import av

    try:
        frame = next(container.decode(video=0))
        return int(round(getattr(frame, "rotation", 0) or 0)) % 360
    except (StopIteration, av.error.FFmpegError):
        return 0


def probe(path: str | Path) -> MediaInfo:
    """Read the facts about ``path`` without decoding it: kind, duration, streams, rotation."""
    path = Path(path)
    if path.suffix.lower() in TEXT_SUFFIXES:
        if not path.is_file():
            raise MediaError(f"{path}: no such file")
        return MediaInfo(str(path), MediaKind.TEXT, 0.0, has_audio=False, has_video=False)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = read_image(path)
        h, w = image.shape[:2]
        return MediaInfo(str(path), MediaKind.IMAGE, 0.0, has_audio=False, has_video=True, width=w, height=h)
    container = _open(path)
    with container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{path}: holds neither a video nor an audio stream; expected {INPUT_DOC}")
        duration = 0.0
        if container.duration:
            duration = container.duration / 1_000_000
        for stream in (video, audio):
            if stream is not None and stream.duration and stream.time_base:
                duration = max(duration, float(stream.duration * stream.time_base))
        # A single still frame in a video container (e.g. an mjpeg "video") is an image.
        if video is not None and audio is None and (video.frames == 1 or duration == 0.0):
            if video.codec_context.name in {"mjpeg", "png", "bmp", "webp", "tiff"}:
                image = read_image(path)
                h, w = image.shape[:2]
                return MediaInfo(str(path), MediaKind.IMAGE, 0.0, False, True, width=w, height=h)
        rotation = _rotation(video) if video is not None else 0
        if video is not None and not rotation:
            rotation = _first_frame_rotation(container)
        width, height = (video.codec_context.width, video.codec_context.height) if video is not None else (0, 0)
        if rotation in (90, 270):
            width, height = height, width
        fps = float(video.average_rate) if video is not None and video.average_rate else 0.0
        return MediaInfo(
            path=str(path),
            kind=MediaKind.VIDEO if video is not None else MediaKind.AUDIO,
            duration=duration,
            has_audio=audio is not None,
            has_video=video is not None,
            width=width,
            height=height,
            fps=fps,
            rotation=rotation,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )


def read_image(path: str | Path) -> np.ndarray:
    """An image file as upright RGB uint8 (EXIF orientation applied)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise MediaError(f"{path}: cannot be read as an image ({e})") from e


def _scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def decode(
    info: MediaInfo,
    *,
    frame_rate: float | None = 10.0,
    on_frame: Callable[[VideoFrame], None] | None = None,
    want_audio: bool = True,
    max_side: int | None = 1280,
    threads: int = 0,
) -> DecodeReport:
    """Decode ``info.path`` once, streaming sampled frames to ``on_frame``.

    Parameters
    ----------
    info : MediaInfo
        From :func:`probe`.
    frame_rate : float or None, default=10.0
        Frames per second handed to ``on_frame``, sampled by presentation time (so variable
        frame rate is handled); ``None`` hands over every frame; ``0`` decodes no video.
    on_frame : callable, optional
        Receives each sampled :class:`VideoFrame` (upright RGB, longest side at most ``max_side``).
    want_audio : bool, default=True
        Keep the audio as 16 kHz mono (an :class:`~affectlens.core.audio.AudioTrack`: float16 inside, float32
        when read).
    max_side : int or None, default=1280
        Frames larger than this are scaled down first: face analysis gains nothing from 4K and
        an 8K frame would cost 100 MB per copy.
    threads : int, default=0
        FFmpeg's video decoding threads (the caller's share of the thread budget); 0 lets
        FFmpeg choose from the machine's cores.

    Returns
    -------
    DecodeReport
        The audio (or None) and any mid-stream problems. A file that breaks off midway
        (truncated, corrupt packets) keeps what was decoded before the break, with a warning.
    """
    import av

    if info.kind is MediaKind.IMAGE:
        image = read_image(info.path)
        h, w = image.shape[:2]
        sw, sh = _scaled_size(w, h, max_side)
        if (sw, sh) != (w, h):
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((sw, sh)))
        if on_frame is not None and frame_rate != 0:
            on_frame(VideoFrame(index=0, time=0.0, image=image))
        return DecodeReport(audio=None, frames_decoded=1, frames_sampled=1)

    report = DecodeReport(audio=None)
    container = _open(Path(info.path))
    with container:
        streams = []
        video = container.streams.video[0] if (container.streams.video and frame_rate != 0 and on_frame) else None
        audio = container.streams.audio[0] if (container.streams.audio and want_audio) else None
        if video is not None:
            video.thread_type = "AUTO"
            if threads:
                video.codec_context.thread_count = threads
            streams.append(video)
        if audio is not None:
            streams.append(audio)
        if not streams:
            return report
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE) if audio else None
        chunks = _AudioBuffer(info.duration if info.duration and math.isfinite(info.duration) else 0.0) if audio else None
        next_time = 0.0
        step = 0.0 if not frame_rate else 1.0 / frame_rate
        size = None
        errors = 0
        try:
            for packet in container.demux(*streams):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    errors += 1
                    if errors <= 3:
                        log.warning("skipping a corrupt %s packet: %s", packet.stream.type, e)
                    continue
                for frame in frames:
                    if packet.stream is audio:
                        for out in resampler.resample(frame):
                            chunks.append(out.to_ndarray())
                        continue
                    report.frames_decoded += 1
                    t = float(frame.time) if frame.time is not None else report.frames_decoded / max(info.fps, 1.0)
                    if t + 1e-6 < next_time:
                        continue
                    next_time = (next_time + step) if step and t < next_time + step else t + step
                    if size is None:
                        size = _scaled_size(frame.width, frame.height, max_side)
                    # a size equal to the frame's still sends libswscale through its scaler, which
                    # cost 0.74 against 0.44 ms a 640x360 frame for the same pixels: ask only to shrink
                    scale = {} if size == (frame.width, frame.height) else {"width": size[0], "height": size[1]}
                    rgb = frame.to_ndarray(format="rgb24", **scale)
                    rotation = getattr(frame, "rotation", 0) or info.rotation
                    if rotation % 360:
                        rgb = np.ascontiguousarray(np.rot90(rgb, k=int(round(rotation / 90)) % 4))
                    on_frame(VideoFrame(index=report.frames_decoded - 1, time=t, image=rgb))
                    report.frames_sampled += 1
            if resampler is not None:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
        except av.error.FFmpegError as e:
            report.warnings.append(f"decoding stopped early ({e}); results cover what was decoded before")
            log.warning("decoding %s stopped early: %s", info.path, e)
        if errors:
            report.warnings.append(f"{errors} corrupt packet(s) were skipped while decoding")
    if audio is not None:
        report.audio = chunks.track()  # non-finite samples were zeroed chunk by chunk
    if info.has_video and frame_rate != 0 and on_frame is not None and report.frames_decoded == 0:
        report.warnings.append("the video stream held no decodable frame")
    return report


def media_duration(info: MediaInfo, report: DecodeReport) -> float:
    """Best duration estimate: container metadata, else the decoded audio length."""
    audio_len = 0.0 if report.audio is None else len(report.audio) / SAMPLE_RATE
    d = info.duration if info.duration and math.isfinite(info.duration) else 0.0
    return max(d, audio_len)


class _Stopped(Exception):
    """The consumer of :func:`decode_ahead` gave up; the decoding thread ends quietly."""


def decode_ahead(info: MediaInfo, *, on_frame: Callable[[VideoFrame], None], queue_size: int = 4,
                 executor: Executor | None = None, **options) -> DecodeReport:
    """:func:`decode`, with the decoding in a second thread a few frames ahead of ``on_frame``.

    Why: decoding (about 1 ms per 640x360 frame, every frame of the stream, sampled or not) and
    the face stage would otherwise take turns on one core; here they overlap, and at most
    ``queue_size`` decoded frames wait in between. ``on_frame`` runs in the calling thread, and
    an exception it raises stops the decoding thread before it propagates. ``executor`` (one
    worker) runs the decoding; a long-lived one spares a new thread, and its malloc arena, per file.
    """
    import queue
    import threading

    frames: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def produce() -> None:
        try:
            put(decode(info, on_frame=put, **options))
        except _Stopped:
            pass
        except BaseException as e:  # handed to the consumer, which raises it in its own thread
            try:
                put(e)
            except _Stopped:
                pass

    if executor is not None:
        job = executor.submit(produce)
        wait = job.result
    else:
        worker = threading.Thread(target=produce, name="affectlens-decode", daemon=True)
        worker.start()
        wait = worker.join
    try:
        while True:
            item = frames.get()
            if isinstance(item, DecodeReport):
                return item
            if isinstance(item, BaseException):
                raise item
            on_frame(item)
    finally:
        stop.set()
        wait()
