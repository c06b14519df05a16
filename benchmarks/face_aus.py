"""FACS prototype check of the geometric AUs on FER2013 *test* faces.

Each face is meshed (see ``face_fer_mesh.py``), its AU intensities computed relative to the
*population* neutral (a single image has no track of its own), and for every emotion the AUs
of its FACS prototype are compared with neutral faces by Cohen's d (pooled SD). A positive d
means the AU is stronger in that emotion than in neutral faces, as FACS predicts.

Run: ``flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/face_aus.py``
-> ``benchmarks/results/face_aus.json``.
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
from affectlens.modalities.face.aus import AU_MATRIX, AU_NAMES, MEASURES, intensities, population_neutral  # noqa: E402

#: Faces per class: None = the whole test split (7,178 faces, about a minute of meshing on 2
#: cores), so that small effects get the tightest intervals the split allows.
PER_CLASS: int | None = None

PROTOTYPES = {
    "happy": ["AU06", "AU12"],
    "surprise": ["AU01", "AU02", "AU05", "AU26"],
    "sad": ["AU01", "AU04", "AU15"],
    "angry": ["AU04", "AU05", "AU07", "AU23"],
    "disgust": ["AU09", "AU10"],
    "fear": ["AU01", "AU02", "AU04", "AU05", "AU20", "AU26"],
}


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def d_ci95(d: float, n1: int, n2: int) -> tuple[float, float]:
    """Normal-approximation 95 % interval of Cohen's d (Hedges & Olkin's standard error).

    Says which small effects are distinguishable from zero at this sample size.
    """
    se = np.sqrt((n1 + n2) / (n1 * n2) + d * d / (2 * (n1 + n2)))
    return round(d - 1.96 * float(se), 3), round(d + 1.96 * float(se), 3)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    df = fer_measures("test", per_class=PER_CLASS)
    neutral, _ = population_neutral()
    aus = intensities(df[list(MEASURES)].to_numpy() @ AU_MATRIX.T, neutral)
    emo = df["emotion"].to_numpy()
    base = aus[emo == "neutral"]
    figures: dict = {"faces_meshed": len(df), "per_class_n": {e: int((emo == e).sum()) for e in sorted(set(emo))}}
    table = {}
    all_d = []
    for cls, proto in PROTOTYPES.items():
        x = aus[emo == cls]
        row = {}
        for a in proto:
            j = AU_NAMES.index(a)
            d = cohens_d(x[:, j], base[:, j])
            row[a] = {"d": round(d, 3), "ci95": d_ci95(d, len(x), len(base)), "mean": round(float(x[:, j].mean()), 3),
                      "neutral_mean": round(float(base[:, j].mean()), 3)}
            all_d.append(d)
        table[cls] = row
    figures["cohens_d_vs_neutral"] = table
    figures["prototype_aus_with_positive_d"] = f"{sum(d > 0 for d in all_d)}/{len(all_d)}"
    figures["prototype_aus_with_ci95_above_0"] = f"{sum(r['ci95'][0] > 0 for t in table.values() for r in t.values())}/{len(all_d)}"
    figures["prototype_aus_with_d_over_0.2"] = f"{sum(d > 0.2 for d in all_d)}/{len(all_d)}"
    figures["median_d"] = round(float(np.median(all_d)), 3)
    out = {
        "name": "face_aus", "date": str(datetime.date.today()), "machine": "2-core CPU",
        "command": "python benchmarks/face_aus.py",
        "data": f"FER2013 test (PublicTest + PrivateTest), {f'up to {PER_CLASS} per class (seed 0)' if PER_CLASS else 'all faces'}, upscaled 48->192, meshed; AUs vs the FER2013-train population neutral",
        "figures": figures,
    }
    (REPO_ROOT / "benchmarks/results/face_aus.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
