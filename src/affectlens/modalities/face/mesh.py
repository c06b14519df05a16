"""The 478-point MediaPipe face mesh (with irises), run on each detected face's crop.

Run on a whole group photo, the mesh's own detector finds one face of five; run on a crop
around each :class:`~affectlens.modalities.face.detect.Detection` it finds them all. So every
face is cut out as a square around its detection box (``expand`` times its size, padded with
black where it leaves the frame), resized to ``crop_side`` pixels (which also upscales small
faces to the size the mesh was trained on), meshed in static-image mode, and its landmarks are
mapped back to frame pixels. ``z`` is MediaPipe's relative depth, in the same pixel scale as x.

A mesh whose centre falls outside the detection box belongs to a neighbouring face that
entered the crop and is rejected.

In video, a face followed from frame to frame gets its own mesh graph in MediaPipe's tracking
mode (a *slot*): the crop is framed from the face's landmarks of the frame before, so the face
sits at the same place in every crop and the graph can reuse its previous landmarks instead of
running its internal detector again (about 3 ms instead of 4 ms per face on a 640x360 frame).
"""

from __future__ import annotations

import logging

import numpy as np

from .detect import Detection, as_rgb

log = logging.getLogger(__name__)

N_LANDMARKS = 478
#: Landmark indices used across the face package (MediaPipe canonical mesh numbering).
#: "right"/"left" are the subject's own sides (the right eye is on the image's left).
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner
LEFT_EYE_CORNERS = (263, 362)
RIGHT_IRIS, LEFT_IRIS = 468, 473


#: How a ``NormalizedLandmarkList`` serialises when every landmark sets x, y, z and nothing else:
#: per landmark, the list's field-1 tag (0x0A) and length (15), then x (tag 0x0D), y (0x15) and
#: z (0x1D), each a little-endian float32.
_WIRE = np.dtype([("tag", "u1"), ("size", "u1"), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"),
                  ("tz", "u1"), ("z", "<f4")])
_WIRE_TAGS = {"tag": 0x0A, "size": 15, "tx": 0x0D, "ty": 0x15, "tz": 0x1D}


def landmark_array(landmark_list) -> np.ndarray:
    """``[n, 3]`` float32 (x, y, z) of a MediaPipe ``NormalizedLandmarkList``.

    Read from its serialised bytes with one numpy view when they have the plain layout of
    :data:`_WIRE` (every tag checked), else landmark by landmark: 0.016 against 0.21 ms for the
    478 points, once a face a frame.
    """
    raw = landmark_list.SerializeToString()
    if raw and len(raw) % _WIRE.itemsize == 0:
        rec = np.frombuffer(raw, _WIRE)
        if all(bool((rec[field] == value).all()) for field, value in _WIRE_TAGS.items()):
            return np.stack([rec["x"], rec["y"], rec["z"]], axis=1)
    return np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32).reshape(-1, 3)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right eye, left eye) centres ``[2]`` in pixels: the iris centres, or the corners' mean."""
    if landmarks.shape[0] > LEFT_IRIS:
        return landmarks[RIGHT_IRIS, :2], landmarks[LEFT_IRIS, :2]
    r = landmarks[list(RIGHT_EYE_CORNERS), :2].mean(axis=0)
    left = landmarks[list(LEFT_EYE_CORNERS), :2].mean(axis=0)
    return r, left


def square_crop(image: np.ndarray, centre: tuple[float, float], side: float, out: int) -> tuple[np.ndarray, float, float]:
    """Cut a ``side``-pixel square around ``centre`` (zero-padded), resized to ``out`` pixels.

    Returns the crop and its top-left corner (x0, y0) in frame pixels.
    """
    import cv2

    x0, y0 = centre[0] - side / 2, centre[1] - side / 2
    scale = out / side
    # An affine warp crops, pads and resizes in one pass without copying the frame.
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
    crop = cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return crop, x0, y0


class FaceMesher:
    """MediaPipe FaceMesh (``refine_landmarks=True``) applied to detection crops.

    Parameters
    ----------
    expand : float, default=1.9
        Crop side as a multiple of the detection box's longer side.
    crop_side : int, default=256
        Pixel size the crop is resized to before meshing.
    min_confidence : float, default=0.5
        The mesh graph's own detection confidence threshold inside the crop.
    """

    def __init__(self, *, expand: float = 1.9, crop_side: int = 256, min_confidence: float = 0.5) -> None:
        self.expand = expand
        self.crop_side = crop_side
        self.min_confidence = min_confidence
        self._mesh = None
        self._slots: dict[int, object] = {}

    def _model(self, slot: int | None = None):
        import mediapipe as mp

        if slot is None:
            if self._mesh is None:
                self._mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                    min_detection_confidence=self.min_confidence,
                )
            return self._mesh
        if slot not in self._slots:
            self._slots[slot] = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=self.min_confidence, min_tracking_confidence=0.5,
            )
        return self._slots[slot]

    def __call__(self, image: np.ndarray, detection: Detection, slot: int | None = None) -> np.ndarray | None:
        """Landmarks ``[shape=(478, 3)]`` float32 in frame pixels (x, y, z), or None if no mesh fits.

        ``slot`` names the tracking-mode graph of a face followed across video frames; None
        meshes the crop on its own (a still image, or a face seen for the first time).
        """
        rgb = as_rgb(image)
        x, y, w, h = detection.box
        side = self.expand * max(w, h)
        centre = (x + w / 2, y + h / 2)
        crop, x0, y0 = square_crop(rgb, centre, side, self.crop_side)
        result = self._model(slot).process(crop)
        if not result.multi_face_landmarks:
            return None
        pts = landmark_array(result.multi_face_landmarks[0])
        pts *= side
        pts[:, 0] += x0
        pts[:, 1] += y0
        cx, cy = pts[:, 0].mean(), pts[:, 1].mean()
        if not (x - 0.1 * w <= cx <= x + 1.1 * w and y - 0.1 * h <= cy <= y + 1.1 * h):
            log.debug("mesh centre (%.0f, %.0f) outside detection box %s: a neighbour's face", cx, cy, detection.box)
            return None
        return pts

    def close(self) -> None:
        """Close every graph (each holds threads and buffers); they reopen on next use."""
        for graph in [self._mesh, *self._slots.values()]:
            if graph is not None:
                graph.close()
        self._mesh = None
        self._slots.clear()


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """Tight (x, y, w, h) box around the mesh: steadier than the detector's box for tracking."""
    lo = landmarks[:, :2].min(axis=0)
    hi = landmarks[:, :2].max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


#: Median relation between MediaPipe's short-range detection box and the mesh's tight box,
#: measured on 40 faces of the demo media (Pexels clip, single_face.mp4, multi_face.jpg):
#: box side = 0.886 x mesh height, centre 0.031 mesh widths right and 0.057 mesh heights below
#: the mesh box centre. Mesh height (forehead to chin) is used because it does not shrink
#: when the head turns.
_DET_SIDE, _DET_DX, _DET_DY = 0.886, 0.031, 0.057


def detector_style_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """A square box framed like the short-range detector's, rebuilt from the mesh.

    The expression crop (:func:`~affectlens.modalities.face.crop.crop_face`) was calibrated on
    short-range detection boxes; a face found by the full-range detector (larger, higher boxes)
    would otherwise be framed differently. Rebuilding the box from the mesh gives every face the
    same framing whichever detector found it.
    """
    x, y, w, h = landmark_box(landmarks)
    side = _DET_SIDE * h
    cx = x + w / 2 + _DET_DX * w
    cy = y + h / 2 + _DET_DY * h
    return cx - side / 2, cy - side / 2, side, side
