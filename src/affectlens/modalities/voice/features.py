"""Small signal helpers for the voice modality: level normalisation and speech-activity measures.

Why level normalisation: whisper's log-mel is not level-invariant (a -20 dB recording shifts
every log-mel value by -0.5 before the encoder sees it), while the level of a recording says
more about the microphone than about the speaker. Loudness is still used, but as a prosody cue
relative to the same speaker's own baseline (:mod:`.prosody`), where the microphone cancels out.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
#: Target level of the loud (speech) frames, dBFS.
TARGET_DBFS = -20.0
#: Never amplify by more than this: near-silent input must stay near-silent.
MAX_GAIN_DB = 40.0
FRAME = 320  # 20 ms


def frame_rms_db(audio: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """RMS level of consecutive 20 ms frames in dBFS [shape=(n_frames,)] (-120 for digital silence)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n = len(audio) // frame
    if n == 0:
        return np.zeros(0)
    frames = audio[: n * frame].reshape(n, frame).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def speech_level_db(audio: np.ndarray) -> float:
    """Level of the loud part of a clip: the 90th percentile of 20 ms frame levels, dBFS.

    A percentile rather than the mean so that pauses and leading silence do not decide it.
    """
    levels = frame_rms_db(audio)
    return float(np.percentile(levels, 90)) if len(levels) else -120.0


def normalise_level(audio: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Scale ``audio`` so its speech frames sit at ``target_dbfs`` (gain capped at +40 dB).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        float32 mono.
    target_dbfs : float, default=-20
        Level the 90th-percentile frame is brought to. Values may exceed 1 afterwards; the
        encoder works on floats, so nothing is clipped here.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if len(audio) == 0:
        return audio
    gain_db = min(target_dbfs - speech_level_db(audio), MAX_GAIN_DB)
    return (audio * np.float32(10 ** (gain_db / 20))).astype(np.float32)


def active_speech(audio: np.ndarray, floor_db: float = -55.0, rel_db: float = 30.0) -> np.ndarray:
    """Which 20 ms frames carry sound: above ``floor_db`` dBFS and within ``rel_db`` of the loud frames.

    An energy gate, not a VAD: the pipeline's VAD already chose the segments; this only tells
    silence and near-silence inside a segment apart, for the "too short / silent" decision.
    """
    levels = frame_rms_db(audio)
    if len(levels) == 0:
        return np.zeros(0, dtype=bool)
    return (levels > floor_db) & (levels > np.percentile(levels, 90) - rel_db)


def clipped_fraction(audio: np.ndarray, threshold: float = 0.999) -> float:
    """Share of samples at (or beyond) full scale: a sign of a distorted recording."""
    audio = np.asarray(audio).reshape(-1)
    return float(np.mean(np.abs(audio) >= threshold)) if len(audio) else 0.0


def snr_estimate_db(audio: np.ndarray) -> float:
    """Rough SNR: loud-frame level (90th percentile) minus noise-floor level (10th percentile), dB.

    Good enough to tell a clean close-talk recording (30-60 dB) from a noisy one (<15 dB); it
    underestimates when a segment holds no pause at all.
    """
    levels = frame_rms_db(audio)
    if len(levels) < 5:
        return 0.0
    return float(np.percentile(levels, 90) - np.percentile(levels, 10))
