"""The speech-emotion head: standardise -> linear -> temperature-scaled softmax over RAVDESS labels.

Stored as plain arrays in an ``.npz`` (no pickle, no scikit-learn at run time) so loading is
safe and version-proof; :mod:`training.voice_emotion` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.errors import ModelError
from ...core.labels import to_shared_probs

DEFAULT_MODEL = "voice-emotion"


@dataclass(frozen=True)
class EmotionHead:
    """A calibrated multinomial logistic regression over pooled encoder features.

    ``layers`` are the whisper hidden states it reads (see
    :meth:`~affectlens.modalities.voice.whisper_encoder.WhisperEncoder.hidden_states`);
    ``normalise_level`` says whether audio was brought to a fixed level before the encoder.
    """

    name: str
    labels: tuple[str, ...]
    label_mapping: str
    mean: np.ndarray  # [d]
    scale: np.ndarray  # [d]
    coef: np.ndarray  # [n_classes, d]
    intercept: np.ndarray  # [n_classes]
    temperature: float
    layers: tuple[int, ...]
    normalise_level: bool
    reliability_scale: float = 1.0
    #: True: trained on states pooled inside a shared 30 s window, as the speech-recognition
    #: pass produces them (card ``features: "window"``); False: on each clip encoded alone.
    window_features: bool = False

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Class scores [shape=(n, n_classes)] for features [shape=(n, d)] (or one [d] vector)."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"head {self.name!r} expects {self.mean.shape[0]} features, got {x.shape[1]}")
        return ((x - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict_native(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities over :attr:`labels` [shape=(n, n_classes)]."""
        z = self.logits(features) / self.temperature
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def predict_shared(self, features: np.ndarray) -> np.ndarray:
        """Probabilities over :data:`~affectlens.core.labels.LABELS` [shape=(n, 7)] (calm -> neutral)."""
        native = self.predict_native(features)
        return np.stack([to_shared_probs(row, self.labels, self.label_mapping) for row in native])


def load_head(name_or_path: str = DEFAULT_MODEL) -> EmotionHead:
    """Load a head through the model registry (checksums verified, arrays cached per process)."""
    from ...models.registry import get_card, load_arrays

    card = get_card(name_or_path)
    file = card.extra.get("head_file", "head.npz")
    arrays = load_arrays(name_or_path, file)
    try:
        return EmotionHead(
            name=card.name,
            labels=tuple(str(x) for x in arrays["labels"]),
            label_mapping=card.label_mapping or "ravdess",
            mean=arrays["mean"].astype(np.float64),
            scale=arrays["scale"].astype(np.float64),
            coef=arrays["coef"].astype(np.float64),
            intercept=arrays["intercept"].astype(np.float64),
            temperature=float(arrays["temperature"]),
            layers=tuple(int(x) for x in arrays["layers"]),
            normalise_level=bool(card.extra.get("normalise_level", True)),
            reliability_scale=float(card.extra.get("reliability_scale", 1.0)),
            window_features=card.extra.get("features", "clip") == "window",
        )
    except KeyError as e:
        raise ModelError(f"model {card.name!r}: {file} lacks array {e}") from e
