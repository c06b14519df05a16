"""Utterances: the unit every modality is judged on.

Where boundaries come from, best first:

1. **Subtitles** (a person split the speech; speakers named).
2. **Speech recognition + voice activity**: whisper's timed pieces are sentence-like; pieces
   separated by a short pause are merged up to ``max_length``; voice-activity regions that
   whisper found no words in (crying, laughing, a foreign or whispered phrase) still become
   utterances, without text, so face and voice can speak about them.
3. **Fixed windows** when nothing is said, so a silent video still gets a timeline.

Speaker turns without subtitles are estimated afterwards, best effort, from the voice
(:mod:`.speakers`); the face stage also attributes each utterance to a visible face.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..core.types import Segment, Word
from .asr import Transcript
from .vad import SpeechRegion


def fixed_windows(duration: float, window: float = 2.0) -> list[Segment]:
    """Windows of ``window`` seconds covering ``duration`` (the last one may be shorter)."""
    if duration <= 0:
        return []
    count = max(1, math.ceil(duration / window - 1e-9))
    return [
        Segment(index=i, start=i * window, end=min(duration, (i + 1) * window), source="window")
        for i in range(count)
    ]


def from_speech(
    regions: Sequence[SpeechRegion],
    transcript: Transcript | None,
    *,
    merge_gap: float = 0.3,
    max_length: float = 15.0,
    min_uncovered: float = 0.5,
) -> list[Segment]:
    """Build utterances from ASR pieces and voice-activity regions (see module docstring)."""
    spans: list[tuple[float, float, str | None, tuple[Word, ...]]] = []
    if transcript is not None:
        for piece in transcript.pieces:
            start = piece.words[0].start if piece.words else piece.start
            end = piece.words[-1].end if piece.words else piece.end
            if (
                spans
                and spans[-1][2] is not None
                and start - spans[-1][1] <= merge_gap
                and end - spans[-1][0] <= max_length
            ):
                s, _, text, words = spans[-1]
                spans[-1] = (s, end, f"{text} {piece.text}", words + piece.words)
            else:
                spans.append((start, end, piece.text, piece.words))
    for region in regions:
        covered = sum(max(0.0, min(region.end, e) - max(region.start, s)) for s, e, _, _ in spans)
        if region.end - region.start - covered >= min_uncovered and covered < 0.5 * (region.end - region.start):
            start = region.start
            while region.end - start > 1e-6:
                end = min(region.end, start + max_length)
                spans.append((start, end, None, ()))
                start = end
    spans.sort(key=lambda s: s[0])
    language = transcript.language if transcript is not None else None
    return [
        Segment(index=i, start=s, end=e, source="vad", text=t, words=w, language=language if t else None)
        for i, (s, e, t, w) in enumerate(spans)
    ]


def reindex(segments: Sequence[Segment]) -> list[Segment]:
    """Return segments sorted by start with ``index`` equal to their position."""
    from dataclasses import replace

    ordered = sorted(segments, key=lambda s: (s.start, s.end))
    return [replace(seg, index=i) for i, seg in enumerate(ordered)]
