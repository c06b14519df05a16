"""Find faces in an RGB frame with MediaPipe's BlazeFace detectors.

MediaPipe ships two detectors: a *short-range* model (128 px input, faces within about 2 m,
i.e. large in the frame) and a *full-range* model (192 px input, small faces). Measured on the
demo media: the short-range one finds 3 of the 5 faces of ``multi_face.jpg`` (scores 0.56-0.58)
where the full-range one finds all 5 (0.78-0.93); on the close-up Pexels clip the short-range
one scores higher (0.89-0.98 vs 0.63-0.91). Both cost 1-3 ms per 640x360 frame, so
:class:`FaceDetector` picks per frame size: the full-range model always runs, and the
short-range one also runs when the frame is small enough that faces are probably close-ups
(short side <= ``close_up_side``) or when the full-range one found nothing; their boxes are
merged by non-maximum suppression.

Very large frames (4K photos) are downscaled to ``max_side`` before detection; boxes come back
in the original pixels. Grey, grey+alpha and RGBA images are converted to RGB first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """One detected face, in pixels of the frame it was found in.

    ``keypoints`` are BlazeFace's six points ``[shape=(6, 2)]``: subject's right eye, left eye,
    nose tip, mouth centre, right ear tragion, left ear tragion (x, y).
    """

    box: tuple[float, float, float, float]  # x, y, width, height
    score: float
    keypoints: np.ndarray


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Any uint8 grey / grey+alpha / RGB / RGBA image -> contiguous uint8 RGB ``[h, w, 3]``.

    Float images in [0, 1] are scaled to uint8, so callers may pass what their loader gave.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        scale = 255.0 if img.size and float(np.nanmax(img)) <= 1.0 else 1.0
        img = np.clip(img * scale, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 2:  # grey + alpha
        img = np.repeat(img[:, :, :1], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an image of shape (h, w), (h, w, 1..4); got {np.asarray(image).shape}")
    return np.ascontiguousarray(img)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def same_face(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two boxes are one face seen by the two detectors (their boxes differ in margin)."""
    if box_iou(a, b) >= 0.3:
        return True
    dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
    dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
    return float(np.hypot(dx, dy)) < 0.4 * min(a[2], a[3], b[2], b[3])


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


#: Frames wider than this (width / height) are searched in overlapping tiles of about 16:9:
#: BlazeFace squeezes the whole frame into its square input, so the faces of a side-by-side
#: video (two 16:9 shots: 32:9) shrink until one of them goes unseen (issue #32).
WIDE_ASPECT = 2.2


def _tiles(rgb: np.ndarray) -> list[tuple[int, np.ndarray, float, float]]:
    """(x offset, view, core start, core end) of each 16:9 tile of a very wide frame; tiles
    overlap by at least a quarter, and a face belongs to the tile whose core (up to the middle
    of each overlap) holds its centre, so a face cut by a tile's edge is taken from its
    neighbour. The frame itself otherwise."""
    h, w = rgb.shape[:2]
    if w <= WIDE_ASPECT * h:
        return [(0, rgb, -np.inf, np.inf)]
    tw = int(round(16 / 9 * h))
    n = int(np.ceil((w - tw) / (0.75 * tw))) + 1
    starts = [int(x) for x in np.linspace(0, w - tw, n).round()]
    cuts = [-np.inf] + [(starts[i + 1] + starts[i] + tw) / 2 for i in range(n - 1)] + [np.inf]
    return [(x, np.ascontiguousarray(rgb[:, x: x + tw]), cuts[i], cuts[i + 1]) for i, x in enumerate(starts)]


def _shifted(d: Detection, dx: float) -> Detection:
    x, y, bw, bh = d.box
    return Detection(box=(x + dx, y, bw, bh), score=d.score, keypoints=d.keypoints + np.array([dx, 0.0], np.float32))


class FaceDetector:
    """BlazeFace short- and full-range detectors, loaded on first use.

    Parameters
    ----------
    min_score : float, default=0.5
        Detections below this confidence are dropped.
    max_side : int, default=1920
        Frames whose long side exceeds this are downscaled before detection (the detectors
        look at 128-192 px anyway; downscaling first keeps the resize cheap and bounded).
    close_up_side : int, default=720
        Frames whose short side is at most this also run the short-range model.
    """

    def __init__(self, *, min_score: float = 0.5, max_side: int = 1920, close_up_side: int = 720) -> None:
        self.min_score = min_score
        self.max_side = max_side
        self.close_up_side = close_up_side
        self._models: dict[int, object] = {}

    def _model(self, selection: int):
        if selection not in self._models:
            import mediapipe as mp

            self._models[selection] = mp.solutions.face_detection.FaceDetection(
                model_selection=selection, min_detection_confidence=self.min_score
            )
        return self._models[selection]

    def _run(self, selection: int, rgb: np.ndarray, scale: float) -> list[Detection]:
        result = self._model(selection).process(rgb)
        h, w = rgb.shape[:2]
        out = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            box = (rb.xmin * w / scale, rb.ymin * h / scale, rb.width * w / scale, rb.height * h / scale)
            kps = np.array(
                [[k.x * w / scale, k.y * h / scale] for k in det.location_data.relative_keypoints], dtype=np.float32
            )
            if box[2] <= 1 or box[3] <= 1:
                continue
            out.append(Detection(box=box, score=float(det.score[0]), keypoints=kps))
        return out

    def close_up(self, shape: tuple[int, ...]) -> bool:
        """Whether frames of this ``(h, w, ...)`` shape are small enough for close-up faces,
        which the short-range model also looks for."""
        h, w = shape[:2]
        return min(h, w) * min(1.0, self.max_side / max(h, w)) <= self.close_up_side

    def __call__(self, image: np.ndarray, *, max_faces: int | None = None, only: int | None = None) -> list[Detection]:
        """Detect faces in ``image`` (any layout :func:`as_rgb` accepts), best first.

        ``only`` runs one model (0 short-range, 1 full-range) instead of the choice above: the
        periodic search for newcomers beside followed faces alternates them, half the cost.

        Returns
        -------
        list of Detection
            Boxes and keypoints in the pixels of ``image``; at most ``max_faces``.
        """
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = _resize(rgb, scale) if scale < 1.0 else rgb
        found = []
        for x0, tile, lo, hi in _tiles(small):
            if only is not None:
                got = self._run(only, tile, scale)
            else:
                got = self._run(1, tile, scale)
                if not got or self.close_up(rgb.shape):
                    got += self._run(0, tile, scale)
            got = [_shifted(d, x0 / scale) for d in got] if x0 else got
            found += [d for d in got if lo <= (d.box[0] + d.box[2] / 2) * scale < hi]
        kept: list[Detection] = []
        for det in sorted(found, key=lambda d: -d.score):
            if not any(same_face(det.box, k.box) for k in kept):
                kept.append(det)
        return kept[:max_faces] if max_faces else kept

    def close(self) -> None:
        """Free the MediaPipe graphs."""
        for model in self._models.values():
            model.close()
        self._models.clear()
