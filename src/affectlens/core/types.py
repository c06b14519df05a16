"""What flows between the stages: media -> segments -> evidence -> fusion -> explanation.

One frozen dataclass per stage boundary, so that a module can only hand the next stage what
it declares here. Probabilities are always over :data:`affectlens.core.labels.LABELS` and
stored as plain ``dict[str, float]`` so they serialise without ceremony.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from .labels import LABELS


class MediaKind(StrEnum):
    """What an input file turned out to hold."""

    VIDEO = "video"  # frames, with or without an audio track
    AUDIO = "audio"
    IMAGE = "image"
    TEXT = "text"  # subtitles / transcript CSV, no media


@dataclass(frozen=True)
class MediaInfo:
    """Facts about the input, read once when it is opened."""

    path: str
    kind: MediaKind
    duration: float  # seconds; 0 for an image
    has_audio: bool
    has_video: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0  # average frame rate of the video stream (0 when unknown/none)
    rotation: int = 0  # degrees the frames were rotated by to display upright
    video_codec: str | None = None
    audio_codec: str | None = None


@dataclass(frozen=True)
class VideoFrame:
    """One decoded, upright RGB frame with its presentation time."""

    index: int  # index among decoded frames of the stream
    time: float  # seconds from the start
    image: np.ndarray  # [shape=(height, width, 3)], uint8 RGB


@dataclass(frozen=True)
class Word:
    """A recognised word with its time span (from ASR) or None times (from plain text)."""

    text: str
    start: float | None = None
    end: float | None = None
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    """An utterance: the unit every modality is judged on and fused over.

    ``source`` says where its boundaries came from: ``subtitles``, ``vad`` (voice activity
    + ASR), ``window`` (fixed windows when nothing is said), ``text`` (transcript only) or
    ``image`` (a single still).
    """

    index: int
    start: float
    end: float
    source: str
    text: str | None = None
    speaker: str | None = None
    words: tuple[Word, ...] = ()
    language: str | None = None
    dialogue: str | None = None  # conversation id for text input; context never crosses it

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Cue:
    """One measured fact that evidence rests on, phrased so an explanation can cite it.

    ``name`` is a stable identifier (``AU12``, ``pitch_mean_rel``, ``word:sorry``), ``value``
    the measurement and ``description`` a short human phrase ("lip corners pulled up (AU12)
    at 2.3 of 5"). ``weight`` ranks how much the cue mattered for this modality's decision.
    """

    modality: str
    name: str
    value: float
    description: str
    weight: float = 0.0


@dataclass(frozen=True)
class Evidence:
    """What one modality says about one segment.

    ``available`` is False when the modality had nothing to look at (no face, silence, no
    words): ``probs`` is then None, ``reliability`` is 0 and ``reason`` says why. This is the
    explicit "no evidence" marker; fusion gives such a modality weight 0.
    """

    modality: str
    segment_index: int
    available: bool
    probs: dict[str, float] | None = None  # over LABELS
    reliability: float = 0.0  # 0..1: how much fusion may trust this (coverage x quality)
    cues: tuple[Cue, ...] = ()
    reason: str | None = None  # why unavailable, or a caveat
    model: str | None = None  # which model produced probs
    valence: float | None = None  # modality's own valence estimate in [-1, 1], if it has one
    emotion_words: tuple[tuple[str, float], ...] = ()  # open-vocabulary words with scores
    speaker: str | None = None  # e.g. the face track the utterance was attributed to

    @classmethod
    def missing(cls, modality: str, segment_index: int, reason: str) -> Evidence:
        return cls(modality=modality, segment_index=segment_index, available=False, reason=reason)

    @property
    def label(self) -> str | None:
        return None if not self.probs else max(self.probs, key=self.probs.__getitem__)

    @property
    def confidence(self) -> float:
        return 0.0 if not self.probs else max(self.probs.values())


@dataclass(frozen=True)
class FusedPrediction:
    """The combined judgement for one segment."""

    label: str
    probs: dict[str, float]
    valence: float
    arousal: float
    contributions: dict[str, float]  # modality -> share of the decision, sums to 1 over used ones
    conflict: bool = False
    conflict_detail: str | None = None
    emotion_words: tuple[tuple[str, float], ...] = ()  # open-vocabulary, ranked
    no_evidence: bool = False  # True when no modality had anything to say (label "unknown")

    @property
    def confidence(self) -> float:
        return 0.0 if self.no_evidence else self.probs.get(self.label, 0.0)


@dataclass(frozen=True)
class Explanation:
    """A plain-language account built only from cited cues.

    ``text`` comes from the templates (``source="template"``) or, when a language model was
    configured and every claim of its answer matched the cues, from that model
    (``source="llm"``). ``model`` names the model that was asked, also when its answer was not
    used; ``rejected`` then says why (unsupported claims, timeout...) and ``rejected_text``
    keeps the answer for auditing. ``open_vocabulary`` holds free-form emotion words the model
    proposed (AffectGPT style): a separate, unchecked proposal; the fused words are untouched.
    """

    text: str
    cues: tuple[Cue, ...] = ()
    source: str = "template"  # "template" | "llm"
    model: str | None = None  # the language model asked, if any
    rejected: str | None = None  # why the model's answer was not used
    rejected_text: str | None = None  # that answer, for auditing
    open_vocabulary: tuple[str, ...] = ()  # emotion words the model proposed


@dataclass(frozen=True)
class Utterance:
    """Everything affectlens concluded about one segment."""

    segment: Segment
    evidence: dict[str, Evidence]
    fused: FusedPrediction
    explanation: Explanation


@dataclass(frozen=True, slots=True)  # one per face per frame: an hour holds ~35,000
class FaceObservation:
    """One face in one analysed frame: the rows of :meth:`Result.frames`.

    ``aus`` are action-unit intensities on a 0..5 scale relative to the face's own neutral
    baseline; ``expression`` is the classifier's distribution over LABELS.
    """

    frame_index: int
    time: float
    face_id: int
    box: tuple[float, float, float, float]  # x, y, width, height in pixels
    detection_score: float
    aus: dict[str, float] = field(default_factory=dict)
    expression: dict[str, float] = field(default_factory=dict)
    head_pose: tuple[float, float, float] = (0.0, 0.0, 0.0)  # yaw, pitch, roll in degrees
    mouth_open: float = 0.0  # lip gap / inter-ocular distance, for speaker attribution


@dataclass(frozen=True)
class MicroExpression:
    """A brief facial movement: onset -> apex -> offset within about half a second."""

    face_id: int
    onset: float
    apex: float
    offset: float
    aus: tuple[str, ...]
    intensity: float


def to_plain(obj: Any) -> Any:
    """Dataclasses, enums, tuples and numpy scalars -> JSON-ready Python values."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float):
        return round(obj, 6)
    return obj


__all__ = [
    "LABELS", "MediaKind", "MediaInfo", "VideoFrame", "Word", "Segment", "Cue", "Evidence",
    "FusedPrediction", "Explanation", "Utterance", "FaceObservation", "MicroExpression", "to_plain",
]
