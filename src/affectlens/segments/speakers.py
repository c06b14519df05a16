"""Best-effort speaker turns when nothing names the speakers (no subtitles, no diarisation model).

No pretrained speaker-embedding model installs offline, so this is a small classical system
trained here on RAVDESS's 24 actors (``models/speaker-split``, see its card):

1. **Voice print** per utterance (:func:`voice_print`): mean and standard deviation of each
   of whisper's 80 log-mel bands over the utterance's sounding frames: the spectral envelope
   of the voice (vocal tract length, breathiness, pitch region) and the channel.
2. **Projection** learned with shrinkage LDA to separate actors regardless of the emotion
   they act, then length-normalised.
3. **Clustering**: average-linkage agglomerative clustering on cosine distance, cut at the
   card's threshold (chosen by held-out-actor cross-validation); clusters are named
   ``S1``, ``S2``... in order of first appearance.

What to expect (``benchmarks/voice_speakers.py``): on conversations of held-out RAVDESS
actors, two speakers are told apart far better than chance and three or more much less
reliably; speakers of the same sex who act strong emotions are confused most. Treat the
labels as a hint, not as diarisation: prosody baselines and the words' same/other-speaker
context use them, and every result that used them carries a warning saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..core.types import Segment

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
DEFAULT_MODEL = "speaker-split"
#: Less sounding audio than this (s) and an utterance gets no voice print (and no speaker).
MIN_SECONDS = 0.5
WARNING = ("speakers S1, S2... were estimated from the voice alone (best effort; no subtitles named them): "
           "pass subtitles with speaker names for reliable turns")


def voice_print(audio: np.ndarray) -> np.ndarray | None:
    """[shape=(160,)] log-mel band means and standard deviations over the sounding frames.

    None when the audio holds less than :data:`MIN_SECONDS` of sound.
    """
    from ..modalities.voice.features import active_speech

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    active = active_speech(audio)
    if active.sum() * 0.02 < MIN_SECONDS:
        return None
    mel = _mel()(audio)  # 100 frames/s; the gate runs at 50
    keep = np.repeat(active, 2)[: mel.shape[1]]
    frames = mel[:, : len(keep)][:, keep]
    return np.concatenate([frames.mean(1), frames.std(1)]).astype(np.float32)


@lru_cache(maxsize=1)
def _mel():
    """Whisper's 80-band log-mel (the same extractor the encoder uses, without its weights)."""
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor(feature_size=80)


@dataclass(frozen=True)
class SpeakerModel:
    """Standardiser + projection + clustering threshold, as trained by ``training/speaker_split.py``."""

    mean: np.ndarray
    scale: np.ndarray
    projection: np.ndarray  # [dims, 160]
    threshold: float  # cosine distance at which clusters stop merging

    def embed(self, prints: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(prints) - self.mean) / self.scale) @ self.projection.T
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)

    def cluster(self, prints: np.ndarray) -> np.ndarray:
        """Cluster index per row (0, 1, ... in order of first appearance)."""
        if len(prints) == 0:
            return np.zeros(0, dtype=int)
        if len(prints) == 1:
            return np.zeros(1, dtype=int)
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(self.embed(prints), method="average", metric="cosine")
        raw = fcluster(tree, t=self.threshold, criterion="distance")
        order: dict[int, int] = {}
        return np.array([order.setdefault(int(c), len(order)) for c in raw])


@lru_cache(maxsize=2)
def load_speaker_model(name: str = DEFAULT_MODEL) -> SpeakerModel:
    from ..models.registry import get_card, load_arrays

    card = get_card(name)
    arrays = load_arrays(name, card.extra.get("file", "projection.npz"))
    return SpeakerModel(arrays["mean"].astype(np.float64), arrays["scale"].astype(np.float64),
                        arrays["projection"].astype(np.float64), float(card.extra["threshold"]))


def estimate_speakers(audio: np.ndarray, segments: Sequence[Segment], *, model: str = DEFAULT_MODEL) -> list[Segment]:
    """``segments`` with ``speaker`` set to ``S1``, ``S2``... by voice; unchanged when any
    segment already names a speaker. Segments too short for a voice print keep ``None``."""
    if any(s.speaker for s in segments):
        return list(segments)
    prints, owners = [], []
    for pos, seg in enumerate(segments):
        vp = voice_print(audio[int(max(0.0, seg.start) * SAMPLE_RATE):int(max(0.0, seg.end) * SAMPLE_RATE)])
        if vp is not None:
            prints.append(vp)
            owners.append(pos)
    if len(prints) < 2:
        return list(segments)
    labels = load_speaker_model(model).cluster(np.stack(prints))
    out = list(segments)
    for pos, k in zip(owners, labels, strict=True):
        out[pos] = replace(out[pos], speaker=f"S{k + 1}")
    log.info("speakers: %d utterances -> %d estimated speaker(s)", len(owners), int(labels.max()) + 1)
    return out
