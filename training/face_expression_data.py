"""FER2013 as the expression model sees it: every image re-cropped by :func:`crop_face`.

The model must be trained on the crops it will get at run time, so each FER2013 image goes
through the run-time path: MediaPipe face detection (``model_selection=0``) on the image
upscaled to 192x192, then :func:`affectlens.modalities.face.crop.crop_face` with the detector's
box and eye keypoints. Where no face is found the image is used whole: it is already a face
framed the FER2013 way, which is what ``crop_face`` reproduces.

The zip is read directly (never extracted); the result is cached in
``work_data/fer2013_crops.npz`` (gitignored) because detection takes about a minute.

It also holds what training and the benchmarks share without torch: the validation split
every release was selected on (:func:`split_train_val`) and reading an earlier release's
files from git (:func:`read_teacher`).

Usage::

    python training/face_expression_data.py   # builds the cache and logs the detection rate
"""

from __future__ import annotations

import csv
import logging
import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np

from affectlens.core.data import REPO_ROOT, dataset_path
from affectlens.core.labels import LABELS, map_label
from affectlens.modalities.face.crop import CROP_SIZE, crop_face

log = logging.getLogger("affectlens.training.face_expression_data")

CACHE = REPO_ROOT / "work_data" / "fer2013_crops.npz"
UPSCALE = 192  # MediaPipe's short-range detector wants faces well above 48 px
MIN_CONFIDENCE = 0.3


def detect_box_eyes(detector, image: np.ndarray) -> tuple[tuple[float, ...], tuple, tuple] | None:
    """Box (x, y, w, h) and the two eye keypoints, in the pixels of ``image``, or None."""
    h, w = image.shape[:2]
    big = cv2.resize(image, (UPSCALE, UPSCALE), interpolation=cv2.INTER_CUBIC)
    result = detector.process(cv2.cvtColor(big, cv2.COLOR_GRAY2RGB))
    if not result.detections:
        return None
    best = max(result.detections, key=lambda d: d.score[0])
    b = best.location_data.relative_bounding_box
    k = best.location_data.relative_keypoints
    box = (b.xmin * w, b.ymin * h, b.width * w, b.height * h)
    return box, (k[0].x * w, k[0].y * h), (k[1].x * w, k[1].y * h)


def build_cache(path: Path = CACHE) -> Path:
    """Detect and crop every FER2013 image once; write crops, raw images, labels and splits."""
    import mediapipe as mp

    root = dataset_path("faces", "fer2013")
    with open(root / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    crops = np.zeros((len(rows), CROP_SIZE, CROP_SIZE), np.uint8)
    raw = np.zeros((len(rows), 48, 48), np.uint8)
    labels = np.zeros(len(rows), np.int64)
    split = np.array([r["split"] for r in rows])
    found = np.zeros(len(rows), bool)
    detector = mp.solutions.face_detection.FaceDetection(
        model_selection=0, min_detection_confidence=MIN_CONFIDENCE
    )
    with zipfile.ZipFile(root / "fer2013_images.zip") as zf:
        for i, row in enumerate(rows):
            img = cv2.imdecode(np.frombuffer(zf.read(row["path"]), np.uint8), cv2.IMREAD_GRAYSCALE)
            if img.shape != (48, 48):
                img = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
            raw[i] = img
            labels[i] = LABELS.index(map_label(row["emotion"], "fer2013"))
            hit = detect_box_eyes(detector, img)
            if hit is None:
                box, left, right = (0.0, 0.0, 48.0, 48.0), None, None
                crop = img.astype(np.float32) / 255.0
                if CROP_SIZE != 48:
                    crop = cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
            else:
                box, left, right = hit
                found[i] = True
                crop = crop_face(img, box, left, right, size=CROP_SIZE)
            crops[i] = np.clip(np.rint(crop * 255.0), 0, 255).astype(np.uint8)
            if i % 5000 == 0:
                log.info("%d / %d images, %.1f %% with a face so far", i, len(rows), 100 * found[: i + 1].mean())
    detector.close()
    for name in ("train", "test"):
        sel = split == name
        log.info("%s: %d images, MediaPipe found a face in %.2f %%", name, sel.sum(), 100 * found[sel].mean())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, crops=crops, raw=raw, labels=labels, split=split, found=found,
                        paths=np.array([r["path"] for r in rows]))
    return path


def split_train_val(labels: np.ndarray, frac: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified indices (train, val) of the train split."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        val.append(idx[: int(round(frac * len(idx)))])
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx


def read_teacher(spec: str) -> bytes:
    """The bytes of a model file: ``REV:PATH`` is read from git (an earlier release), anything else from disk."""
    if ":" in spec and not Path(spec).exists():
        return subprocess.run(["git", "-C", str(REPO_ROOT), "show", spec], check=True,
                              capture_output=True).stdout
    return Path(spec).read_bytes()


def load_cache(path: Path = CACHE) -> dict[str, np.ndarray]:
    """The cached arrays, built on first use."""
    if not path.is_file():
        build_cache(path)
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    build_cache()
