"""RAVDESS loading, degradations, folds and cached features shared by the voice training script
and the voice benchmarks (training-time only; the library never reads datasets).

Feature caches live in ``work_data/voice/`` (gitignored) and are keyed by the condition name,
so the expensive encoder pass runs once per condition.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from affectlens.core.data import dataset_path  # noqa: E402

CACHE = REPO / "work_data" / "voice"
log = logging.getLogger("voice_common")

#: RAVDESS's native labels in the order the head uses.
RAVDESS_LABELS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
#: 6 folds x 4 held-out actors (consecutive actor ids, so each fold holds 2 male + 2 female).
FOLDS: tuple[tuple[int, ...], ...] = tuple(tuple(range(1 + 4 * k, 5 + 4 * k)) for k in range(6))


@dataclass(frozen=True)
class Corpus:
    """The RAVDESS speech clips: file paths, labels and actors, row-aligned."""

    paths: tuple[Path, ...]
    y: np.ndarray  # int index into RAVDESS_LABELS
    actor: np.ndarray
    intensity: np.ndarray  # "normal" / "strong"


def load_ravdess() -> Corpus:
    root = dataset_path("speech", "ravdess")
    df = pd.read_csv(root / "labels.csv")
    df = df[df.vocal_channel == "speech"].reset_index(drop=True)
    return Corpus(
        paths=tuple(root / p for p in df.path),
        y=np.array([RAVDESS_LABELS.index(e) for e in df.emotion]),
        actor=df.actor.to_numpy(int),
        intensity=df.intensity.to_numpy(str),
    )


def read_audio(path: Path) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=False)
    if audio.ndim > 1:
        audio = audio.mean(1)
    if sr != 16_000:
        raise ValueError(f"{path}: expected 16 kHz, got {sr}")
    return audio


def add_white_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at ``snr_db`` relative to the clip's mean power (silences included)."""
    power = float(np.mean(audio.astype(np.float64) ** 2)) + 1e-12
    noise = rng.standard_normal(len(audio)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """A narrow-band phone line: 300-3,400 Hz band-pass, 8 kHz, 8-bit mu-law, back to 16 kHz."""
    from scipy.signal import butter, resample_poly, sosfilt

    band = sosfilt(butter(4, [300, 3400], btype="bandpass", fs=16_000, output="sos"), audio)
    narrow = resample_poly(band, 1, 2)
    peak = max(float(np.max(np.abs(narrow))), 1e-9)
    x = np.clip(narrow / peak, -1, 1)
    mu = 255.0
    coded = np.round(np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) * 127) / 127
    decoded = np.sign(coded) * ((1 + mu) ** np.abs(coded) - 1) / mu * peak
    return resample_poly(decoded, 2, 1).astype(np.float32)


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    return np.clip(audio * 10 ** (gain_db / 20), -1.0, 1.0).astype(np.float32)


def degrade(condition: str, audio: np.ndarray, index: int) -> np.ndarray:
    """Apply a named condition. Seeds depend on the clip index, so caches are reproducible.

    ``clean``; ``noise20`` (white noise, 20 dB SNR); ``gain-20`` (-20 dB); ``gain+10`` (+10 dB, clips);
    ``telephone`` (G.711-like: 300-3,400 Hz band, 8 kHz, mu-law, back to 16 kHz);
    ``aug`` (training augmentation: random white noise 10-30 dB SNR and gain -25..+5 dB, a
    different seed stream from the test conditions).
    """
    if condition == "clean":
        return audio
    if condition == "noise20":
        return add_white_noise(audio, 20.0, np.random.default_rng(10_000 + index))
    if condition == "gain-20":
        return apply_gain(audio, -20.0)
    if condition == "gain+10":
        return apply_gain(audio, 10.0)
    if condition == "telephone":
        return telephone(audio)
    if condition == "aug":
        rng = np.random.default_rng(90_000 + index)
        out = add_white_noise(audio, float(rng.uniform(10, 30)), rng)
        return apply_gain(out, float(rng.uniform(-25, 5)))
    raise ValueError(f"unknown condition {condition!r}")


def cached_features(
    name: str, corpus: Corpus, condition: str, extract: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Features of every clip under ``condition``, computed once and cached as ``<name>-<condition>.npy``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}-{condition}.npy"
    if path.is_file():
        feats = np.load(path)
        if len(feats) == len(corpus.paths):
            return feats
    t0 = time.time()
    rows = []
    for i, p in enumerate(corpus.paths):
        rows.append(extract(degrade(condition, read_audio(p), i)))
        if (i + 1) % 200 == 0:
            log.info("%s/%s: %d/%d clips, %.0f s", name, condition, i + 1, len(corpus.paths), time.time() - t0)
    feats = np.stack(rows).astype(np.float32)
    np.save(path, feats)
    log.info("%s/%s: done in %.0f s", name, condition, time.time() - t0)
    return feats


def _encoder(kind: str):
    """The whisper encoder named ``numpy``, ``runtime`` (what the pipeline runs) or ``int8``."""
    from affectlens.modalities.voice.encoder_onnx import load_onnx_encoder
    from affectlens.modalities.voice.whisper_encoder import load_encoder, runtime_encoder

    return {"numpy": load_encoder, "runtime": runtime_encoder, "int8": lambda: load_onnx_encoder(quantize=True)}[kind]()


def encoder_extractor(normalise: bool, encoder: str = "numpy") -> Callable[[np.ndarray], np.ndarray]:
    """Per clip: mean-pooled hidden states 0..6 of the whisper encoder, [7, 512]
    (``encoder``: ``numpy``, ``runtime`` the encoder the pipeline runs, ``int8`` the int8 graph)."""
    from affectlens.modalities.voice.features import normalise_level

    enc = _encoder(encoder)
    layers = tuple(range(enc.num_layers + 1))

    def run(audio: np.ndarray) -> np.ndarray:
        if normalise:
            audio = normalise_level(audio)
        return enc.pooled(audio, layers).reshape(len(layers), -1)

    return run


def egemaps_extractor() -> Callable[[np.ndarray], np.ndarray]:
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )

    def run(audio: np.ndarray) -> np.ndarray:
        return smile.process_signal(audio, 16_000).to_numpy(np.float32).reshape(-1)

    return run


# --- heads and scores ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Speaker-independent scores of one fold (or their mean)."""

    acc8: float
    f1_8: float
    acc7: float  # calm merged into neutral, in both truth and prediction
    f1_7: float


def merge_calm(proba: np.ndarray) -> np.ndarray:
    """8-class probabilities -> 7 (calm's mass added to neutral, calm column dropped)."""
    out = np.delete(proba, RAVDESS_LABELS.index("calm"), axis=1)
    out[:, RAVDESS_LABELS.index("neutral")] += proba[:, RAVDESS_LABELS.index("calm")]
    return out


def score(y: np.ndarray, proba: np.ndarray) -> Scores:
    from sklearn.metrics import accuracy_score, f1_score

    pred8 = proba.argmax(1)
    calm, neutral = RAVDESS_LABELS.index("calm"), RAVDESS_LABELS.index("neutral")
    y7 = np.where(y == calm, neutral, y)
    y7 = np.where(y7 > calm, y7 - 1, y7)
    pred7 = merge_calm(proba).argmax(1)
    return Scores(
        acc8=float(accuracy_score(y, pred8)), f1_8=float(f1_score(y, pred8, average="macro")),
        acc7=float(accuracy_score(y7, pred7)), f1_7=float(f1_score(y7, pred7, average="macro")),
    )


def select_layers(feats: np.ndarray, layers: tuple[int, ...]) -> np.ndarray:
    """[n, 7, 512] per-layer pooled features -> [n, len(layers) * 512]."""
    return feats[:, list(layers), :].reshape(len(feats), -1)


@dataclass
class LinearHead:
    """Standardiser + multinomial logistic regression (scikit-learn, training side only)."""

    mean_: np.ndarray
    scale_: np.ndarray
    coef_: np.ndarray
    intercept_: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_

    def proba(self, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        z = self.logits(x) / temperature
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)


def fit_linear(x: np.ndarray, y: np.ndarray, c: float) -> LinearHead:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(0)
    scale = x.std(0) + 1e-6
    clf = LogisticRegression(C=c, max_iter=2000)
    clf.fit((x - mean) / scale, y)
    return LinearHead(mean, scale, clf.coef_, clf.intercept_)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that minimises the negative log-likelihood of held-out logits."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    conf = proba.max(1)
    correct = proba.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(ece)


def windowed_features(corpus: Corpus, condition: str, encoder: str = "numpy") -> np.ndarray:
    """Per clip [7, 512]: hidden states 0..6 pooled over the clip *inside a shared 30 s window*,
    the way the run-time pipeline gets them from the speech-recognition pass.

    Each clip (after ``condition``) is trimmed to its voice-activity span, levelled, and laid
    end to end with other clips of the same fold's actors (random order, fixed seed) into
    windows of at most 29 s, zero-padded to 30 s as whisper pads; its states are read back
    through :class:`affectlens.modalities.voice.whisper_encoder.EncoderStates`. Clips of
    held-out actors therefore never share a window with training actors. Cached as
    ``win-<condition>.npy``. ``encoder="runtime"`` uses the encoder the pipeline runs (its ONNX
    graph) and ``"int8"`` the int8 graph, instead of the numpy float32 reference; their caches
    are ``win-<condition>-<encoder>.npy``.
    """
    from affectlens.modalities.voice.whisper_encoder import (
        EncoderStates,
        encode_windows,
    )
    from affectlens.segments.vad import speech_regions

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (f"win-{condition}.npy" if encoder == "numpy" else f"win-{condition}-{encoder}.npy")
    if path.is_file():
        feats = np.load(path)
        if len(feats) == len(corpus.paths):
            return feats
    enc = _encoder(encoder)
    out = np.zeros((len(corpus.paths), enc.num_layers + 1, enc.width), dtype=np.float32)
    t0 = time.time()
    for k, fold in enumerate(FOLDS):
        rows = np.flatnonzero(np.isin(corpus.actor, fold))
        np.random.default_rng(500 + k).shuffle(rows)
        pieces, spans, t = [], [], 0.0
        for i in rows:
            audio = degrade(condition, read_audio(corpus.paths[i]), int(i))
            regions = speech_regions(audio)
            if regions:
                audio = audio[int(regions[0].start * 16_000):int(regions[-1].end * 16_000)]
            pieces.append(audio)
            spans.append((t, t + len(audio) / 16_000))
            t += len(audio) / 16_000 + 1.0  # a gap on the timeline only; stitching removes it
        timeline = np.zeros(int(t * 16_000) + 16_000, dtype=np.float32)
        for (s, _), audio in zip(spans, pieces, strict=True):
            timeline[int(s * 16_000):int(s * 16_000) + len(audio)] = audio
        states = encode_windows(timeline, spans, EncoderStates(), enc)
        layers = tuple(range(enc.num_layers + 1))
        for (s, e), i in zip(spans, rows, strict=True):
            out[i] = states.pooled(s, e, layers).reshape(len(layers), -1)
        log.info("win/%s: fold %d done, %d windows, %.0f s", condition, k, states.windows, time.time() - t0)
    np.save(path, out)
    return out


# --- speaker split (best-effort turns without subtitles) ---------------------------------------

#: Three folds of 8 actors for the speaker split: projection and threshold never see the
#: actors they are scored on.
SPEAKER_FOLDS: tuple[tuple[int, ...], ...] = (tuple(range(1, 9)), tuple(range(9, 17)), tuple(range(17, 25)))


def voice_prints(corpus: Corpus, condition: str = "clean") -> np.ndarray:
    """[n, 160] voice prints (``affectlens.segments.speakers.voice_print``), cached per condition."""
    from affectlens.segments.speakers import voice_print

    def run(audio: np.ndarray) -> np.ndarray:
        vp = voice_print(audio)
        return np.zeros(160, np.float32) if vp is None else vp

    return cached_features("vprint", corpus, condition, run)


def fit_speaker_projection(prints: np.ndarray, actor: np.ndarray, dims: int, shrinkage: float):
    """Standardiser + shrinkage LDA over actors -> (mean, scale, projection [dims, 160])."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    mu, sd = prints.mean(0), prints.std(0) + 1e-6
    lda = LinearDiscriminantAnalysis(n_components=dims, solver="eigen", shrinkage=shrinkage).fit((prints - mu) / sd, actor)
    return mu, sd, lda.scalings_[:, :dims].T  # standardised data is centred: no offset after it


def simulated_conversations(actor: np.ndarray, actors: tuple[int, ...], speakers: int, count: int,
                            turns: int = 12, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` conversations of ``turns`` clips by ``speakers`` actors drawn from ``actors``;
    each is (clip rows, true speaker per turn), every chosen actor speaking at least twice."""
    rng = np.random.default_rng(seed + 1000 * speakers)
    out = []
    for _ in range(count):
        who = rng.choice(actors, size=speakers, replace=False)
        order = np.concatenate([np.repeat(np.arange(speakers), 2), rng.integers(0, speakers, turns - 2 * speakers)])
        rng.shuffle(order)
        rows = np.array([rng.choice(np.flatnonzero(actor == who[k])) for k in order])
        out.append((rows, order))
    return out


def speaker_error(truth: np.ndarray, found: np.ndarray) -> float:
    """Share of turns whose estimated speaker is wrong under the best one-to-one mapping."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((truth.max() + 1, found.max() + 1))
    np.add.at(table, (truth, found), 1)
    r, c = linear_sum_assignment(-table)
    return float(1.0 - table[r, c].sum() / len(truth))
