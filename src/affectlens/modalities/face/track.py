"""Give each face a stable id across frames: box matching, shot cuts and re-identification.

Faces in talking-head and interview video move little between sampled frames (0.1 s at the
default 10 frames/s), so within a shot a greedy box-overlap / centre-distance match is enough
and costs nothing. Two things break it, and both are handled when the frame is given:

* **A face that leaves and comes back** (a cut-away, a turn out of the frame) ends its track
  after ``max_gap`` seconds; when a face starts a new track, its **appearance embedding** is
  compared with those of the tracks that ended, and a close one gives it back its old id.
* **A hard cut** to another shot would let a different person standing where the last one
  stood inherit that id by position. A cut is seen as a jump in a 32x18 thumbnail of the whole
  frame (under 0.2 ms); at a cut every track ends, so the faces after it go through the same
  re-identification.

The embedding (:func:`appearance`) needs no model weights (no face-recognition model works
offline here): the face is aligned on its eyes into a 64x96 crop reaching from the hair to the
collar, and described by (a) hue-saturation histograms of three bands (hair, face, neck and
clothes: what tells people apart within one video), (b) the mean Lab colour of each band and
(c) a HOG of the grey face. Each part is compared by cosine similarity and the three are
averaged, the histograms counting twice (:func:`similarity`). It is computed only when a
track starts and then every ``embed_every`` seconds of that track (about 0.7 ms each), never
every frame. A face is re-identified when its similarity to an ended track reaches
:data:`REID_THRESHOLD` (chosen on the demo clips, between the highest different-person and the
lowest same-person similarity; measured on MER2023 cut-aways in ``benchmarks/face_reid.py``);
two faces seen in the same frame are never given one id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .detect import box_iou

Box = tuple[float, float, float, float]

#: Aligned crop: width x height in pixels; the eyes sit at these positions (x as a fraction of
#: the width, y of the height), with this many pixels between them.
CROP_W, CROP_H = 64, 96
EYE_Y = 0.36
EYE_DIST = 24.0
#: Bands of the crop (rows): hair and forehead, face, chin to collar.
BANDS = ((0, 28), (28, 70), (70, 96))
#: A track keeps its latest embeddings, up to this many (about 4 KB each), and is compared by their mean.
KEEP_EMBEDDINGS = 8
#: Mean absolute difference of the grey 32x18 thumbnails (0..255) above which two frames are a
#: cut. Measured at 12.5 frames/s: within a shot of the demo and MER2023 clips mostly under 10
#: (up to 23 and 34 in two TV clips, which may hold cuts of their own); at the cuts of
#: ``benchmarks/face_reid.py`` 28-140 (dark shots change least). A cut taken for nothing costs
#: one embedding and a re-identification.
CUT_THRESHOLD = 20.0


@dataclass
class _Track:
    face_id: int
    box: Box
    last_time: float
    start_time: float
    hits: int = 1
    embeddings: list[np.ndarray] = field(default_factory=list)
    embedded_at: float = -np.inf

    def embedding(self) -> np.ndarray | None:
        return np.mean(self.embeddings, axis=0) if self.embeddings else None


def _match_cost(a: Box, b: Box) -> float:
    """0 (same place) .. 1+ (unrelated): 1 - IoU, or the centre distance in face sizes."""
    iou = box_iou(a, b)
    dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
    dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
    dist = float(np.hypot(dx, dy)) / max(1.0, (a[2] + a[3] + b[2] + b[3]) / 4)
    return min(1.0 - iou, dist)


_HOG = None


def _hog():
    global _HOG
    if _HOG is None:
        import cv2

        _HOG = cv2.HOGDescriptor((48, 48), (16, 16), (8, 8), (8, 8), 9)
    return _HOG


def aligned_crop(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The face aligned on its eye-corner midpoints into a ``CROP_H x CROP_W`` RGB crop."""
    import cv2

    p = np.asarray(landmarks, dtype=np.float64)[:, :2]
    right = (p[33] + p[133]) / 2  # the person's right eye: the image's left
    left = (p[263] + p[362]) / 2
    d = left - right
    scale = EYE_DIST / max(float(np.hypot(*d)), 1e-6)
    angle = float(np.arctan2(d[1], d[0]))
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    mid = (left + right) / 2
    target = np.array([CROP_W / 2, EYE_Y * CROP_H])
    # x' = R x + t with R = scale * rotation(-angle): maps the eye line to horizontal
    m = np.array([[c, s, 0.0], [-s, c, 0.0]])
    m[:, 2] = target - m[:, :2] @ mid
    rgb = image if image.ndim == 3 else np.dstack([image] * 3)
    return cv2.warpAffine(np.ascontiguousarray(rgb[:, :, :3]), m, (CROP_W, CROP_H), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def appearance(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Appearance embedding of one face (see the module doc): a 1-D float32 vector, parts
    L2-normalised; compare two with :func:`similarity`."""
    import cv2

    crop = aligned_crop(image, landmarks)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    hists, means = [], []
    for y0, y1 in BANDS:
        h = cv2.calcHist([hsv[y0:y1]], [0, 1], None, [12, 4], [0, 180, 0, 256]).reshape(-1)
        hists.append(np.sqrt(h / max(h.sum(), 1.0)))  # Hellinger: cosine of square roots
        means.append(lab[y0:y1].reshape(-1, 3).mean(axis=0) / 255.0)
    grey = cv2.cvtColor(crop[BANDS[1][0] - 8: BANDS[1][0] + 40, 8:56], cv2.COLOR_RGB2GRAY)
    hog = _hog().compute(np.ascontiguousarray(grey)).reshape(-1)
    parts = [np.concatenate(hists), np.concatenate(means) - 0.5, hog]
    return np.concatenate([x / max(float(np.linalg.norm(x)), 1e-9) for x in parts]).astype(np.float32)


def _part_slices() -> list[slice]:
    n_hist, n_mean = 12 * 4 * len(BANDS), 3 * len(BANDS)
    return [slice(0, n_hist), slice(n_hist, n_hist + n_mean), slice(n_hist + n_mean, None)]


_PARTS = _part_slices()


#: Weights of the parts (colour histograms, mean colours, HOG) in :func:`similarity`. On the
#: demo faces the histograms alone separated people best and the HOG worst (it moves with pose
#: and expression), see ``benchmarks/face_reid.py``.
PART_WEIGHTS = (2.0, 1.0, 1.0)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Weighted mean cosine similarity of the embeddings' parts: about 1 for the same face in
    the same light, lower for another person."""
    sims = []
    for sl in _PARTS:
        x, y = a[sl], b[sl]
        sims.append(float(x @ y) / max(float(np.linalg.norm(x) * np.linalg.norm(y)), 1e-9))
    return float(np.average(sims, weights=PART_WEIGHTS))


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A 32x18 grey thumbnail of a frame (float32), for cut detection."""
    import cv2

    step = max(1, min(image.shape[0] // 72, image.shape[1] // 128))  # cheap pre-decimation
    small = np.ascontiguousarray(image[::step, ::step])
    if small.ndim == 3:
        small = cv2.cvtColor(np.ascontiguousarray(small[:, :, :3]), cv2.COLOR_RGB2GRAY)
    return cv2.resize(small, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)


class FaceTracker:
    """Assign ``face_id``s to the boxes of successive frames.

    Parameters
    ----------
    max_gap : float, default=1.0
        Seconds a track survives without a matching face.
    max_cost : float, default=0.7
        Matches costlier than this (little overlap and a centre more than 0.7 face sizes away)
        start a new track instead.
    reid_threshold : float or None, default=REID_THRESHOLD
        Appearance similarity at or above which a new track takes the id of an ended one
        (None: :data:`REID_THRESHOLD`; above 1: never). Needs the frame and landmarks in
        :meth:`update`.
    embed_every : float, default=2.0
        Seconds between two embeddings of a running track (the first is taken when it starts).
    memory : float, default=600.0
        Seconds an ended track stays a candidate for re-identification.
    """

    def __init__(self, *, max_gap: float = 1.0, max_cost: float = 0.7, reid_threshold: float | None = None,
                 embed_every: float = 2.0, memory: float = 600.0) -> None:
        self.max_gap = max_gap
        self.max_cost = max_cost
        self.reid_threshold = REID_THRESHOLD if reid_threshold is None else reid_threshold
        self.embed_every = embed_every
        self.memory = memory
        self.reset()

    def reset(self) -> None:
        self._tracks: list[_Track] = []
        self._ended: list[_Track] = []
        self._next_id = 0
        self._thumb: np.ndarray | None = None
        #: Counters for this file: cuts seen, embeddings computed, tracks given back an old id.
        self.cuts = 0
        self.embeddings = 0
        self.reidentified = 0

    def _end(self, tracks: list[_Track]) -> None:
        self._ended += [t for t in tracks if t.embeddings]

    def _is_cut(self, image: np.ndarray) -> bool:
        thumb = thumbnail(image)
        prev, self._thumb = self._thumb, thumb
        return prev is not None and float(np.abs(thumb - prev).mean()) > CUT_THRESHOLD

    def update(self, time: float, boxes: Sequence[Box], image: np.ndarray | None = None,
               landmarks: Sequence[np.ndarray] | None = None) -> list[int]:
        """Face ids for ``boxes`` seen at ``time`` (one per box, in the same order).

        With the frame (``image``, RGB) and each face's ``landmarks`` (the mesh, in frame
        pixels), cuts end every track and new tracks are re-identified by appearance.
        """
        if image is not None and self._is_cut(image):
            self.cuts += 1
            self._end(self._tracks)
            self._tracks = []
        alive = [t for t in self._tracks if time - t.last_time <= self.max_gap]
        self._end([t for t in self._tracks if time - t.last_time > self.max_gap])
        self._ended = [t for t in self._ended if time - t.last_time <= self.memory]
        self._tracks = alive
        pairs = sorted(
            (_match_cost(t.box, b), ti, bi) for ti, t in enumerate(self._tracks) for bi, b in enumerate(boxes)
        )
        ids: list[int | None] = [None] * len(boxes)
        tracks: list[_Track | None] = [None] * len(boxes)
        used: set[int] = set()
        for cost, ti, bi in pairs:
            if cost > self.max_cost or ti in used or ids[bi] is not None:
                continue
            track = self._tracks[ti]
            track.box, track.last_time, track.hits = tuple(boxes[bi]), time, track.hits + 1
            ids[bi], tracks[bi] = track.face_id, track
            used.add(ti)
        can_embed = image is not None and landmarks is not None and len(landmarks) == len(boxes)
        for bi, box in enumerate(boxes):
            if ids[bi] is not None:
                continue
            track = _Track(-1, tuple(box), time, time)
            if can_embed:
                track.embeddings.append(self._embed(image, landmarks[bi]))
                track.embedded_at = time
                old = self._reidentify(track.embeddings[0], {i for i in ids if i is not None})
                if old is not None:  # the face is back: its id, and its embeddings for next time
                    track.face_id, track.hits = old.face_id, old.hits + 1
                    track.embeddings = old.embeddings[-(KEEP_EMBEDDINGS - 1):] + track.embeddings
            if track.face_id < 0:
                track.face_id = self._next_id
                self._next_id += 1
            self._tracks.append(track)
            ids[bi], tracks[bi] = track.face_id, track
        if can_embed:  # refresh running tracks' embeddings now and then
            for bi, track in enumerate(tracks):
                if track is not None and time - track.embedded_at >= self.embed_every:
                    track.embeddings = track.embeddings[-(KEEP_EMBEDDINGS - 1):] + [self._embed(image, landmarks[bi])]
                    track.embedded_at = time
        return [int(i) for i in ids]  # type: ignore[arg-type]

    def _embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        self.embeddings += 1
        return appearance(image, landmarks)

    def _reidentify(self, embedding: np.ndarray, taken: set[int]) -> _Track | None:
        """The most similar ended track at or above the threshold (taken off the ended list), else None.

        Ids that are on screen now (running tracks, faces of this frame) are never reused.
        """
        taken = taken | {t.face_id for t in self._tracks}
        best, best_sim = None, self.reid_threshold
        for t in self._ended:
            if t.face_id in taken:
                continue
            e = t.embedding()
            sim = similarity(embedding, e) if e is not None else -1.0
            if sim >= best_sim:
                best, best_sim = t, sim
        if best is not None:
            self.reidentified += 1
            self._ended = [t for t in self._ended if t.face_id != best.face_id]
        return best


#: See :class:`FaceTracker` (set from ``benchmarks/face_reid.py``'s calibration on the demo clips).
REID_THRESHOLD = 0.86
