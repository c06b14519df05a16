"""Population-neutral AU scores and AU intensity units (generated; do not edit by hand).

Written by benchmarks/face_au_calibration.py from 2735 meshed FER2013 train faces
(400 sampled per class, 396 neutral) on 2026-12-03.
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
    "AU01": 0.03478,
    "AU02": 0.02554,
    "AU04": 0.03320,
    "AU05": 0.01330,
    "AU06": 0.02002,
    "AU07": 0.01012,
    "AU09": 0.02850,
    "AU10": 0.02704,
    "AU12": 0.04916,
    "AU14": 0.04615,
    "AU15": 0.01480,
    "AU17": 0.07379,
    "AU20": 0.04992,
    "AU23": 0.02294,
    "AU25": 0.10773,
    "AU26": 0.04791,
    "AU45": 1.00000,
}
