"""Who is speaking: a mouth whose pixels stay put is not speaking, however its mesh wobbles.

Synthetic frames only (no models, no data): a grey face with a dark mouth that opens or not.
"""

from __future__ import annotations

import math

import numpy as np

from affectlens.modalities.face import FaceModality
from affectlens.modalities.face.speaker import (
    MOUTH_BOX_POINTS,
    STILL_PIXELS,
    attribute_speaker,
    mouth_patch,
    pixel_change,
    pixels_still,
)

CENTRE = (60.0, 80.0)  # mouth centre (x, y) in a 160x120 frame


def _frame(opening: float) -> np.ndarray:
    """A flat face (grey 150) with a dark mouth ``opening`` pixels tall, RGB uint8."""
    img = np.full((120, 160, 3), 150, np.uint8)
    yy, xx = np.mgrid[:120, :160]
    inside = ((xx - CENTRE[0]) / 14.0) ** 2 + ((yy - CENTRE[1]) / max(opening / 2, 0.5)) ** 2 <= 1.0
    img[inside] = 30
    return img


def _landmarks(jitter: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A 478-point mesh whose lip points frame the mouth (other points unused), shifted by ``jitter``."""
    lm = np.zeros((478, 3), np.float32)
    cx, cy = CENTRE[0] + jitter[0], CENTRE[1] + jitter[1]
    for k, (dx, dy) in zip(MOUTH_BOX_POINTS, ((-15, 0), (15, 0), (0, -6), (0, 6)), strict=True):
        lm[k, :2] = (cx + dx, cy + dy)
    return lm


def test_an_opening_mouth_changes_its_pixels_a_still_one_does_not() -> None:
    closed, opened = _frame(1.0), _frame(8.0)
    before = mouth_patch(closed, _landmarks())
    assert before is not None
    assert pixel_change(opened, before) > 5 * STILL_PIXELS
    # the same picture again, its mesh wobbling by a pixel or two: nothing moved
    for jitter in ((0.0, 0.0), (1.5, -1.0), (-2.0, 1.0)):
        patch = mouth_patch(closed, _landmarks(jitter))
        assert patch is not None
        assert pixel_change(closed, patch) == 0.0
    assert math.isnan(pixel_change(closed[:50, :50], before))  # the box left the frame


def test_a_face_whose_mouth_pixels_stay_put_is_not_the_speaker() -> None:
    t = list(np.arange(0, 3, 0.1))
    sr = 16_000
    rng = np.random.default_rng(1)
    talking = 0.15 * (np.sin(2 * np.pi * 1.5 * np.array(t)) > 0)
    other = 0.15 - talking
    audio = np.zeros(3 * sr, np.float32)
    for i, ti in enumerate(t):  # the voice follows face 2's lip gap
        if other[i] > 0.1:
            audio[int(ti * sr): int((ti + 0.1) * sr)] = rng.standard_normal(int(0.1 * sr)) * 0.3
    mouths = {1: (t, list(talking)), 2: (t, list(other))}
    assert attribute_speaker(mouths, len(t), audio, sr) == 2
    moving, frozen = [float("nan")] + [6.0] * (len(t) - 1), [float("nan")] + [0.02] * (len(t) - 1)
    assert pixels_still(frozen) and not pixels_still(moving) and not pixels_still([float("nan")])
    # face 2's mesh follows the voice, but its pixels never change: a frozen picture
    assert attribute_speaker(mouths, len(t), audio, sr, {1: moving, 2: frozen}) == 1
    assert attribute_speaker(mouths, len(t), audio, sr, {1: frozen, 2: frozen}) is None
    assert attribute_speaker(mouths, len(t), audio, sr, {1: moving, 2: moving}) == 2


def test_the_face_stage_compares_each_mouth_with_the_frame_before() -> None:
    face = FaceModality()
    frames = [_frame(1.0), _frame(8.0), _frame(8.0)]
    seen = []
    for k, img in enumerate(frames):
        seen.append(face._mouth_changes(img, [4], [_landmarks((0.5 * k, 0.0))]))
    assert math.isnan(seen[0][0])  # nothing before
    assert seen[1][0] > 5 * STILL_PIXELS and seen[2][0] == 0.0
    face._mouth_changes(frames[2], [], [])  # the face is missed in one frame: no comparison across the gap
    assert math.isnan(face._mouth_changes(frames[2], [4], [_landmarks()])[0])
    face._mouth_changes(frames[2], [7], [_landmarks()])  # another face in between: face 4 was not in it
    assert math.isnan(face._mouth_changes(frames[2], [4], [_landmarks()])[0])
