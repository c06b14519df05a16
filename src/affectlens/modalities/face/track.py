"""Give each face a stable id across frames: greedy IoU / centre-distance matching.

Faces in talking-head and interview video move little between sampled frames (0.1 s at the
default 10 frames/s), so a box-overlap tracker is enough and costs nothing; appearance
embeddings would need weights we do not have. A track ends when its face has not been seen
for ``max_gap`` seconds; a face that comes back later gets a new id (re-identification is out
of scope and said so, rather than guessed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .detect import box_iou

Box = tuple[float, float, float, float]


@dataclass
class _Track:
    face_id: int
    box: Box
    last_time: float
    hits: int = 1


def _match_cost(a: Box, b: Box) -> float:
    """0 (same place) .. 1+ (unrelated): 1 - IoU, or the centre distance in face sizes."""
    iou = box_iou(a, b)
    dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
    dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
    dist = float(np.hypot(dx, dy)) / max(1.0, (a[2] + a[3] + b[2] + b[3]) / 4)
    return min(1.0 - iou, dist)


class FaceTracker:
    """Assign ``face_id``s to the boxes of successive frames.

    Parameters
    ----------
    max_gap : float, default=1.0
        Seconds a track survives without a matching face.
    max_cost : float, default=0.7
        Matches costlier than this (little overlap and a centre more than 0.7 face sizes away)
        start a new track instead.
    """

    def __init__(self, *, max_gap: float = 1.0, max_cost: float = 0.7) -> None:
        self.max_gap = max_gap
        self.max_cost = max_cost
        self._tracks: list[_Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self._tracks = []
        self._next_id = 0

    def update(self, time: float, boxes: Sequence[Box]) -> list[int]:
        """Face ids for ``boxes`` seen at ``time`` (one per box, in the same order)."""
        self._tracks = [t for t in self._tracks if time - t.last_time <= self.max_gap]
        pairs = sorted(
            (_match_cost(t.box, b), ti, bi) for ti, t in enumerate(self._tracks) for bi, b in enumerate(boxes)
        )
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for cost, ti, bi in pairs:
            if cost > self.max_cost or ti in used or ids[bi] is not None:
                continue
            track = self._tracks[ti]
            track.box, track.last_time, track.hits = boxes[bi], time, track.hits + 1
            ids[bi] = track.face_id
            used.add(ti)
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                self._tracks.append(_Track(self._next_id, tuple(box), time))
                ids[bi] = self._next_id
                self._next_id += 1
        return [int(i) for i in ids]  # type: ignore[arg-type]
