"""Late fusion of per-modality evidence into one judgement per utterance.

Each modality hands over calibrated probabilities over the shared labels and a reliability in
[0, 1] (coverage x quality: a face seen in 20 % of the frames, two words of text, half a second
of speech). The fused distribution is a **weighted linear opinion pool**:

    p(label) = sum_m w_m p_m(label) / sum_m w_m,   w_m = prior_m * reliability_m

Why linear and not a product of experts: it degrades gracefully when one model is confidently
wrong (a product lets a single near-zero veto the rest), and it decomposes exactly, so each
modality's **contribution** to the chosen label is ``w_m p_m(label) / sum_m w_m p_m(label)`` —
a share that sums to one and that the explanation can quote. A modality without evidence has
reliability 0 and so weight 0.

A **conflict** is flagged when two modalities that are each confident (top probability at
least ``conflict_confidence``) and reliable pick different labels: the fused label then rests
on the weights, and the user should know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..core.labels import LABELS, probs_dict, valence_arousal
from ..core.types import Evidence, FusedPrediction

#: Default prior weight per modality: how much each is trusted at full reliability. Equal by
#: default; the words model is the strongest on conversational data, the face on acted video.
DEFAULT_PRIORS: dict[str, float] = {"face": 1.0, "voice": 1.0, "words": 1.0}


@dataclass(frozen=True)
class FusionConfig:
    priors: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRIORS))
    conflict_confidence: float = 0.5
    conflict_reliability: float = 0.3
    max_emotion_words: int = 6


def fuse(evidence: Mapping[str, Evidence], config: FusionConfig | None = None) -> FusedPrediction:
    """Combine the evidence of one segment (modality name -> :class:`Evidence`)."""
    config = config or FusionConfig()
    used = {
        name: ev for name, ev in evidence.items()
        if ev.available and ev.probs and ev.reliability > 0 and config.priors.get(name, 1.0) > 0
    }
    if not used:
        uniform = 1.0 / len(LABELS)
        return FusedPrediction(
            label="unknown", probs={k: uniform for k in LABELS}, valence=0.0, arousal=0.0,
            contributions={}, no_evidence=True,
        )
    weights = {name: config.priors.get(name, 1.0) * ev.reliability for name, ev in used.items()}
    matrix = {name: np.array([ev.probs.get(k, 0.0) for k in LABELS]) for name, ev in used.items()}
    for name, p in matrix.items():
        total = p.sum()
        matrix[name] = p / total if total > 0 else np.full(len(LABELS), 1 / len(LABELS))
    total_w = sum(weights.values())
    pooled = sum(weights[n] * matrix[n] for n in used) / total_w
    top = int(np.argmax(pooled))
    label = LABELS[top]
    mass = {n: weights[n] * matrix[n][top] for n in used}
    mass_total = sum(mass.values()) or 1.0
    contributions = {n: float(m / mass_total) for n, m in mass.items()}
    valence, arousal = valence_arousal(pooled)
    conflict, detail = _conflict(used, config)
    return FusedPrediction(
        label=label,
        probs=probs_dict(pooled),
        valence=valence,
        arousal=arousal,
        contributions=contributions,
        conflict=conflict,
        conflict_detail=detail,
        emotion_words=_emotion_words(used, weights, label, float(pooled[top]), config.max_emotion_words),
    )


def _conflict(used: Mapping[str, Evidence], config: FusionConfig) -> tuple[bool, str | None]:
    confident = [
        (name, ev.label, ev.confidence) for name, ev in used.items()
        if ev.confidence >= config.conflict_confidence and ev.reliability >= config.conflict_reliability
    ]
    labels = {lab for _, lab, _ in confident}
    if len(labels) < 2:
        return False, None
    parts = [f"{name} says {lab} ({conf:.0%})" for name, lab, conf in sorted(confident, key=lambda c: -c[2])]
    return True, "; ".join(parts)


def _emotion_words(
    used: Mapping[str, Evidence], weights: Mapping[str, float], label: str, label_prob: float, limit: int
) -> tuple[tuple[str, float], ...]:
    """Open-vocabulary words: the fused label plus each modality's own words, weighted by trust."""
    scores: dict[str, float] = {label: label_prob}
    total_w = sum(weights.values()) or 1.0
    for name, ev in used.items():
        share = weights[name] / total_w
        for word, score in ev.emotion_words:
            key = word.strip().lower()
            if key and key != "neutral":
                scores[key] = max(scores.get(key, 0.0), float(score) * share + (0.0 if key != label else label_prob))
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    return tuple((w, round(s, 4)) for w, s in ranked[:limit])
