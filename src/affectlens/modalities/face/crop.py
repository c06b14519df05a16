"""The one face crop that the expression model sees, at training time and at run time.

An expression classifier is only as good as the agreement between the crops it was trained on
and the crops it is given. FER2013's faces are 48x48 grey images framed by the dataset's own
face detector; a video frame is a large colour image with a MediaPipe box. :func:`crop_face`
turns the latter into the former:

* **grey**, because FER2013 is grey and colour would be a cue the model never learned;
* **rolled level** on the eyes, so a tilted head does not look like a new expression;
* **scaled and centred from the detector box** with a margin measured on FER2013 itself: MediaPipe
  face detection (``model_selection=0``) run on FER2013 train images upscaled to 192x192 returns
  a square box whose median side is 0.892 of the image and whose centre sits 0.076 of the image
  below the image centre (564 sampled faces, 94 % found at ``min_detection_confidence=0.3``).
  Inverting those two numbers gives back FER2013's framing from any MediaPipe box.

The training script applies this same function to every FER2013 image (box and eyes from
MediaPipe on the upscaled image); images where no face is found are used whole, which *is* the
FER2013 framing by definition.

The box alone sets scale and centre; the eyes set only the roll angle. Eye distance shrinks
as the head turns (yaw), so using it for scale would zoom in on profile faces.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["CROP_SIZE", "BOX_TO_CROP", "BOX_CENTRE_DROP", "MAX_ROLL_DEG", "crop_face", "to_grey"]

#: Side of the square crop in pixels: FER2013's native resolution (more pixels add no detail
#: the training data has, only compute).
CROP_SIZE: int = 48

#: Crop side = box side * BOX_TO_CROP (1 / 0.892: FER2013's median MediaPipe box side).
BOX_TO_CROP: float = 1.0 / 0.892

#: The box centre lies this fraction of the crop side *below* the crop centre (FER2013 median:
#: faces are framed with a little more forehead than chin).
BOX_CENTRE_DROP: float = 0.076

#: Eye lines steeper than this are taken as a landmark error rather than a head roll.
MAX_ROLL_DEG: float = 45.0


def to_grey(image: np.ndarray) -> np.ndarray:
    """A 2-D uint8/float grey view of an RGB, RGBA or already grey image."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = np.ascontiguousarray(image[:, :, :3])
        if rgb.dtype not in (np.uint8, np.float32):
            rgb = rgb.astype(np.float32)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"image must be [H, W], [H, W, 3] or [H, W, 4]; got shape {image.shape}")


def _roll(left_eye: tuple[float, float] | None, right_eye: tuple[float, float] | None) -> float:
    """Head roll in degrees from two eye centres (0 when unknown or implausible)."""
    if left_eye is None or right_eye is None:
        return 0.0
    (x0, y0), (x1, y1) = left_eye, right_eye
    if x1 < x0:  # accept either order: the angle is taken from the image-left to the image-right eye
        x0, y0, x1, y1 = x1, y1, x0, y0
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or (x1 - x0) ** 2 + (y1 - y0) ** 2 < 1e-6:
        return 0.0
    angle = math.degrees(math.atan2(y1 - y0, x1 - x0))
    return angle if abs(angle) <= MAX_ROLL_DEG else 0.0


def crop_face(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    left_eye: tuple[float, float] | None = None,
    right_eye: tuple[float, float] | None = None,
    size: int = CROP_SIZE,
) -> np.ndarray:
    """Cut one face out of a frame, framed and normalised as the expression model expects.

    Parameters
    ----------
    image : np.ndarray [shape=(H, W, 3) uint8 RGB, or (H, W) grey]
        The full frame.
    box : tuple of float
        ``(x, y, w, h)`` of the face in pixels, as MediaPipe face detection gives it
        (relative box times the frame size). Only its centre and its larger side are used.
    left_eye, right_eye : tuple of float, optional
        Eye centres ``(x, y)`` in pixels (MediaPipe detection keypoints 0 and 1, or the mesh's
        iris / eye centres), in either order. When both are given the crop is rotated so that
        they are level; otherwise it is not rotated.
    size : int, default=CROP_SIZE
        Side of the output in pixels.

    Returns
    -------
    np.ndarray [shape=(size, size), dtype=float32]
        Grey levels scaled to [0, 1] (pixel / 255). Parts of the crop outside the frame repeat
        the frame's border pixels, as a face at the edge of FER2013 images does.
    """
    x, y, w, h = (float(v) for v in box)
    if not (math.isfinite(x) and math.isfinite(y) and w > 0 and h > 0):
        raise ValueError(f"box must be (x, y, w, h) with positive finite w, h; got {box}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels; got {size}")
    grey = to_grey(image)
    if grey.size == 0:
        raise ValueError("image is empty")
    if grey.dtype != np.uint8:
        grey = np.clip(grey, 0, 255).astype(np.uint8) if grey.max() > 1.0 else (grey * 255).astype(np.uint8)

    side = max(w, h) * BOX_TO_CROP
    angle = _roll(left_eye, right_eye)
    rad = math.radians(angle)
    # The crop centre lies above the box centre along the face's own vertical axis.
    drop = BOX_CENTRE_DROP * side
    cx = x + w / 2.0 + drop * math.sin(rad)
    cy = y + h / 2.0 - drop * math.cos(rad)

    # Large faces: shrink a region around the face first with area averaging, since a bilinear
    # warp that skips most source pixels would alias (FER2013 faces are smooth, not aliased).
    offset_x = offset_y = 0.0
    factor = 1.0
    if side > 2.0 * size:
        half = side * 0.75  # covers the rotated square (side * sqrt(2) / 2) with room to spare
        x0 = max(0, int(math.floor(cx - half)))
        y0 = max(0, int(math.floor(cy - half)))
        x1 = min(grey.shape[1], int(math.ceil(cx + half)))
        y1 = min(grey.shape[0], int(math.ceil(cy + half)))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            factor = (1.5 * size) / side
            roi = grey[y0:y1, x0:x1]
            new_w = max(2, int(round(roi.shape[1] * factor)))
            new_h = max(2, int(round(roi.shape[0] * factor)))
            grey = cv2.resize(roi, (new_w, new_h), interpolation=cv2.INTER_AREA)
            factor_x, factor_y = new_w / roi.shape[1], new_h / roi.shape[0]
            offset_x, offset_y = x0, y0
            cx, cy = (cx - offset_x) * factor_x, (cy - offset_y) * factor_y
            side *= factor_x
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    matrix[0, 2] += size / 2.0 - cx
    matrix[1, 2] += size / 2.0 - cy
    out = cv2.warpAffine(grey, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.astype(np.float32) * np.float32(1.0 / 255.0)
