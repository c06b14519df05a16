"""Population-neutral AU scores and AU intensity units (generated; do not edit by hand).

Written by benchmarks/face_au_calibration.py from 2735 meshed FER2013 train faces
(400 sampled per class, 396 neutral) on 2026-12-06.
Scores are in inter-ocular-distance units; see :mod:`.aus`.
"""

NEUTRAL_SCORE: dict[str, float] = {
    "AU01": 0.28800,
    "AU02": 0.26428,
    "AU04": -0.68447,
    "AU05": -0.03718,
    "AU06": -0.40052,
    "AU07": -0.05731,
    "AU09": -0.63171,
    "AU10": -0.22293,
    "AU12": 0.23886,
    "AU14": 0.73300,
    "AU15": -0.01020,
    "AU17": -0.41794,
    "AU20": 0.74776,
    "AU23": -0.23213,
    "AU25": 0.01063,
    "AU26": 0.92384,
    "AU45": -0.13808,
}

AU_UNIT: dict[str, float] = {
    "AU01": 0.03668,
    "AU02": 0.02755,
    "AU04": 0.03461,
    "AU05": 0.01413,
    "AU06": 0.02168,
    "AU07": 0.01031,
    "AU09": 0.02849,
    "AU10": 0.02923,
    "AU12": 0.05949,
    "AU14": 0.04614,
    "AU15": 0.01496,
    "AU17": 0.07506,
    "AU20": 0.05077,
    "AU23": 0.02340,
    "AU25": 0.11034,
    "AU26": 0.04818,
    "AU45": 1.00000,
}
