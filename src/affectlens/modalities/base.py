"""The small interface every modality implements.

A modality sees the media in two ways, both optional:

1. **Streaming frames** (visual modalities): while the file is decoded once, the pipeline calls
   :meth:`Modality.observe_frame` for each frame sampled at :attr:`Modality.frame_rate`. The
   modality keeps only small per-frame records, so memory does not grow with frame size.
2. **The whole context** after decoding: the 16 kHz mono audio, the utterance segments and the
   media facts. :meth:`Modality.evidence` returns exactly one :class:`Evidence` per segment, in
   segment order — an explicit "no evidence" one when it had nothing to look at.

A new modality is a new folder with a class like this, added to :data:`MODALITIES`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..core.audio import Audio
from ..core.types import Evidence, MediaInfo, Segment, VideoFrame

SAMPLE_RATE = 16_000


@dataclass
class AnalysisContext:
    """Everything a modality may read when it judges the segments."""

    media: MediaInfo
    segments: Sequence[Segment]
    audio: Audio | None = None  # [shape=(n,)] mono at SAMPLE_RATE (slices read as float32), or None
    sample_rate: int = SAMPLE_RATE
    #: Per-run memo shared by modalities (e.g. whisper encoder states computed once for ASR
    #: and reused by the voice model). Keys are documented by whoever writes them.
    shared: dict[str, Any] = field(default_factory=dict)
    #: Threads this modality may use for its own pools (its branch's share of the budget).
    threads: int = 1

    def audio_slice(self, segment: Segment) -> np.ndarray:
        """The samples of one segment (empty when there is no audio)."""
        if self.audio is None:
            return np.zeros(0, dtype=np.float32)
        a = int(max(0.0, segment.start) * self.sample_rate)
        b = int(max(0.0, segment.end) * self.sample_rate)
        return self.audio[a:b]


class Modality(ABC):
    """One source of evidence (face, voice, words...)."""

    #: Stable name used in outputs (``face``, ``voice``, ``words``).
    name: ClassVar[str]
    #: Frames per second this modality wants during decoding; 0 = no frames; None = every frame.
    frame_rate: float | None = 0.0

    def check_models(self) -> None:  # noqa: B027  (optional hook)
        """Raise :class:`~affectlens.core.errors.ModelError` now if a model this modality cannot
        do without is missing or corrupt. Called once per :class:`~affectlens.pipeline.Pipeline`,
        before any decoding: a missing file must not surface an hour into a video. Models with a
        documented fallback (the words' TF-IDF, the face's AUs without the classifier) need not
        be checked here."""

    def load(self, *, threads: int = 1) -> None:  # noqa: B027  (optional hook)
        """Load this modality's models now rather than on its first file.

        Called by :meth:`~affectlens.pipeline.Pipeline.load`, which a long-lived worker calls
        when it starts. ``threads`` is the share a video with sound will give it (size pools
        from it as :meth:`start` does). A model with a documented fallback may fall back here
        as it would on a file; one that cannot load at all raises.
        """

    def start(self, media: MediaInfo, *, threads: int = 1) -> None:  # noqa: B027  (optional hook)
        """Called once per file before decoding starts; reset any per-file state here.

        ``threads`` is this modality's share of the thread budget for the file (size any
        pool it opens from it, never from the machine's core count).
        """

    def set_threads(self, threads: int) -> None:  # noqa: B027  (optional hook)
        """The share given at :meth:`start` changed mid-file (the other branch finished and
        left its threads). Called from another thread; apply it at the next convenient point."""

    def observe_frame(self, frame: VideoFrame) -> None:  # noqa: B027  (optional hook)
        """Called for each sampled frame, in time order, while the file is decoded."""

    @abstractmethod
    def evidence(self, context: AnalysisContext) -> list[Evidence]:
        """One :class:`Evidence` per segment of ``context.segments``, in the same order."""

    def timeline(self) -> Sequence[Any]:
        """Fine-grained records (dataclasses, or a compact table of them such as
        :class:`~affectlens.core.facetable.FaceTable`), e.g. one per face per frame."""
        return []

    def events(self) -> list[Any]:
        """Discrete events found along the way (dataclasses), e.g. micro-expressions."""
        return []

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Free what the instance holds open (graphs, sessions); it may be used again after."""


#: Registry of modality classes by name; each folder's ``__init__`` registers its own.
MODALITIES: dict[str, Callable[..., Modality]] = {}


def register_modality(cls: type[Modality]) -> type[Modality]:
    """Class decorator: make a modality available to the pipeline by its ``name``."""
    MODALITIES[cls.name] = cls
    return cls
