"""Voice activity: where in the audio someone speaks.

Silero VAD as shipped inside faster-whisper (onnx, no torch): about 0.9 frame accuracy on clean
speech and at 10 dB SNR, 280x real time on 2 cores (see ../shared/notes/offline-stack.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.memory import release_free_memory

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class SpeechRegion:
    start: float  # seconds
    end: float


#: A piece whose loudest sample is below this (-80 dBFS) holds no speech.
SILENCE_PEAK = 1e-4
#: Audio is judged in pieces of this many seconds: silero's batch pass copies and frames the
#: whole input, which for an hour of audio is ~740 MB at once; in 5-minute pieces it is ~60 MB.
CHUNK_SECONDS = 300.0


def _quiet_border(audio: np.ndarray, first: int, nominal: int, search: float = 5.0) -> int:
    """A sample index in ``(first, nominal]``: the start of the quietest 20 ms frame in the
    ``search`` seconds before ``nominal``, but in the later half of the piece (the end of the
    audio when ``nominal`` lies past it)."""
    if nominal >= len(audio):
        return len(audio)
    frame = SAMPLE_RATE // 50
    lo = max(first + (nominal - first) // 2, nominal - int(search * SAMPLE_RATE))
    frames = audio[lo:nominal][: (nominal - lo) // frame * frame].reshape(-1, frame)
    if not len(frames):
        return nominal
    return lo + int(np.argmin(np.square(frames, dtype=np.float32).mean(axis=1))) * frame


def load_vad() -> None:
    """Load silero (once per process; faster-whisper keeps it) before the first file needs it."""
    from faster_whisper.vad import get_vad_model

    get_vad_model()


def speech_regions(
    audio: np.ndarray,
    *,
    threshold: float = 0.5,
    min_speech: float = 0.25,
    min_silence: float = 0.5,
    pad: float = 0.1,
    max_region: float = 30.0,
    chunk_seconds: float = CHUNK_SECONDS,
) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono ``audio`` [shape=(n,)], in seconds, in time order.

    Long audio is judged in pieces of about ``chunk_seconds``, each ending at the quietest
    moment of its last few seconds, so that a border rarely falls inside speech; a region it
    does cut is joined again when the two halves meet there (and stay under ``max_region``).
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio.size < SAMPLE_RATE // 10:
        return []
    options = VadOptions(
        threshold=threshold,
        min_speech_duration_ms=int(min_speech * 1000),
        min_silence_duration_ms=int(min_silence * 1000),
        speech_pad_ms=int(pad * 1000),
        max_speech_duration_s=max_region,
    )
    join = pad + 0.1  # how close to a border both halves of a cut region end and start
    out: list[SpeechRegion] = []
    first = 0
    while first < len(audio):
        last = _quiet_border(audio, first, first + max(int(chunk_seconds * SAMPLE_RATE), 2 * SAMPLE_RATE))
        piece = audio[first:last].astype(np.float32, copy=False)
        border, first = first / SAMPLE_RATE, last
        # Silence is judged per piece: np.abs of the whole track would copy an hour of audio
        # (an AudioTrack reads back as float32) twice, just to find nothing is there.
        if piece.size < SAMPLE_RATE // 10 or float(np.max(np.abs(piece))) < SILENCE_PEAK:
            continue
        for stamp in get_speech_timestamps(piece, options):
            region = SpeechRegion(border + stamp["start"] / SAMPLE_RATE, border + stamp["end"] / SAMPLE_RATE)
            if (out and first and border - out[-1].end <= join and region.start - border <= join
                    and region.end - out[-1].start <= max_region):
                out[-1] = SpeechRegion(out[-1].start, region.end)
            else:
                out.append(region)
        release_free_memory()  # the piece's framing would otherwise stay resident
    return out
