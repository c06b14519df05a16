"""The one label space every modality is mapped onto, and each dataset's mapping into it.

Fusion can only combine probabilities that speak about the same classes, so every model
keeps its own native labels (MELD's ``joy``, RAVDESS's ``calm``, MER2023's ``worried``) and
declares how they map here. Mappings are data, not code, so a new corpus is one more dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: The shared label space (Ekman's six plus neutral), in a fixed order used by every array.
LABELS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")

#: Valence and arousal of each label on [-1, 1], after Russell's circumplex.
#: Used to turn a probability vector into a valence/arousal point (its expectation).
VALENCE_AROUSAL: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "angry": (-0.6, 0.8),
    "fear": (-0.6, 0.6),
    "disgust": (-0.7, 0.3),
    "surprise": (0.2, 0.8),
}

#: Native label -> shared label, per source. ``None`` means "no counterpart": the class's
#: probability mass is spread evenly instead of being forced onto a wrong label.
DATASET_MAPPINGS: dict[str, dict[str, str | None]] = {
    "meld": {
        "neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "angry",
        "fear": "fear", "disgust": "disgust", "surprise": "surprise",
    },
    "ravdess": {
        "neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad",
        "angry": "angry", "fearful": "fear", "disgust": "disgust", "surprised": "surprise",
    },
    "fer2013": {
        "neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
        "fear": "fear", "disgust": "disgust", "surprise": "surprise",
    },
    "mer2023": {
        "neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
        "worried": "fear", "surprise": "surprise", "doubt": None,
    },
    "goemotions_ekman": {
        "neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "angry",
        "fear": "fear", "disgust": "disgust", "surprise": "surprise",
    },
    "isear": {
        "joy": "happy", "sadness": "sad", "anger": "angry", "fear": "fear",
        "disgust": "disgust", "shame": "sad", "guilt": "sad",
    },
}


def map_label(label: str, dataset: str) -> str | None:
    """Map one native label of ``dataset`` onto :data:`LABELS` (``None`` if it has no counterpart).

    >>> map_label("joy", "meld")
    'happy'
    """
    mapping = DATASET_MAPPINGS[dataset]
    key = label.strip().lower()
    if key not in mapping:
        raise KeyError(f"label {label!r} is not part of the {dataset!r} mapping; known: {sorted(mapping)}")
    return mapping[key]


def to_shared_probs(native_probs: Sequence[float], native_labels: Sequence[str], dataset: str) -> np.ndarray:
    """Project a probability vector over ``native_labels`` onto :data:`LABELS`.

    Classes that map to the same shared label add up; a class with no counterpart spreads its
    mass evenly, so the result still sums to one.
    """
    out = np.zeros(len(LABELS))
    for p, native in zip(native_probs, native_labels, strict=True):
        target = map_label(native, dataset)
        if target is None:
            out += p / len(LABELS)
        else:
            out[LABELS.index(target)] += p
    total = out.sum()
    return out / total if total > 0 else np.full(len(LABELS), 1.0 / len(LABELS))


def valence_arousal(probs: Mapping[str, float] | np.ndarray) -> tuple[float, float]:
    """Expected valence and arousal of a probability vector over :data:`LABELS`."""
    p = np.asarray([probs[k] for k in LABELS] if isinstance(probs, Mapping) else probs, dtype=float)
    va = np.asarray([VALENCE_AROUSAL[k] for k in LABELS])
    v, a = p @ va / max(p.sum(), 1e-12)
    return float(v), float(a)


def probs_dict(p: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Label -> probability, in :data:`LABELS` order."""
    return {k: float(v) for k, v in zip(LABELS, p, strict=True)}
