"""Derive the population-neutral AU scores and the AU intensity units from FER2013 *train*.

* ``NEUTRAL_SCORE[au]``: median AU score of train faces labelled neutral: the reference for a
  face whose own track is too short to know its neutral.
* ``AU_UNIT[au]``: (99th percentile of score - neutral over all sampled train faces) / 5, so
  that intensity 5 (FACS "E") is a movement only 1 % of faces exceed. Floored at 0.005 IOD.

Writes ``src/affectlens/modalities/face/au_calibration.py`` and
``benchmarks/results/face_au_calibration.json``. Run:
``flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/face_au_calibration.py``.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_fer_mesh import fer_measures  # noqa: E402

from affectlens.core.data import REPO_ROOT  # noqa: E402
from affectlens.modalities.face.aus import AU_MATRIX, AU_NAMES, MEASURES  # noqa: E402

PER_CLASS = 400


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    df = fer_measures("train", per_class=PER_CLASS)
    scores = df[list(MEASURES)].to_numpy() @ AU_MATRIX.T
    neutral = np.median(scores[df["emotion"].to_numpy() == "neutral"], axis=0)
    unit = np.maximum(np.percentile(scores - neutral, 99, axis=0) / 5.0, 0.005)
    k = AU_NAMES.index("AU45")
    unit[k] = 1.0  # AU45 is scored relative to the eye aperture, not in units
    fmt = lambda d: "{\n" + "".join(f'    "{a}": {v:.5f},\n' for a, v in d.items()) + "}"  # noqa: E731
    neutral_d = dict(zip(AU_NAMES, neutral, strict=True))
    unit_d = dict(zip(AU_NAMES, unit, strict=True))
    text = (
        '"""Population-neutral AU scores and AU intensity units (generated; do not edit by hand).\n\n'
        f"Written by benchmarks/face_au_calibration.py from {len(df)} meshed FER2013 train faces\n"
        f"({PER_CLASS} sampled per class, {int((df['emotion'] == 'neutral').sum())} neutral) on {datetime.date.today()}.\n"
        "Scores are in inter-ocular-distance units; see :mod:`.aus`.\n"
        '"""\n\n'
        f"NEUTRAL_SCORE: dict[str, float] = {fmt(neutral_d)}\n\n"
        f"AU_UNIT: dict[str, float] = {fmt(unit_d)}\n"
    )
    (REPO_ROOT / "src/affectlens/modalities/face/au_calibration.py").write_text(text)
    out = {
        "name": "face_au_calibration", "date": str(datetime.date.today()), "machine": "2-core CPU",
        "command": "python benchmarks/face_au_calibration.py",
        "data": f"FER2013 train, {PER_CLASS} per class sampled (seed 0), upscaled 48->192, meshed",
        "figures": {"faces_meshed": len(df), "faces_input": int(df.attrs.get("n_input", 0)) or None,
                    "neutral_score": neutral_d, "au_unit": unit_d},
    }
    (REPO_ROOT / "benchmarks/results/face_au_calibration.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out["figures"], indent=1))


if __name__ == "__main__":
    main()
