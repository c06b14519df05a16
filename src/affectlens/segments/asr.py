"""Speech recognition with faster-whisper (CTranslate2), offline by default.

Model resolution, in order: a local folder (``model=/path``), the pip-installed whisper-base
weights (``model="whisper-base"``, the default; sha256 checked by the registry), then any other
name faster-whisper knows (``"small"``, a hub id) — the only case that may download, and only
because the user asked for that model by name.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from ..core.types import Word
from ..models.registry import external_path

log = logging.getLogger(__name__)

DEFAULT_MODEL = "whisper-base"


@dataclass(frozen=True)
class Transcript:
    """Recognised speech: timed pieces with their words, and the detected language."""

    pieces: tuple[TranscriptPiece, ...]
    language: str | None
    language_probability: float


@dataclass(frozen=True)
class TranscriptPiece:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    no_speech_probability: float


def resolve_model(model: str = DEFAULT_MODEL) -> str:
    """A folder (or, for names faster-whisper downloads, the name) to load ``model`` from."""
    if Path(model).is_dir():
        return str(model)
    if model == DEFAULT_MODEL:
        return str(external_path("whisper-base"))
    return model


@lru_cache(maxsize=2)
def load_whisper(model: str = DEFAULT_MODEL, threads: int = 0):
    """Load (once per process) a faster-whisper model on the CPU with int8 weights."""
    from faster_whisper import WhisperModel

    source = resolve_model(model)
    if Path(source).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return WhisperModel(source, device="cpu", compute_type="int8", cpu_threads=threads or min(2, os.cpu_count() or 1))
    except Exception as e:  # ctranslate2 / huggingface raise many unrelated types
        raise ModelError(f"cannot load the speech-recognition model {model!r} from {source}: {e}") from e


def transcribe(
    audio: np.ndarray,
    *,
    model: str = DEFAULT_MODEL,
    language: str | None = None,
    task: str = "transcribe",
    beam_size: int = 1,
) -> Transcript:
    """Recognise the speech in 16 kHz mono ``audio`` with word timestamps.

    Silero VAD skips the silent parts first (``vad_filter``), which both saves time and avoids
    whisper's habit of hallucinating words into silence.
    """
    whisper = load_whisper(model)
    segments, info = whisper.transcribe(
        audio.astype(np.float32, copy=False),
        language=language,
        task=task,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
    )
    pieces = []
    for seg in segments:
        words = tuple(
            Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
            for w in (seg.words or ())
            if w.word.strip()
        )
        text = seg.text.strip()
        if not text:
            continue
        pieces.append(TranscriptPiece(float(seg.start), float(seg.end), text, words, float(seg.no_speech_prob)))
    return Transcript(tuple(pieces), info.language, float(info.language_probability))
