"""Which visible face is speaking an utterance: the mouth that moves with the voice.

AMuSE-style analysis judges each speaker on their own face, so with several faces on screen
an utterance must be attributed to one of them. A speaking mouth opens and closes with the
syllables, so for each face the series of lip gaps (``mouth_open``, inter-ocular units)
inside the segment is scored by

* its **correlation with the voice activity** (audio RMS energy sampled at the same times),
  when audio is available, and
* its **variability** (standard deviation), which alone decides when there is no audio.

A face seen in few of the segment's frames is discounted by its coverage. With one face the
answer is that face.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def audio_energy(audio: np.ndarray | None, sample_rate: int, times: Sequence[float], window: float = 0.1) -> np.ndarray | None:
    """RMS energy of ``audio`` in a ``window``-second span centred at each time (None without audio)."""
    if audio is None or len(audio) == 0:
        return None
    half = int(window * sample_rate / 2)
    out = np.empty(len(times))
    for i, t in enumerate(times):
        c = int(t * sample_rate)
        chunk = audio[max(0, c - half): c + half]
        out[i] = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64)))) if len(chunk) else 0.0
    return out


def speaker_scores(
    mouths: Mapping[int, tuple[Sequence[float], Sequence[float]]],
    n_frames: int,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
) -> dict[int, float]:
    """Score each face as the speaker of one segment.

    Parameters
    ----------
    mouths : mapping of face id -> (times, mouth_open values)
        The face's lip gaps at the sampled frames inside the segment.
    n_frames : int
        Number of frames sampled in the segment (for coverage).
    audio : np.ndarray [shape=(n,)], optional
        Mono audio of the whole file; enables voice-following scores.

    Returns
    -------
    dict of face id -> score (higher = more likely the speaker)
    """
    scores: dict[int, float] = {}
    for face_id, (times, values) in mouths.items():
        v = np.asarray(values, dtype=np.float64)
        coverage = min(1.0, len(v) / max(1, n_frames))
        if len(v) < 2:
            scores[face_id] = 0.01 * coverage
            continue
        variability = float(np.std(v))
        follow = 0.0
        energy = audio_energy(audio, sample_rate, times)
        if energy is not None and np.std(energy) > 1e-9 and variability > 1e-9:
            follow = max(0.0, float(np.corrcoef(v, energy)[0, 1]))
        # Variability in IOD units is ~0.01-0.1 while talking; the voice-following correlation
        # (0..1) dominates when it is there.
        scores[face_id] = coverage * (follow + 5.0 * variability)
    return scores


def attribute_speaker(
    mouths: Mapping[int, tuple[Sequence[float], Sequence[float]]],
    n_frames: int,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
) -> int | None:
    """The face id that most likely speaks the segment (None when no face was seen)."""
    if not mouths:
        return None
    if len(mouths) == 1:
        return next(iter(mouths))
    scores = speaker_scores(mouths, n_frames, audio, sample_rate)
    return max(scores, key=scores.__getitem__)
