"""Helpers shared by the words benchmarks: metrics and the result file format."""

from __future__ import annotations

import datetime as dt
import json
import logging
import platform
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

RESULTS = Path(__file__).resolve().parent / "results"
log = logging.getLogger("words_bench")


def classification(y: np.ndarray, pred: np.ndarray, labels: tuple[str, ...]) -> dict:
    per_class = f1_score(y, pred, average=None, labels=list(range(len(labels))), zero_division=0)
    return {
        "weighted_f1": round(float(f1_score(y, pred, average="weighted")), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        "accuracy": round(float((y == pred).mean()), 4),
        "per_class_f1": {k: round(float(v), 4) for k, v in zip(labels, per_class, strict=True)},
    }


def write(name: str, figures: dict, *, dataset: str, split: str) -> Path:
    out = {
        "name": name, "dataset": dataset, "split": split, "date": dt.date.today().isoformat(),
        "machine": f"2-core CPU ({platform.processor() or platform.machine()}), onnxruntime 2 threads",
        "command": "python " + " ".join(["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]]),
        "figures": figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    log.info("wrote %s", path)
    return path
