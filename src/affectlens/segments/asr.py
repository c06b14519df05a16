"""Speech recognition with faster-whisper (CTranslate2), offline by default.

The voice-activity regions found by :mod:`.vad` are laid end to end into windows of at most
30 s (:func:`pack_windows`), as faster-whisper's own VAD filter does, but explicitly, so that
word times map back to the original audio and so that one encoder pass serves both the words
and the voice: with an :class:`~affectlens.modalities.voice.whisper_encoder.EncoderStates`
given, each window is encoded once by the numpy encoder that exposes every layer, its final
output feeds CTranslate2's decoder, and the middle layers are kept for the voice modality.

Model resolution, in order: a local folder (``model=/path``), the pip-installed whisper-base
weights (``model="whisper-base"``, the default; sha256 checked by the registry), then any other
name faster-whisper knows (``"small"``, a hub id) — the only case that may download, and only
because the user asked for that model by name.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from ..core.memory import release_free_memory
from ..core.threads import available_threads, one_per_thread_count
from ..core.types import Word
from ..modalities.voice.whisper_encoder import EncoderStates, StitchedWindow, pack_windows, stitch
from ..models.registry import external_path
from .vad import SpeechRegion

log = logging.getLogger(__name__)

DEFAULT_MODEL = "whisper-base"

#: whisper's own limits for a decoding it trusts; beyond them it decodes again, hotter.
LOOP_COMPRESSION_RATIO = 2.4
LOW_LOG_PROBABILITY = -1.0
NO_SPEECH_PROBABILITY = 0.6
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)


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


def check_model(model: str = DEFAULT_MODEL) -> None:
    """Raise :class:`ModelError` now when ``model`` cannot be what it names: the pip-installed
    whisper-base (checked by sha256), or a folder holding a CTranslate2 ``model.bin``. Any other
    name is one faster-whisper downloads on the user's request; it is judged when loaded."""
    if model == DEFAULT_MODEL:
        external_path("whisper-base")
        return
    path = Path(model).expanduser()
    looks_like_a_path = path.is_absolute() or model.startswith((".", "~"))  # "org/name" is a hub id
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelError(f"speech-recognition model folder {model}: no model.bin in it "
                             "(expected a CTranslate2 / faster-whisper model folder)")
    elif looks_like_a_path:
        raise ModelError(f"speech-recognition model {model}: no such folder")


@lru_cache(maxsize=1)
def _whisper_class():
    from faster_whisper import WhisperModel

    class SharedEncoderWhisper(WhisperModel):
        """faster-whisper whose encoder pass can be taken over by the numpy encoder.

        While a window and a state store are set for the calling thread (:meth:`sharing`),
        the window's first encoding runs through
        :class:`~affectlens.modalities.voice.whisper_encoder.WhisperEncoder` (every hidden
        state; the final one, layer-normed, is what CTranslate2's ``encode()`` returns) and the
        states are recorded; CTranslate2 decodes from that output. Other encodings (a later
        seek inside the window) use CTranslate2's own encoder as usual. The setting is per
        thread, since the loaded model is shared by the whole process.
        """

        #: Whether these are the whisper-base weights the voice head was trained on.
        can_share: bool = False
        _local = threading.local()

        def sharing(self, window: StitchedWindow | None, states: EncoderStates | None) -> None:
            self._local.window, self._local.states = window, states
            if window is None:
                self._local.encoded = None  # the window is decoded: its encoder output may go

        def encode(self, features: np.ndarray):
            window, states = getattr(self._local, "window", None), getattr(self._local, "states", None)
            if window is None or states is None:
                return super().encode(features)
            import ctranslate2

            from ..modalities.voice.whisper_encoder import runtime_encoder

            mel = features[0] if features.ndim == 3 else features
            hidden = runtime_encoder().hidden_states(mel)
            states.record(window, hidden[:-1])
            self._local.window = None  # only the window's first encoding starts at its beginning
            # A StorageView made from an array shares the array's memory without owning it: the
            # array must outlive the decoding of this window, so the thread holds it until then.
            self._local.encoded = np.ascontiguousarray(hidden[-1][None], dtype=np.float32)
            return ctranslate2.StorageView.from_array(self._local.encoded)

    return SharedEncoderWhisper


@one_per_thread_count
def load_whisper(model: str = DEFAULT_MODEL, threads: int = 0):
    """Load (once per process) a faster-whisper model on the CPU with int8 weights, its pool
    sized to ``threads`` (0: all this process may use)."""
    source = resolve_model(model)
    if Path(source).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        whisper = _whisper_class()(source, device="cpu", compute_type="int8",
                                   cpu_threads=threads or available_threads())
    except Exception as e:  # ctranslate2 / huggingface raise many unrelated types
        raise ModelError(f"cannot load the speech-recognition model {model!r} from {source}: {e}") from e
    # The voice head reads whisper-base's layers: only the same weights can share their pass.
    whisper.can_share = model == DEFAULT_MODEL
    return whisper


def transcribe(
    audio: np.ndarray,
    regions: Sequence[SpeechRegion] | None = None,
    *,
    model: str = DEFAULT_MODEL,
    language: str | None = None,
    task: str = "transcribe",
    beam_size: int = 1,
    states: EncoderStates | None = None,
    threads: int = 0,
) -> Transcript:
    """Recognise the speech in 16 kHz mono ``audio`` with word timestamps.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
    regions : sequence of SpeechRegion, optional
        Where someone speaks (:func:`~affectlens.segments.vad.speech_regions`, computed here
        when None). Only these parts are decoded, which both saves time and avoids whisper's
        habit of hallucinating words into silence.
    language : str, optional
        ISO code; detected on the first window when None, then kept for the rest.
    states : EncoderStates, optional
        Filled with the encoder's hidden states of every window (the shared pass); when None,
        CTranslate2 encodes as usual.
    threads : int, default=0
        CTranslate2 threads (the caller's share of the thread budget); 0 = what this process
        may use (:func:`~affectlens.core.threads.available_threads`).
    """
    if regions is None:
        from .vad import speech_regions

        regions = speech_regions(audio)
    whisper = load_whisper(model, threads=threads or available_threads())
    share = states is not None and whisper.can_share
    pieces = []
    detected, probability = language, 1.0 if language else 0.0
    for window in pack_windows([(r.start, r.end) for r in regions]):
        samples = stitch(audio, window)
        whisper.sharing(window, states) if share else whisper.sharing(None, None)
        try:
            segments, info = _decode(whisper, samples, detected, task, beam_size, (0.0,))
        finally:
            whisper.sharing(None, None)
        if detected is None:
            detected, probability = info.language, float(info.language_probability)
        doubt = decoding_doubt(segments, window)
        if doubt:  # as whisper does, but only when the greedy pass is really in doubt
            log.debug("window at %.1f s decoded again (%s)", window.chunks[0][0], doubt)
            segments, _ = _decode(whisper, samples, detected, task, beam_size, FALLBACK_TEMPERATURES)
        back = window.to_original
        for seg in segments:
            words = tuple(
                Word(w.word.strip(), back(float(w.start)), back(float(w.end), "end"), float(w.probability))
                for w in (seg.words or ())
                if w.word.strip()
            )
            text = seg.text.strip()
            if not text:
                continue
            pieces.append(TranscriptPiece(back(float(seg.start)), back(float(seg.end), "end"), text, words,
                                          float(seg.no_speech_prob)))
        release_free_memory()  # a window's features, states and decoder buffers
    return Transcript(tuple(pieces), detected, probability)


def _decode(whisper, samples: np.ndarray, language: str | None, task: str, beam_size: int,
            temperatures: tuple[float, ...]):
    segments, info = whisper.transcribe(
        samples,
        language=language,
        task=task,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=False,
        temperature=list(temperatures),
        compression_ratio_threshold=LOOP_COMPRESSION_RATIO,
        log_prob_threshold=LOW_LOG_PROBABILITY,
        no_speech_threshold=NO_SPEECH_PROBABILITY,
    )
    return list(segments), info  # decoding happens while iterating


def decoding_doubt(segments, window: StitchedWindow) -> str | None:
    """Why a greedy decoding of ``window`` should not be trusted, or None.

    whisper's rules (text too repetitive by faster-whisper's own compression ratio, tokens too
    improbable), with one change: the repetition is judged in each stretch of speech on its
    own. A window holds several separate stretches, and one speaker saying the same sentence in each of them (RAVDESS, an actor's
    takes, a chorus) compresses like a loop over the window although no stretch repeats
    itself; whisper would then decode the window five more times for nothing. A decoder that
    loops does it inside one stretch, where this check still sees it.
    """
    from faster_whisper.transcribe import get_compression_ratio

    tokens = sum(len(seg.tokens) for seg in segments)
    if tokens:
        logprob = sum(seg.avg_logprob * len(seg.tokens) for seg in segments) / tokens
        silence = max(seg.no_speech_prob for seg in segments) > NO_SPEECH_PROBABILITY
        if logprob < LOW_LOG_PROBABILITY and not silence:
            return f"average log probability {logprob:.2f}"
    stretches: dict[int, list[str]] = {}
    for seg in segments:
        for w in seg.words or ():
            stretches.setdefault(window.chunk_at(float(w.start)), []).append(w.word)
        if not seg.words and seg.text.strip():
            stretches.setdefault(window.chunk_at(float(seg.start)), []).append(seg.text)
    for k, words in stretches.items():
        ratio = get_compression_ratio("".join(words).strip())
        if ratio > LOOP_COMPRESSION_RATIO:
            return f"stretch {k} repeats itself (compression ratio {ratio:.1f})"
    return None
