"""Spot micro-expressions: facial movements that rise and fall again within about 0.5 s.

Why this method: a micro-expression is defined by its time course (onset -> apex -> offset in
<= 0.5 s), not by its shape, so it is spotted on each face's AU-intensity series by *temporal
contrast*: at every frame and for each AU,

    contrast(t) = x(t) - max(x(t - h), x(t + h)),   h = ``half_window`` (0.3 s)

which is high only when the AU is stronger than it is both 0.3 s before and 0.3 s after, i.e.
for a brief bump. A macro-expression that lasts a second or more is high on one side at least,
so its contrast stays near zero (only its rise is seen by plain frame differencing, the usual
source of false spots). A frame's *strength* is the sum of the positive contrasts of all
trigger AUs: a real expression moves several AUs at once, mesh jitter and single-feature
twitches move one. On spliced real frames (``benchmarks/face_micro.py``) the strength inside
inserted expressions was 12-24 and at most 6.3 elsewhere in a crying face, hence the default
``threshold`` of 8. Frames whose strength passes it and is a local maximum become apexes, the
strongest first: a weaker apex within two half-windows of a stronger one is dropped. Onset and
offset are where the leading AU falls back below half of its rise; spots longer than
``max_duration`` are dropped.

Blinks (AU45) and lips parting / jaw drop (AU25, AU26), which move fast during normal speech and
blinking, are never the trigger of a spot (they may be listed with one). The series needs the
full frame rate (>= ``min_fps``): at 10 frames/s a 0.3 s movement is 3 samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.types import MicroExpression
from .aus import AU_NAMES

#: AUs that do not trigger a spot (blinks and speech movements).
NON_TRIGGER: frozenset[str] = frozenset({"AU45", "AU25", "AU26"})


def _median3(x: np.ndarray) -> np.ndarray:
    """Median over 3 consecutive frames per column: removes single-frame mesh jitter."""
    if len(x) < 3:
        return x
    padded = np.concatenate([x[:1], x, x[-1:]])
    return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


def spot_micro_expressions(
    face_id: int,
    times: Sequence[float],
    aus: np.ndarray,
    *,
    au_names: Sequence[str] = AU_NAMES,
    half_window: float = 0.3,
    threshold: float = 8.0,
    max_duration: float = 0.5,
    min_fps: float = 15.0,
) -> list[MicroExpression]:
    """Micro-expressions of one face track.

    Parameters
    ----------
    face_id : int
        Track id written into the records.
    times : sequence of float [shape=(n,)]
        Frame times in seconds, increasing.
    aus : np.ndarray [shape=(n, len(au_names))]
        AU intensities (0..5) at those times.
    threshold : float, default=8.0
        Minimum strength: summed positive temporal contrast of the trigger AUs (intensity units).

    Returns
    -------
    list of MicroExpression
        In time order.
    """
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n < 5:
        return []
    fps = 1.0 / float(np.median(np.diff(t)))
    if fps < min_fps:
        return []
    h = max(1, int(round(half_window * fps)))
    if n <= 2 * h:  # a track shorter than onset + offset context cannot show a brief burst
        return []
    x = _median3(np.asarray(aus, dtype=np.float64))
    before = np.concatenate([np.repeat(x[:1], h, axis=0), x[:-h]])
    after = np.concatenate([x[h:], np.repeat(x[-1:], h, axis=0)])
    contrast = x - np.maximum(before, after)
    trigger = np.array([a not in NON_TRIGGER for a in au_names])
    strength = np.where(trigger, np.clip(contrast, 0.0, None), 0.0).sum(axis=1)
    lead = np.where(trigger, contrast, -np.inf).argmax(axis=1)

    # Non-maximum suppression, strongest first: within 2 half-windows only the strongest apex
    # stands (in time order, a weak twitch just before a real expression would hide it).
    candidates = [i for i in range(h, n - h)
                  if strength[i] >= threshold and strength[i] >= strength[i - h: i + h + 1].max()]
    spots: list[MicroExpression] = []
    for i in sorted(candidates, key=lambda c: -strength[c]):
        if any(abs(t[i] - s.apex) < 2 * half_window for s in spots):
            continue
        k = lead[i]
        level = max(before[i, k], after[i, k])
        half = level + 0.5 * (x[i, k] - level)
        a = i
        while a > 0 and x[a - 1, k] > half and t[i] - t[a - 1] <= max_duration:
            a -= 1
        b = i
        while b < n - 1 and x[b + 1, k] > half and t[b + 1] - t[i] <= max_duration:
            b += 1
        onset, offset = float(t[max(0, a - 1)]), float(t[min(n - 1, b + 1)])
        if offset - onset > max_duration + 1.5 / fps:
            continue
        listed = tuple(au_names[j] for j in np.argsort(-contrast[i]) if contrast[i, j] >= 1.0)
        # intensity: the leading AU's rise above its surroundings, on the 0..5 AU scale
        spots.append(MicroExpression(face_id=face_id, onset=onset, apex=float(t[i]), offset=offset,
                                     aus=listed, intensity=round(float(contrast[i, k]), 3)))
    return sorted(spots, key=lambda s: s.apex)
