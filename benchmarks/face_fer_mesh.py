"""Mesh geometry of FER2013 faces, cached: shared by the AU calibration and the AU benchmark.

Each 48x48 grey face is upscaled to 192x192 (bicubic), meshed through the same
:class:`~affectlens.modalities.face.mesh.FaceMesher` as video frames (the whole image as the
detection box, as FER2013 faces fill their frame), and reduced to the raw measures of
:mod:`affectlens.modalities.face.aus`. Results are cached in ``work_data/``.
"""

from __future__ import annotations

import logging
import zipfile

import numpy as np
import pandas as pd

from affectlens.core.data import REPO_ROOT, dataset_path
from affectlens.modalities.face.aus import MEASURES, geometry
from affectlens.modalities.face.detect import Detection
from affectlens.modalities.face.mesh import FaceMesher

log = logging.getLogger(__name__)
CACHE = REPO_ROOT / "work_data"
UPSCALE = 192


def fer_measures(split: str, per_class: int | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per FER2013 face of ``split`` that the mesh fits: path, emotion and MEASURES.

    ``per_class`` samples at most that many faces per emotion (None: all).
    """
    cache = CACHE / f"face_fer_measures_{split}_{per_class or 'all'}_{seed}_v2.parquet"  # v2: sclera_above replaced upper_lid
    if cache.exists():
        return pd.read_parquet(cache)
    import cv2

    labels = pd.read_csv(dataset_path("faces", "fer2013", "labels.csv"))
    labels = labels[labels["split"] == split]
    if per_class:
        labels = labels.sample(frac=1.0, random_state=seed).groupby("emotion").head(per_class)
    mesher = FaceMesher()
    box = Detection(box=(0.0, 0.0, float(UPSCALE), float(UPSCALE)), score=1.0, keypoints=np.zeros((6, 2), np.float32))
    rows = []
    with zipfile.ZipFile(dataset_path("faces", "fer2013", "fer2013_images.zip")) as zf:
        for path, emotion in zip(labels["path"], labels["emotion"], strict=True):
            grey = cv2.imdecode(np.frombuffer(zf.read(path), np.uint8), cv2.IMREAD_GRAYSCALE)
            big = cv2.resize(grey, (UPSCALE, UPSCALE), interpolation=cv2.INTER_CUBIC)
            lm = mesher(big, box)
            if lm is None:
                continue
            g = geometry(lm)
            rows.append({"path": path, "emotion": emotion, "yaw": g.head_pose[0], "pitch": g.head_pose[1],
                         **dict(zip(MEASURES, g.measures, strict=True))})
    df = pd.DataFrame(rows)
    df.attrs["n_input"] = len(labels)
    CACHE.mkdir(exist_ok=True)
    df.to_parquet(cache)
    log.info("meshed %d of %d %s faces", len(df), len(labels), split)
    return df


