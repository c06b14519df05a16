"""Test clips for who-is-speaking and re-identification, made on the spot from real clips.

* :func:`side_by_side`: two clips scaled to the same height and stacked left | right, with the
  sound of one of them: the face whose clip gave the sound is the speaker (issue #32,
  ``benchmarks/face_speaker.py``).
* :func:`cut_away`: clip A, a few seconds of another shot, clip A again: a face that leaves the
  frame and comes back (``benchmarks/face_reid.py``).
* :func:`frozen`: a clip's first frame held still, with any sound: no mouth moves.

Everything is encoded with PyAV (which carries its own FFmpeg; no ``ffmpeg`` command needed) at
a fixed frame rate, frames picked by time from each source, so sources of different rates line up.
Nothing here is committed: the benchmarks write into ``work_data/``, the tests into a temporary folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .awkward import write_media

FPS = 25
RATE = 48_000


@dataclass(frozen=True)
class Clip:
    """A clip decoded at :data:`FPS`: upright RGB frames and mono audio at :data:`RATE`."""

    frames: list[np.ndarray]
    audio: np.ndarray  # float32 [n]

    @property
    def duration(self) -> float:
        return len(self.frames) / FPS


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def load_clip(path: str | Path, height: int | None = 360, seconds: float | None = None) -> Clip:
    """Frames at :data:`FPS` (the latest source frame at each output time), scaled to ``height``
    (None: as they are, cropped to even sizes), and the audio as float32 mono at :data:`RATE`."""
    import av
    import cv2

    stamped: list[tuple[float, np.ndarray]] = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            t = float(f.time or 0.0)
            if seconds is not None and t >= seconds:
                break
            rgb = f.to_ndarray(format="rgb24")
            if height is not None:
                rgb = cv2.resize(rgb, (_even(rgb.shape[1] * height / rgb.shape[0]), height), interpolation=cv2.INTER_AREA)
            else:
                rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
            stamped.append((t, rgb))
    chunks = []
    with av.open(str(path)) as c:
        if c.streams.audio:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            for f in c.decode(audio=0):
                for out in resampler.resample(f):
                    chunks.append(out.to_ndarray().reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if not stamped:
        raise ValueError(f"{path}: no video frames")
    times = np.array([t for t, _ in stamped]) - stamped[0][0]
    end = times[-1] + (float(np.median(np.diff(times))) if len(times) > 1 else 1 / FPS)
    n = int(np.floor(end * FPS + 1e-6))
    frames = [stamped[int(np.searchsorted(times, k / FPS + 1e-6, "right")) - 1][1] for k in range(n)]
    if seconds is not None:
        audio = audio[: int(seconds * RATE)]
    return Clip(frames, audio)


def _audio_span(audio: np.ndarray, start: float, seconds: float) -> np.ndarray:
    out = np.zeros(int(round(seconds * RATE)), np.float32)
    piece = audio[int(start * RATE): int(start * RATE) + len(out)]
    out[: len(piece)] = piece
    return out


def side_by_side(left: Clip, right: Clip, sound: str, path: Path) -> Path:
    """``left | right`` for the shorter clip's length, with the sound of ``"left"`` or ``"right"``."""
    if sound not in ("left", "right"):
        raise ValueError("sound must be 'left' or 'right'")
    if left.frames[0].shape[0] != right.frames[0].shape[0]:
        raise ValueError("clips must have the same height (load_clip(..., height=H))")
    n = min(len(left.frames), len(right.frames))
    frames = [np.ascontiguousarray(np.hstack([a, b])) for a, b in zip(left.frames[:n], right.frames[:n], strict=True)]
    audio = _audio_span((left if sound == "left" else right).audio, 0.0, n / FPS)
    return write_media(path, frames, FPS, audio, RATE)


def _fit(frames: list[np.ndarray], shape: tuple[int, ...]) -> list[np.ndarray]:
    """Frames scaled and centred (black bars) into ``shape`` (H, W, 3)."""
    import cv2

    out = []
    for f in frames:
        s = min(shape[0] / f.shape[0], shape[1] / f.shape[1])
        w, h = _even(f.shape[1] * s), _even(f.shape[0] * s)
        small = cv2.resize(f, (min(w, shape[1]), min(h, shape[0])), interpolation=cv2.INTER_AREA)
        canvas = np.zeros(shape, np.uint8)
        y, x = (shape[0] - small.shape[0]) // 2, (shape[1] - small.shape[1]) // 2
        canvas[y: y + small.shape[0], x: x + small.shape[1]] = small
        out.append(canvas)
    return out


def cut_away(first: Clip, away: Clip | None, then: Clip, path: Path, away_seconds: float = 3.0) -> tuple[Path, tuple[float, float]]:
    """``first``, ``away_seconds`` of ``away`` (None: black frames), then ``then``, all in
    ``first``'s frame size, each with its own sound. Returns the path and the away shot's
    (start, end) in seconds."""
    shape = first.frames[0].shape
    n_away = int(round(away_seconds * FPS))
    if away is None:
        middle = [np.zeros(shape, np.uint8)] * n_away
        middle_audio = np.zeros(int(away_seconds * RATE), np.float32)
    else:
        middle = _fit([away.frames[k % len(away.frames)] for k in range(n_away)], shape)
        middle_audio = _audio_span(away.audio, 0.0, away_seconds)
    frames = first.frames + middle + _fit(then.frames, shape)
    audio = np.concatenate([_audio_span(first.audio, 0.0, first.duration), middle_audio,
                            _audio_span(then.audio, 0.0, then.duration)])
    write_media(path, frames, FPS, audio, RATE)
    start = len(first.frames) / FPS
    return path, (start, start + n_away / FPS)


def part(clip: Clip, start: float, end: float) -> Clip:
    """The frames and sound of ``clip`` between two times (seconds)."""
    a, b = int(round(start * FPS)), int(round(end * FPS))
    return Clip(clip.frames[a:b], clip.audio[int(start * RATE): int(end * RATE)].copy())


def frozen(clip: Clip, seconds: float | None = None) -> Clip:
    """The clip's first frame held for its length (or ``seconds``), with its own sound: a face that does not move."""
    n = len(clip.frames) if seconds is None else int(round(seconds * FPS))
    return Clip([clip.frames[0]] * n, _audio_span(clip.audio, 0.0, n / FPS))
