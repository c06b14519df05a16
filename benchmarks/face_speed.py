"""Per-frame cost of the whole face stage on the Pexels clip (640x360, one face, 19.7 s).

Times :meth:`FaceModality.observe_frame` (detection, mesh, tracking, geometry, crop and
expression classifier when installed) at the default 10 frames/s and at every frame
(23.98 frames/s), plus the after-decoding work (timeline, evidence, events). Decoding is timed
apart and left out of the per-frame figure. Models are loaded before timing starts.

Run: ``flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/face_speed.py``
-> ``benchmarks/results/face_speed.json``.
"""

from __future__ import annotations

import datetime
import json
import logging
import time

import numpy as np

from affectlens.core.data import REPO_ROOT, dataset_path
from affectlens.core.types import Segment, VideoFrame
from affectlens.ingest.decode import decode, probe
from affectlens.modalities.base import AnalysisContext
from affectlens.modalities.face import FaceModality


def measure(frame_rate: float | None) -> dict:
    info = probe(dataset_path("video", "demo", "WolfgangLanger_Pexels.mp4"))
    frames: list[VideoFrame] = []
    t0 = time.perf_counter()
    decode(info, frame_rate=frame_rate, on_frame=frames.append, want_audio=False)
    decode_s = time.perf_counter() - t0
    face = FaceModality(frame_rate=frame_rate)
    face.start(info)
    face.observe_frame(frames[0])  # load the models outside the timing
    face.start(info)
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
    ms = np.array(per_frame) * 1000
    return {
        "frames": len(frames), "faces_found": len(face.timeline()),
        "classifier": face._classifier is not None,
        "ms_per_frame_mean": round(float(ms.mean()), 2), "ms_per_frame_median": round(float(np.median(ms)), 2),
        "ms_per_frame_p95": round(float(np.percentile(ms, 95)), 2),
        "face_stage_x_real_time": round(info.duration / (ms.sum() / 1000), 2),
        "decode_s": round(decode_s, 3), "after_decoding_s": round(after_s, 3),
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    figures = {"10_fps": measure(10.0), "all_frames": measure(None)}
    out = {
        "name": "face_speed", "date": str(datetime.date.today()), "machine": "2-core CPU",
        "command": "python benchmarks/face_speed.py",
        "data": "WolfgangLanger_Pexels.mp4 (640x360, 19.7 s, 23.98 frames/s, one face)",
        "figures": figures,
    }
    (REPO_ROOT / "benchmarks/results/face_speed.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
