"""Per-frame face observations stored column by column.

Why: an hour of video at 10 frames/s gives about 36,000 face rows. As one
:class:`~affectlens.core.types.FaceObservation` each (two dicts, tuples, boxed floats) they
took about 2 KB a row, 75 MB built at once at the very end of the analysis, which was the peak
of a one-hour run. Here the same rows are 36 numbers in numpy arrays (about 290 bytes a row);
a :class:`FaceObservation` is made only when a row is read, and :meth:`FaceTable.to_frame`
builds the DataFrame straight from the columns. The table is a read-only
``Sequence[FaceObservation]``, so code that iterates observations does not change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

import numpy as np

from .labels import LABELS
from .types import FaceObservation

if TYPE_CHECKING:
    import pandas as pd

#: Decimals kept per column (what the JSON and the tables show).
DECIMALS = {"box": 1, "detection_score": 4, "aus": 3, "expression": 4, "head_pose": 2, "mouth_open": 4}
FRAME_COLUMNS = ("time", "frame_index", "face_id", "x", "y", "width", "height", "score",
                 "yaw", "pitch", "roll", "mouth_open")


@dataclass(frozen=True, eq=False)
class FaceTable(Sequence[FaceObservation]):
    """One row per face per analysed frame, in columns.

    Attributes
    ----------
    frame_index, time, face_id : np.ndarray [shape=(n,)]
    box : np.ndarray [shape=(n, 4)]
        x, y, width, height in pixels.
    detection_score : np.ndarray [shape=(n,)]
    aus : np.ndarray [shape=(n, len(au_names))]
        AU intensities 0..5 relative to the face's own neutral.
    au_names : tuple of str
    expression : np.ndarray [shape=(n, len(LABELS))]
        Probabilities over :data:`LABELS`; a row of NaN where no classifier ran.
    head_pose : np.ndarray [shape=(n, 3)]
        Yaw, pitch, roll in degrees.
    mouth_open : np.ndarray [shape=(n,)]
    """

    frame_index: np.ndarray
    time: np.ndarray
    face_id: np.ndarray
    box: np.ndarray
    detection_score: np.ndarray
    aus: np.ndarray
    au_names: tuple[str, ...]
    expression: np.ndarray
    head_pose: np.ndarray
    mouth_open: np.ndarray

    @classmethod
    def build(cls, *, frame_index, time, face_id, box, detection_score, aus, au_names: Sequence[str],
              expression, head_pose, mouth_open) -> FaceTable:
        """A table from array-likes, rounded as the outputs show them (see :data:`DECIMALS`)."""
        n = len(time)

        def col(values, width: int | None, decimals: int | None = None, dtype=np.float64) -> np.ndarray:
            shape = (n,) if width is None else (n, width)
            a = np.asarray(values, dtype=dtype).reshape(shape)
            return np.round(a, decimals) if decimals is not None else a

        return cls(
            frame_index=col(frame_index, None, dtype=np.int64), time=col(time, None),
            face_id=col(face_id, None, dtype=np.int64), box=col(box, 4, DECIMALS["box"]),
            detection_score=col(detection_score, None, DECIMALS["detection_score"]),
            aus=col(aus, len(au_names), DECIMALS["aus"]), au_names=tuple(au_names),
            expression=col(expression, len(LABELS), DECIMALS["expression"]),
            head_pose=col(head_pose, 3, DECIMALS["head_pose"]), mouth_open=col(mouth_open, None, DECIMALS["mouth_open"]),
        )

    @classmethod
    def empty(cls, au_names: Sequence[str] = ()) -> FaceTable:
        return cls.build(frame_index=[], time=[], face_id=[], box=np.zeros((0, 4)), detection_score=[],
                         aus=np.zeros((0, len(au_names))), au_names=au_names, expression=np.zeros((0, len(LABELS))),
                         head_pose=np.zeros((0, 3)), mouth_open=[])

    def __len__(self) -> int:
        return len(self.time)

    @overload
    def __getitem__(self, i: int) -> FaceObservation: ...
    @overload
    def __getitem__(self, i: slice) -> list[FaceObservation]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"row {i} of a table of {n}")
        i %= n
        expr = self.expression[i]
        return FaceObservation(
            frame_index=int(self.frame_index[i]), time=float(self.time[i]), face_id=int(self.face_id[i]),
            box=tuple(float(v) for v in self.box[i]), detection_score=float(self.detection_score[i]),
            aus={a: float(v) for a, v in zip(self.au_names, self.aus[i], strict=True)},
            expression={} if np.isnan(expr).any() else {k: float(v) for k, v in zip(LABELS, expr, strict=True)},
            head_pose=tuple(float(v) for v in self.head_pose[i]), mouth_open=float(self.mouth_open[i]),
        )

    def __iter__(self) -> Iterator[FaceObservation]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"FaceTable({len(self)} rows, {len(set(self.face_id.tolist()))} face(s))"

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in ("frame_index", "time", "face_id", "box", "detection_score",
                                                     "aus", "expression", "head_pose", "mouth_open"))

    def to_frame(self) -> pd.DataFrame:
        """The rows as :meth:`Result.frames` shows them: pose, box, AUs (sorted), ``expr_<label>``."""
        import pandas as pd

        x, y, w, h = self.box.T
        yaw, pitch, roll = self.head_pose.T
        columns: dict[str, np.ndarray] = {
            "time": self.time, "frame_index": self.frame_index, "face_id": self.face_id,
            "x": x, "y": y, "width": w, "height": h, "score": self.detection_score,
            "yaw": yaw, "pitch": pitch, "roll": roll, "mouth_open": self.mouth_open,
        }
        if len(self):
            order = sorted(range(len(self.au_names)), key=lambda k: self.au_names[k])
            columns.update({self.au_names[k]: self.aus[:, k] for k in order})
            if not np.isnan(self.expression).all():
                columns.update({f"expr_{k}": self.expression[:, j] for j, k in enumerate(LABELS)})
        return pd.DataFrame(columns)
