"""Action-unit intensities (0..5) and head pose from the 478-point mesh geometry.

Why geometry: the only AU model that works offline here (py-feat's mesh PLS) tracks AU movement
within one person but fails across people, and a pixel-based AU model would need weights we do
not have. Mesh distances are interpretable, cost microseconds, and each can be cited in an
explanation ("lip corners 0.04 inter-ocular distances higher than her neutral").

Pipeline per face and frame
---------------------------
1. **Head pose and frontalisation.** A face frame is built from rigid points only: x from the
   right-eye corners' midpoint (33, 133) to the left-eye corners' midpoint (263, 362); y from the
   forehead top (10) to the subnasale (2), orthogonalised; z = x cross y (into the head). Yaw,
   pitch and roll are that rotation's angles (degrees; yaw > 0: the face turns towards the
   image's right, pitch > 0: chin up, roll > 0: the eye line tilts clockwise in the image).
   Every landmark is then rotated into this frame, centred between the eyes and divided by the
   inter-ocular distance (IOD, eye-corner midpoints, 3-D), so the measures below do not change
   with distance to the camera or with moderate head turns. ``y`` grows downwards.
2. **Raw measures** (:data:`MEASURES`, IOD units, mean of both sides; "eye line" = the mean
   height of that eye's two corners):

   ==================  =========================================================================
   ``brow_inner``      eye line minus inner-brow height (brow points 107, 66, 55, 65 / 336, 296, 285, 295)
   ``brow_outer``      eye line minus outer-brow height (70, 63, 46, 53 / 300, 293, 276, 283)
   ``brow_gap``        horizontal gap between the inner brow heads (55 / 285)
   ``sclera_above``    iris top minus upper-lid height (159 / 386): the white shown above the
                       iris (< 0 where the lid covers it). Iris top = iris centre (468 / 473)
                       minus the iris's *horizontal* radius (469-471 / 474-476), because the
                       mesh pulls its top point down with a closing lid, which would make
                       squinting read as a raised lid.
   ``lower_lid``       lower-lid height (145 / 374) minus eye line
   ``cheek``           upper-cheek height (50, 101, 118 / 280, 330, 347) minus eye line
   ``nose_wing``       nose-wing height (64, 98, 129 / 294, 327, 358) minus inner eye corner
   ``upper_lip``       upper-lip top (0, 37, 267) minus subnasale (2)
   ``corner_lift``     mid height of the inner lips (13, 14) minus lip-corner height (61, 291)
   ``mouth_width``     lip-corner distance (61-291)
   ``chin``            chin (152) minus lower-lip bottom (17)
   ``lip_thickness``   red-lip heights (0-13) + (14-17)
   ``lip_gap``         inner lip gap (13-14); also ``mouth_open`` for speaker attribution
   ``jaw``             chin (152) minus subnasale (2)
   ``eye_aperture``    lower minus upper lid (145-159, 374-386)
   ==================  =========================================================================

3. **AU scores** are linear combinations of the measures (:data:`AU_DEFINITIONS`), each oriented
   so that it grows when the muscle acts:

   ====  ======================  =====================================================
   AU01  inner brow raiser       ``+2 brow_inner - brow_outer``: the inner raise plus the
                                 brow's obliquity (inner head above the outer part), which is
                                 how AU1 shows when AU4 pulls the whole brow down (sadness)
   AU02  outer brow raiser       ``+brow_outer``
   AU04  brow lowerer            ``-brow_gap - 0.5 brow_inner - 0.5 brow_outer``
   AU05  upper lid raiser        ``+sclera_above`` (FACS: white exposed above the iris)
   AU06  cheek raiser            ``-cheek`` (cheeks rise towards the eyes)
   AU07  lid tightener           ``-lower_lid`` (lower lid rises towards the eye line)
   AU09  nose wrinkler           ``-nose_wing``
   AU10  upper lip raiser        ``-upper_lip``
   AU12  lip corner puller       ``+corner_lift + 0.3 mouth_width``
   AU14  dimpler                 ``+mouth_width - lip_gap`` (widening with lips closed; weak)
   AU15  lip corner depressor    ``-corner_lift``
   AU17  chin raiser             ``-chin``
   AU20  lip stretcher           ``+mouth_width - corner_lift``
   AU23  lip tightener           ``-lip_thickness``
   AU25  lips part               ``+lip_gap``
   AU26  jaw drop                ``+jaw``
   AU45  blink                   ``-eye_aperture`` (scored relative to the neutral aperture)
   ====  ======================  =====================================================

4. **Intensity relative to a neutral baseline.** ``intensity = clip((score - neutral) / unit,
   0, 5)``. ``neutral`` is the face's own (:func:`baseline`): the median score of the frames of
   its track that the expression classifier calls neutral (each face is its own reference,
   because faces differ more between people than expressions move them), blended with a
   fallback while there are fewer than 10 of them. The fallback is the *population neutral*
   (the median score of FER2013 *train* faces labelled neutral), except for the AUs that cannot
   go below rest (:data:`ONE_SIDED`: cheeks, nose, upper lip, chin, lips apart, jaw), whose
   rest is the track's own 20th percentile. (Until issue #32 every AU took the track's 20th
   percentile: for a face that both cries and laughs, that is the laugh for AU15 and the
   closed eyes for AU05, so crying read AU15 at 5/5 for whole utterances and open eyes AU05 at 5.)
   ``unit`` makes 5 (FACS "E", maximum) the 99th percentile of ``score - population neutral``
   over FER2013 train faces that show an expression (see ``benchmarks/face_au_calibration.py``):
   only 1 % of expressive faces exceed it. AU05 fades out as the eyes close (a shut lid shows no
   white above the iris), and AU45 is the fraction of the neutral eye opening lost. The
   constants live in :mod:`.au_calibration`; ``benchmarks/face_au_saturation.py`` measures how
   often each AU reaches 4.5 on real video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)

#: Short FACS names, for explanations.
AU_DESCRIPTIONS: dict[str, str] = {
    "AU01": "inner brows raised", "AU02": "outer brows raised", "AU04": "brows lowered and drawn together",
    "AU05": "upper lids raised", "AU06": "cheeks raised", "AU07": "lids tightened",
    "AU09": "nose wrinkled", "AU10": "upper lip raised", "AU12": "lip corners pulled up",
    "AU14": "dimpler (lip corners tightened)", "AU15": "lip corners pulled down", "AU17": "chin raised",
    "AU20": "lips stretched sideways", "AU23": "lips tightened", "AU25": "lips parted",
    "AU26": "jaw dropped", "AU45": "eyes closed (blink)",
}

MEASURES: tuple[str, ...] = (
    "brow_inner", "brow_outer", "brow_gap", "sclera_above", "lower_lid", "cheek", "nose_wing",
    "upper_lip", "corner_lift", "mouth_width", "chin", "lip_thickness", "lip_gap", "jaw", "eye_aperture",
)

AU_DEFINITIONS: dict[str, dict[str, float]] = {
    "AU01": {"brow_inner": 2.0, "brow_outer": -1.0},
    "AU02": {"brow_outer": 1.0},
    "AU04": {"brow_gap": -1.0, "brow_inner": -0.5, "brow_outer": -0.5},
    "AU05": {"sclera_above": 1.0},
    "AU06": {"cheek": -1.0},
    "AU07": {"lower_lid": -1.0},
    "AU09": {"nose_wing": -1.0},
    "AU10": {"upper_lip": -1.0},
    "AU12": {"corner_lift": 1.0, "mouth_width": 0.3},
    "AU14": {"mouth_width": 1.0, "lip_gap": -1.0},
    "AU15": {"corner_lift": -1.0},
    "AU17": {"chin": -1.0},
    "AU20": {"mouth_width": 1.0, "corner_lift": -1.0},
    "AU23": {"lip_thickness": -1.0},
    "AU25": {"lip_gap": 1.0},
    "AU26": {"jaw": 1.0},
    "AU45": {"eye_aperture": -1.0},
}

#: [n_aus, n_measures] matrix: AU scores = measures @ AU_MATRIX.T
AU_MATRIX = np.array(
    [[AU_DEFINITIONS[au].get(m, 0.0) for m in MEASURES] for au in AU_NAMES], dtype=np.float64
)

_R_BROW_IN, _L_BROW_IN = (107, 66, 55, 65), (336, 296, 285, 295)
_R_BROW_OUT, _L_BROW_OUT = (70, 63, 46, 53), (300, 293, 276, 283)
_R_CHEEK, _L_CHEEK = (50, 101, 118), (280, 330, 347)
_R_WING, _L_WING = (64, 98, 129), (294, 327, 358)

#: Frames the classifier calls neutral after which a face's own baseline is trusted fully (with
#: fewer, it is blended with the fallback below).
BASELINE_FULL_FRAMES = 10
#: AUs that cannot move below rest (no muscle lowers the cheeks below rest, closes a closed jaw
#: further...) and whose resting measure differs from person to person (jaw length, lip-to-nose
#: distance): without neutral frames, their rest is where the track's own score is low (its
#: 20th percentile, trusted fully from 30 frames on). Two-sided ones (lip corners up / down,
#: brows up / down, lids, mouth width) fall back on the population neutral: a track's low
#: percentile there is the opposite expression, which made crying read AU15 at 5/5 whenever
#: the same face also laughed.
ONE_SIDED = ("AU06", "AU09", "AU10", "AU17", "AU25", "AU26")
OWN_PERCENTILE, OWN_FULL_FRAMES = 20.0, 30
#: Eyes narrower than this fraction of their neutral opening show no white above the iris to
#: measure: AU05 fades from 1x at OPEN_EYE to 0 at CLOSED_EYE of the neutral aperture.
OPEN_EYE, CLOSED_EYE = 0.9, 0.5


@dataclass(frozen=True, slots=True)
class Geometry:
    """What one mesh says, before any baseline: pose, scale and the raw measures."""

    head_pose: tuple[float, float, float]  # yaw, pitch, roll (degrees)
    iod: float  # inter-ocular distance in pixels (3-D)
    measures: np.ndarray  # [shape=(len(MEASURES),)] in IOD units

    @property
    def mouth_open(self) -> float:
        return float(self.measures[MEASURES.index("lip_gap")])

    @property
    def scores(self) -> np.ndarray:
        """Unnormalised AU scores ``[len(AU_NAMES)]`` (see :data:`AU_DEFINITIONS`)."""
        return AU_MATRIX @ self.measures


def _mean(p: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    return p[list(idx)].mean(axis=0)


def _iris_radius(q: np.ndarray, i: int, j: int) -> float:
    """Half the distance between an iris's two horizontal extremes (lids do not cover them)."""
    return float(np.linalg.norm(q[i, :2] - q[j, :2])) / 2


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Rotation ``[3, 3]`` (columns: the face's x, y, z axes in camera space), origin and IOD."""
    p = landmarks.astype(np.float64)
    r_eye = (p[33] + p[133]) / 2
    l_eye = (p[263] + p[362]) / 2
    iod = float(np.linalg.norm(l_eye - r_eye))
    ex = (l_eye - r_eye) / max(iod, 1e-9)
    v = p[2] - p[10]
    ey = v - (v @ ex) * ex
    ey /= max(float(np.linalg.norm(ey)), 1e-9)
    ez = np.cross(ex, ey)
    return np.stack([ex, ey, ez], axis=1), (r_eye + l_eye) / 2, iod


def head_pose(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a :func:`face_frame` rotation."""
    ex, _, ez = rotation[:, 0], rotation[:, 1], rotation[:, 2]
    yaw = np.degrees(np.arctan2(-ez[0], ez[2]))
    pitch = np.degrees(np.arcsin(np.clip(ez[1], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(ex[1], ex[0]))
    return float(yaw), float(pitch), float(roll)


def geometry(landmarks: np.ndarray) -> Geometry:
    """Pose, scale and the raw :data:`MEASURES` of one mesh ``[478, 3]`` (with the irises)."""
    if landmarks.shape[0] < 478:
        raise ValueError(f"geometry needs the 478-point mesh with irises, got {landmarks.shape[0]} points")
    rot, origin, iod = face_frame(landmarks)
    q = (landmarks.astype(np.float64) - origin) @ rot / max(iod, 1e-9)  # frontal, IOD units
    y = q[:, 1]
    line_r = (y[33] + y[133]) / 2
    line_l = (y[263] + y[362]) / 2

    def both(fr, fl):
        return (fr + fl) / 2

    m = {
        "brow_inner": both(line_r - _mean(q, _R_BROW_IN)[1], line_l - _mean(q, _L_BROW_IN)[1]),
        "brow_outer": both(line_r - _mean(q, _R_BROW_OUT)[1], line_l - _mean(q, _L_BROW_OUT)[1]),
        "brow_gap": q[285, 0] - q[55, 0],
        "sclera_above": both(y[468] - _iris_radius(q, 469, 471) - y[159],
                             y[473] - _iris_radius(q, 474, 476) - y[386]),
        "lower_lid": both(y[145] - line_r, y[374] - line_l),
        "cheek": both(_mean(q, _R_CHEEK)[1] - line_r, _mean(q, _L_CHEEK)[1] - line_l),
        "nose_wing": both(_mean(q, _R_WING)[1] - y[133], _mean(q, _L_WING)[1] - y[362]),
        "upper_lip": _mean(q, (0, 37, 267))[1] - y[2],
        "corner_lift": (y[13] + y[14]) / 2 - (y[61] + y[291]) / 2,
        "mouth_width": float(np.linalg.norm(q[291, :2] - q[61, :2])),
        "chin": y[152] - y[17],
        "lip_thickness": (y[13] - y[0]) + (y[17] - y[14]),
        "lip_gap": max(0.0, y[14] - y[13]),
        "jaw": y[152] - y[2],
        "eye_aperture": both(y[145] - y[159], y[374] - y[386]),
    }
    measures = np.array([m[k] for k in MEASURES], dtype=np.float64)
    return Geometry(head_pose=head_pose(rot), iod=iod * 1.0, measures=measures)


def population_neutral() -> tuple[np.ndarray, np.ndarray]:
    """(neutral AU scores, units) ``[len(AU_NAMES)]`` each, from :mod:`.au_calibration`."""
    from .au_calibration import AU_UNIT, NEUTRAL_SCORE

    return (
        np.array([NEUTRAL_SCORE[a] for a in AU_NAMES], dtype=np.float64),
        np.array([AU_UNIT[a] for a in AU_NAMES], dtype=np.float64),
    )


def baseline(scores: np.ndarray, neutral_frames: np.ndarray | None = None) -> np.ndarray:
    """A face's neutral AU scores ``[n_aus]`` from its track's scores ``[n_frames, n_aus]``.

    ``neutral_frames`` ``[n_frames]`` (bool) marks the frames the expression classifier calls
    neutral: their median is the face's own neutral, blended with a fallback while there are
    fewer than :data:`BASELINE_FULL_FRAMES` of them. The fallback (no classifier, or a face that
    is never neutral, such as one crying, then laughing) is the population neutral, except for
    the :data:`ONE_SIDED` AUs, whose rest is the track's own low percentile. AU05 (white above
    the iris) takes its own neutral only from frames whose eyes are open: a blink has no white
    to measure.
    """
    neutral, _ = population_neutral()
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if scores.shape[0] == 0:
        return neutral.copy()
    calm = np.zeros(scores.shape[0], bool) if neutral_frames is None else np.asarray(neutral_frames, dtype=bool).reshape(-1)
    if calm.shape[0] != scores.shape[0]:
        raise ValueError(f"neutral_frames has {calm.shape[0]} entries for {scores.shape[0]} frames")
    fallback = neutral.copy()
    one = [AU_NAMES.index(a) for a in ONE_SIDED]
    w = min(1.0, scores.shape[0] / OWN_FULL_FRAMES)
    fallback[one] = w * np.percentile(scores[:, one], OWN_PERCENTILE, axis=0) + (1.0 - w) * neutral[one]
    n = int(calm.sum())
    w = min(1.0, n / BASELINE_FULL_FRAMES)
    out = w * np.median(scores[calm], axis=0) + (1.0 - w) * fallback if n else fallback
    k5, k45 = AU_NAMES.index("AU05"), AU_NAMES.index("AU45")
    aperture = -scores[:, k45]
    open_calm = calm & (aperture >= OPEN_EYE * -out[k45])
    m = int(open_calm.sum())
    w = min(1.0, m / BASELINE_FULL_FRAMES)
    out[k5] = (w * float(np.median(scores[open_calm, k5])) if m else 0.0) + (1.0 - w) * neutral[k5]
    return out


def intensities(scores: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """AU intensities 0..5 ``[..., n_aus]`` from scores and a neutral baseline.

    AU45 (blink) is scored as the fraction of the neutral eye aperture lost, times 5, because
    eyes close fully whatever their size. AU05 (upper lid raiser) fades out as the eyes close
    (from :data:`OPEN_EYE` to :data:`CLOSED_EYE` of the neutral aperture): a closed lid shows no
    white above the iris, and the mesh's iris behind it is a guess.
    """
    _, unit = population_neutral()
    scores = np.asarray(scores, dtype=np.float64)
    out = (scores - neutral) / unit
    k, k5 = AU_NAMES.index("AU45"), AU_NAMES.index("AU05")
    aperture = max(-float(neutral[k]), 1e-6)  # neutral AU45 score is -aperture
    out[..., k] = 5.0 * (scores[..., k] - neutral[k]) / aperture
    openness = -scores[..., k] / aperture
    out[..., k5] *= np.clip((openness - CLOSED_EYE) / (OPEN_EYE - CLOSED_EYE), 0.0, 1.0)
    return np.clip(out, 0.0, 5.0)


def as_dict(values: np.ndarray) -> dict[str, float]:
    """AU name -> rounded intensity."""
    return {a: round(float(v), 3) for a, v in zip(AU_NAMES, values, strict=True)}
