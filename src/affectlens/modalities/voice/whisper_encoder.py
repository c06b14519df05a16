"""The whisper-base audio encoder run in numpy, exposing every layer's hidden states.

Why not CTranslate2's ``Whisper.encode()``: it returns only the last layer, and the middle
layers carry more emotion (measured on RAVDESS, speaker-independent: layers 2-5 mean-pooled
and concatenated reach ~77 % 8-class accuracy against ~70 % for the last layer). The encoder is
small (two convolutions + 6 pre-norm transformer blocks of width 512), so its float16 weights
are read straight out of the CTranslate2 ``model.bin`` that ASR already uses — no second copy
of the weights, no extra package — and run here in float32 numpy.

CTranslate2's binary format (``ctranslate2/specs/model_spec.py:_serialize``), little-endian::

    u32 version, str spec_name, u32 revision, u32 n_variables,
    n_variables x (str name, u8 ndim, ndim x u32 dim, u8 dtype_id, u32 n_bytes, bytes),
    u32 n_aliases, n_aliases x (str alias, str target)

where ``str`` is ``u16 length (with the trailing NUL), utf-8 bytes, NUL`` and ``dtype_id``
indexes ``(float32, int8, int16, int32, float16, bfloat16)``. An int8 model stores each
quantised weight's per-row scale as a float32 variable ``<name>_scale``.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ...core.errors import ModelError
from .features import normalise_level

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
#: Mel frames per second (hop 160 at 16 kHz); encoder states come at half that rate.
MEL_FPS = 100
#: The encoder's positional table holds 1,500 states = 3,000 mel frames = 30 s.
MAX_MEL_FRAMES = 3000
#: Layers mean-pooled for speech emotion, in hidden-state numbering (0 = after the convolutions
#: and positions, i = after block i).
DEFAULT_LAYERS: tuple[int, ...] = (2, 3, 4, 5)

_DTYPES: tuple[np.dtype, ...] = (
    np.dtype("<f4"), np.dtype("i1"), np.dtype("<i2"), np.dtype("<i4"), np.dtype("<f2"), np.dtype("<u2"),
)


def _read_string(fh: BinaryIO) -> str:
    (length,) = struct.unpack("<H", fh.read(2))
    return fh.read(length)[:-1].decode("utf-8")


def read_ctranslate2_variables(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """Read the variables of a CTranslate2 ``model.bin`` whose names start with ``prefix``.

    Other variables are skipped with a seek, so reading only the encoder of whisper-base
    touches about a sixth of the file. int8 weights are de-quantised with their ``_scale``.

    Parameters
    ----------
    path : Path
        The ``model.bin`` file.
    prefix : str, default=""
        Keep only variables whose name starts with this (e.g. ``"encoder/"``).

    Returns
    -------
    dict[str, np.ndarray]
        Name -> array, float arrays as float32.
    """
    raw: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as fh:
            (version,) = struct.unpack("<I", fh.read(4))
            if version < 5:
                raise ModelError(f"{path}: CTranslate2 binary version {version} is not supported (need >= 5)")
            _read_string(fh)  # spec name
            fh.read(4)  # spec revision
            (count,) = struct.unpack("<I", fh.read(4))
            for _ in range(count):
                name = _read_string(fh)
                (ndim,) = struct.unpack("<B", fh.read(1))
                shape = struct.unpack(f"<{ndim}I", fh.read(4 * ndim)) if ndim else ()
                (dtype_id,) = struct.unpack("<B", fh.read(1))
                (nbytes,) = struct.unpack("<I", fh.read(4))
                if not name.startswith(prefix):
                    fh.seek(nbytes, 1)
                    continue
                dtype = _DTYPES[dtype_id]
                data = np.frombuffer(fh.read(nbytes), dtype=dtype).reshape(shape)
                if dtype_id == 5:  # bfloat16: the high half of a float32
                    data = (data.astype(np.uint32) << 16).view(np.float32)
                raw[name] = data
    except (OSError, struct.error, IndexError, ValueError) as e:
        raise ModelError(f"cannot read CTranslate2 weights from {path}: {e}") from e
    out: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if name.endswith("_scale"):
            continue
        scale = raw.get(f"{name}_scale")
        if value.dtype == np.int8 and scale is not None:
            # CTranslate2 int8: w_int8 = round(w * scale), one scale per output row.
            value = value.astype(np.float32) / scale.reshape(-1, *([1] * (value.ndim - 1)))
        elif value.dtype.kind == "f":
            value = value.astype(np.float32)
        out[name] = value
    return out


@dataclass(frozen=True)
class _Block:
    """One pre-norm transformer block's weights (matrices stored transposed for ``x @ w``)."""

    ln1_g: np.ndarray
    ln1_b: np.ndarray
    qkv_w: np.ndarray  # [512, 1536]
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray
    fc1_w: np.ndarray
    fc1_b: np.ndarray
    fc2_w: np.ndarray
    fc2_b: np.ndarray


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form.

    Whisper and CTranslate2 use the exact erf form. The tanh form differs by < 1e-3 per value;
    through six blocks the final layer still correlates 0.99993-0.999997 with CTranslate2's
    float32 ``encode()`` (0.99999999999 with scipy's erf), and numpy's vectorised tanh is ~15x
    faster than scipy's erf, which had made GELU a third of the encoder's time. The shipped
    emotion head was trained on features from this same function, so train and run agree.
    """
    inner = np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x * x * x)
    return np.float32(0.5) * x * (np.float32(1.0) + np.tanh(inner))


def _conv1d(x: np.ndarray, w2d: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """Kernel-3, padding-1 convolution over time as one matmul. x: [T, C_in] -> [T', C_out]."""
    pad = np.pad(x, ((1, 1), (0, 0)))
    t_out = (x.shape[0] - 1) // stride + 1
    # cols[t] = concat(pad[s*t], pad[s*t+1], pad[s*t+2]) matching w2d's (k, c_in) row order.
    cols = np.concatenate([pad[k : k + stride * (t_out - 1) + 1 : stride] for k in range(3)], axis=1)
    return cols @ w2d + b


class EncoderBase:
    """What both implementations of the encoder share: whisper's log-mel in, pooled layers out.

    A subclass sets ``n_mels``, ``width`` and ``num_layers`` and implements :meth:`hidden_states`.
    """

    n_mels: int = 80
    width: int = 512
    num_layers: int = 6
    _mel = None
    _mel_lock = threading.Lock()

    def hidden_states(self, mel: np.ndarray, upto: int | None = None) -> list[np.ndarray]:
        raise NotImplementedError

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """Whisper's log-mel spectrogram [shape=(n_mels, frames)] of 16 kHz mono audio."""
        if self._mel is None:
            with self._mel_lock:
                if self._mel is None:
                    from faster_whisper.feature_extractor import FeatureExtractor

                    self._mel = FeatureExtractor(feature_size=self.n_mels)
        return self._mel(np.asarray(audio, dtype=np.float32))

    def pooled(self, audio: np.ndarray, layers: tuple[int, ...] = DEFAULT_LAYERS) -> np.ndarray:
        """Mean over time of the chosen hidden states, concatenated: one vector per utterance.

        Audio longer than 30 s is cut into 30 s chunks (the encoder's limit); each chunk's
        states are summed and the total divided by the number of states, so every stretch of
        speech weighs the same regardless of where the chunk borders fall.

        Parameters
        ----------
        audio : np.ndarray [shape=(n,)]
            float32 mono 16 kHz, at least ~20 ms.
        layers : tuple[int, ...]
            Hidden-state indices (see :meth:`hidden_states`).

        Returns
        -------
        np.ndarray [shape=(len(layers) * width,)]
        """
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        chunk = MAX_MEL_FRAMES * SAMPLE_RATE // MEL_FPS
        sums = np.zeros((len(layers), self.width), dtype=np.float64)
        count = 0
        for start in range(0, max(len(audio), 1), chunk):
            piece = audio[start : start + chunk]
            if len(piece) < 320 and count:  # a sliver after a 30 s border adds nothing
                continue
            mel = self.log_mel(piece)[:, :MAX_MEL_FRAMES]
            if mel.shape[1] < 2:
                mel = np.pad(mel, ((0, 0), (0, 2 - mel.shape[1])), mode="edge")
            states = self.hidden_states(mel, upto=max(layers))
            for j, layer in enumerate(layers):
                sums[j] += states[layer].sum(0)
            count += states[0].shape[0]
        return (sums / max(count, 1)).reshape(-1).astype(np.float32)


class WhisperEncoder(EncoderBase):
    """whisper-base's encoder with access to all hidden states, in float32 numpy.

    Build it with :func:`load_encoder` (weights read once per process); a 4 s clip costs tens
    of milliseconds on one core. The run-time pipeline uses the float32 ONNX graph of the same
    weights (:func:`runtime_encoder`); this one is the reference it is checked against and
    the fallback where the graph cannot be built.
    """

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        try:
            self.num_heads = int(weights["encoder/num_heads"])
            c1 = weights["encoder/conv1/weight"]  # [out, in, k]
            c2 = weights["encoder/conv2/weight"]
            self.conv1_w = np.ascontiguousarray(c1.transpose(2, 1, 0).reshape(-1, c1.shape[0]))
            self.conv1_b = weights["encoder/conv1/bias"]
            self.conv2_w = np.ascontiguousarray(c2.transpose(2, 1, 0).reshape(-1, c2.shape[0]))
            self.conv2_b = weights["encoder/conv2/bias"]
            self.positions = weights["encoder/position_encodings/encodings"]
            self.ln_post_g = weights["encoder/layer_norm/gamma"]
            self.ln_post_b = weights["encoder/layer_norm/beta"]
            blocks = []
            i = 0
            while f"encoder/layer_{i}/ffn/linear_0/weight" in weights:
                p = f"encoder/layer_{i}/"
                blocks.append(_Block(
                    ln1_g=weights[p + "self_attention/layer_norm/gamma"],
                    ln1_b=weights[p + "self_attention/layer_norm/beta"],
                    qkv_w=np.ascontiguousarray(weights[p + "self_attention/linear_0/weight"].T),
                    qkv_b=weights[p + "self_attention/linear_0/bias"],
                    out_w=np.ascontiguousarray(weights[p + "self_attention/linear_1/weight"].T),
                    out_b=weights[p + "self_attention/linear_1/bias"],
                    ln2_g=weights[p + "ffn/layer_norm/gamma"],
                    ln2_b=weights[p + "ffn/layer_norm/beta"],
                    fc1_w=np.ascontiguousarray(weights[p + "ffn/linear_0/weight"].T),
                    fc1_b=weights[p + "ffn/linear_0/bias"],
                    fc2_w=np.ascontiguousarray(weights[p + "ffn/linear_1/weight"].T),
                    fc2_b=weights[p + "ffn/linear_1/bias"],
                ))
                i += 1
        except KeyError as e:
            raise ModelError(f"the CTranslate2 model has no whisper encoder variable {e}") from e
        self.blocks: tuple[_Block, ...] = tuple(blocks)
        self.width = int(self.conv1_b.shape[0])
        self.n_mels = int(c1.shape[1])
        self.num_layers = len(self.blocks)

    # -- forward --------------------------------------------------------------------------
    def _attention(self, x: np.ndarray, blk: _Block) -> np.ndarray:
        t, d = x.shape
        h = self.num_heads
        qkv = x @ blk.qkv_w + blk.qkv_b  # [T, 3d]
        q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(t, h, d // h).transpose(1, 0, 2) for i in range(3))
        scores = (q @ k.transpose(0, 2, 1)) * np.float32((d // h) ** -0.5)  # [h, T, T]
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(1, 0, 2).reshape(t, d)
        return ctx @ blk.out_w + blk.out_b

    def hidden_states(self, mel: np.ndarray, upto: int | None = None) -> list[np.ndarray]:
        """Every hidden state for one log-mel chunk of at most 30 s.

        Parameters
        ----------
        mel : np.ndarray [shape=(n_mels, frames)]
            From :meth:`log_mel`; ``frames <= 3000``. No padding to 30 s is needed: the
            positional table is simply cut to the input's length.
        upto : int, optional
            Stop after this hidden state (saves the later blocks when only middle layers are
            wanted). ``None`` runs all blocks and appends the final layer norm's output.

        Returns
        -------
        list[np.ndarray]
            ``states[0]`` after convolutions + positions, ``states[i]`` after block ``i``
            (each [shape=(ceil(frames/2), width)]); with ``upto=None`` a last entry holds the
            layer-normed final output, which is what CTranslate2's ``encode()`` returns.
        """
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim != 2 or mel.shape[0] != self.n_mels:
            raise ValueError(f"mel must be [{self.n_mels}, frames]; got shape {mel.shape}")
        if mel.shape[1] > MAX_MEL_FRAMES:
            raise ValueError(f"at most {MAX_MEL_FRAMES} mel frames (30 s) per call; got {mel.shape[1]}")
        if mel.shape[1] < 2:
            raise ValueError("need at least 2 mel frames")
        x = _gelu(_conv1d(mel.T, self.conv1_w, self.conv1_b, 1))
        x = _gelu(_conv1d(x, self.conv2_w, self.conv2_b, 2))
        x = x + self.positions[: x.shape[0]]
        states = [x]
        last = self.num_layers if upto is None else min(upto, self.num_layers)
        for blk in self.blocks[:last]:
            x = x + self._attention(_layer_norm(x, blk.ln1_g, blk.ln1_b), blk)
            hdn = _gelu(_layer_norm(x, blk.ln2_g, blk.ln2_b) @ blk.fc1_w + blk.fc1_b)
            x = x + hdn @ blk.fc2_w + blk.fc2_b
            states.append(x)
        if upto is None:
            states.append(_layer_norm(x, self.ln_post_g, self.ln_post_b))
        return states


@lru_cache(maxsize=4)
def load_encoder(model_dir: str | None = None) -> WhisperEncoder:
    """The whisper-base encoder, loaded once per process (per folder).

    Parameters
    ----------
    model_dir : str, optional
        A CTranslate2 whisper folder; default the registered external ``whisper-base``.
    """
    if model_dir is None:
        from ...models.registry import external_path

        folder = external_path("whisper-base")
    else:
        folder = Path(model_dir)
    log.debug("loading whisper encoder weights from %s", folder)
    return WhisperEncoder(read_ctranslate2_variables(folder / "model.bin", prefix="encoder/"))


@lru_cache(maxsize=1)
def runtime_encoder() -> EncoderBase:
    """The encoder the pipeline runs: the ONNX graph of :mod:`.encoder_onnx` (float32, the same
    numbers as this module's numpy encoder at about 1.4x its speed on one thread), built once
    per machine; the numpy encoder when the graph cannot be built (``onnx`` missing, a
    read-only cache).

    ``AFFECTLENS_ENCODER=numpy`` forces the numpy reference; ``AFFECTLENS_ENCODER=int8`` the
    int8 graph (2.7x the numpy speed, but its per-tensor activation scales shift the last layer
    enough that whisper's greedy decoding of repetitive speech falls into loops and samples;
    see ``benchmarks/results/voice_int8.json``).
    """
    import os

    choice = os.environ.get("AFFECTLENS_ENCODER", "").lower()
    if choice != "numpy":
        try:
            from .encoder_onnx import load_onnx_encoder

            return load_onnx_encoder(quantize=choice == "int8")
        except (ImportError, OSError, ModelError) as e:
            log.warning("ONNX whisper encoder unavailable (%s); using the numpy encoder", e)
    return load_encoder()


#: Speech per window; under whisper's 30 s so the whole window is decoded from one encoding.
WINDOW_SECONDS = 29.0
#: Silence laid between two chunks of a window: without it whisper runs sentences together
#: and skips some.
CHUNK_GAP = 0.6
#: Encoder states are summed over blocks of this many states (0.2 s) before they are kept, so
#: a shared pass costs ~130 MB per hour of speech instead of ~650 MB at the full 50 Hz.
BLOCK_STATES = 10
STATES_PER_SECOND = MEL_FPS // 2


@dataclass(frozen=True)
class StitchedWindow:
    """Speech chunks of the original audio laid end to end into one encoder window (<= 30 s).

    ``chunks[k] = (start, end)`` in seconds of the original audio; in the window, chunk ``k``
    begins ``gap`` seconds of silence after chunk ``k - 1`` ended. This is how faster-whisper's
    VAD filter feeds whisper, made explicit so that times (and encoder states) can be mapped back.
    """

    chunks: tuple[tuple[float, float], ...]
    gap: float = 0.0

    @property
    def offsets(self) -> tuple[float, ...]:
        """Where each chunk starts in the window (s)."""
        out, t = [], 0.0
        for s, e in self.chunks:
            out.append(t)
            t += (e - s) + self.gap
        return tuple(out)

    @property
    def duration(self) -> float:
        speech = sum(e - s for s, e in self.chunks)
        return float(speech + self.gap * max(0, len(self.chunks) - 1))

    def chunk_at(self, t: float) -> int:
        """Index of the chunk a window time (s) falls in; a time in a gap goes to the next one."""
        for k, ((s, e), offset) in enumerate(zip(self.chunks, self.offsets, strict=True)):
            if t <= offset + (e - s) + 1e-6:
                return k
        return max(0, len(self.chunks) - 1)

    def to_original(self, t: float, side: str = "start") -> float:
        """A time in the window (s) -> the same instant in the original audio (s).

        A time in a silent gap belongs to no chunk: as the ``start`` of something it maps to
        the next chunk's start, as an ``end`` to the previous chunk's end (whisper likes to
        start a sentence where the silence before it begins).
        """
        if not self.chunks:
            return t
        k = self.chunk_at(t)
        (s, e), offset = self.chunks[k], self.offsets[k]
        if t > offset + (e - s) + 1e-6:  # past the last chunk
            return e
        if t >= offset - 1e-6 or k == 0:
            return s + max(0.0, t - offset)
        return s if side == "start" else self.chunks[k - 1][1]


class EncoderStates:
    """Whisper encoder states kept from the speech-recognition pass, for the voice modality.

    The ASR encodes each :class:`StitchedWindow` once; :meth:`record` keeps every hidden state,
    summed over blocks of :data:`BLOCK_STATES` states that never straddle two chunks, with the
    original time span of each block. :meth:`pooled` then gives any utterance its mean-pooled
    layers without a second encoder pass (pipeline key ``"whisper_states"`` in
    :attr:`~affectlens.modalities.base.AnalysisContext.shared`).
    """

    def __init__(self, layers: tuple[int, ...] | None = None) -> None:
        self.layers = layers  # None: every hidden state
        self._kept: list[int] = []  # hidden-state indices actually kept, in column order
        self._sums: list[np.ndarray] = []  # each [n_blocks, n_layers, width] float16
        self._counts: list[np.ndarray] = []
        self._mids: list[np.ndarray] = []  # block centre, original time (s)
        self.windows = 0

    def record(self, window: StitchedWindow, states: list[np.ndarray]) -> None:
        """Keep the states of one encoded window (``states`` as from :meth:`WhisperEncoder.hidden_states`)."""
        keep = list(range(len(states))) if self.layers is None else list(self.layers)
        self._kept = keep
        stacked = np.stack([states[i] for i in keep], axis=1)  # [T, L, width]
        sums, counts, mids = [], [], []
        for (s, e), offset in zip(window.chunks, window.offsets, strict=True):
            a = int(round(offset * STATES_PER_SECOND))
            b = min(int(round((offset + e - s) * STATES_PER_SECOND)), stacked.shape[0])
            for k in range(a, b, BLOCK_STATES):
                stop = min(k + BLOCK_STATES, b)
                sums.append(stacked[k:stop].sum(0, dtype=np.float32))
                counts.append(stop - k)
                mids.append(window.to_original((k + stop) / 2 / STATES_PER_SECOND))
        if sums:
            self._sums.append(np.stack(sums).astype(np.float16))
            self._counts.append(np.array(counts, dtype=np.int32))
            self._mids.append(np.array(mids, dtype=np.float64))
        self.windows += 1

    def pooled(self, start: float, end: float, layers: tuple[int, ...]) -> np.ndarray | None:
        """Mean over the states whose block centre lies in ``[start, end]``, layers concatenated;
        None when the pass kept nothing there (the caller then encodes the audio itself)."""
        try:
            cols = [self._kept.index(layer) for layer in layers]
        except ValueError:
            return None
        total, count = None, 0
        for sums, counts, mids in zip(self._sums, self._counts, self._mids, strict=True):
            m = (mids >= start) & (mids <= end)
            if not m.any():
                continue
            part = sums[m][:, cols, :].astype(np.float32).sum(0)
            total = part if total is None else total + part
            count += int(counts[m].sum())
        if total is None or count == 0:
            return None
        return (total / count).reshape(-1).astype(np.float32)

    @property
    def nbytes(self) -> int:
        return int(sum(s.nbytes for s in self._sums))


def pack_windows(spans: Sequence[tuple[float, float]], max_seconds: float = WINDOW_SECONDS,
                 gap: float | None = None) -> list[StitchedWindow]:
    """Lay speech spans ``(start, end)`` (s) end to end into windows of at most ``max_seconds``.

    A span longer than a window is cut into window-sized pieces; otherwise spans are never
    split, so an utterance's states come from one encoding.
    """
    gap = CHUNK_GAP if gap is None else gap
    windows: list[StitchedWindow] = []
    current: list[tuple[float, float]] = []
    used = 0.0
    for span_start, span_end in spans:
        start = span_start
        while span_end - start > 1e-6:
            end = min(span_end, start + max_seconds)
            if current and used + gap + (end - start) > max_seconds:
                windows.append(StitchedWindow(tuple(current), gap))
                current, used = [], 0.0
            used += (gap if current else 0.0) + end - start
            current.append((start, end))
            start = end
    if current:
        windows.append(StitchedWindow(tuple(current), gap))
    return windows


def stitch(audio: np.ndarray, window: StitchedWindow, *, normalise: bool = True) -> np.ndarray:
    """The window's audio: its chunks end to end, each brought to the same speech level.

    Levelling each chunk (:func:`.features.normalise_level`) is
    what the voice head was trained on, and it spares whisper a quiet speaker after a loud one.
    """
    parts = []
    silence = np.zeros(int(round(window.gap * SAMPLE_RATE)), dtype=np.float32)
    for k, (s, e) in enumerate(window.chunks):
        piece = np.asarray(audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)], dtype=np.float32)
        if k:
            parts.append(silence)
        parts.append(normalise_level(piece) if normalise and piece.size else piece)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def window_mel(encoder: EncoderBase, audio: np.ndarray) -> np.ndarray:
    """The log-mel faster-whisper feeds the encoder for one window: computed on the window's
    audio, then zero-padded (or cut) to 3,000 frames, exactly as its ``pad_or_trim`` does."""
    mel = encoder.log_mel(audio)[:, :-1][:, :MAX_MEL_FRAMES]  # faster-whisper drops the last frame
    return np.pad(mel, ((0, 0), (0, MAX_MEL_FRAMES - mel.shape[1])))


def encode_windows(audio: np.ndarray, spans: Sequence[tuple[float, float]], states: EncoderStates,
                   encoder: EncoderBase | None = None) -> EncoderStates:
    """Encode ``spans`` of ``audio`` the way the speech-recognition pass does, into ``states``.

    Used when no ASR ran (subtitles gave the utterances), so the voice head always reads
    states of the same kind: levelled speech chunks laid end to end in a padded 30 s window.
    """
    encoder = encoder or runtime_encoder()
    for window in pack_windows(spans):
        states.record(window, encoder.hidden_states(window_mel(encoder, stitch(audio, window)))[:-1])
    return states
