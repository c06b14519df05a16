"""What the expression model's geometry head and flip averaging cost the whole pipeline (issue #32).

A/B on one host in one run: the pipeline analyses ``work_data/pexels_60s.mp4`` (made by
``benchmarks/e2e_speed.py``) with its 3 s subtitles (``work_data/cues_60s.srt``), face at 10
frames/s, in a fresh process per variant, cold then warm (the same ``Pipeline``), variants
interleaved ``--repeat`` times:

* ``card_default``: what the card turns on by default: the geometry head with flip averaging for
  the faces the members are unsure of (top probability under the card's ``tta_flip_below``; about
  a quarter of FER2013's faces; the mirror images cost a second run per member for those faces);
* ``geometry_flip_every_face``: the geometry head with flip averaging for every face (four CNN
  passes a face, in two runs; the opt-in combination before the gate);
* ``geometry_no_flip``: the members one pass each, with the geometry head (what the head alone costs);
* ``cnn_plain``: the members one pass each, no geometry head (the release before #32).

The geometry head reads the mesh the face stage computes anyway; FaceLandmarker (blendshapes)
is not run (see the model card for why). Goal (e2e_speed): subtitles >= 10x real time warm.

Run: ``flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/face_expression_pipeline.py``
-> ``benchmarks/results/face_expression_pipeline.json``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "work_data" / "pexels_60s.mp4"
CUES = REPO / "work_data" / "cues_60s.srt"

CHILD = r"""
import json, sys, time
import affectlens
from affectlens.modalities.face import modality
from affectlens.pipeline import AnalysisOptions, Pipeline
load = modality._load_classifier
def variant(threads=None):
    clf, crop, size = load(threads)
    if clf is not None and sys.argv[3] != "card_default":
        clf.geometry = sys.argv[3] != "cnn_plain"
        clf.flip = sys.argv[3] == "geometry_flip_every_face"
    return clf, crop, size
modality._load_classifier = variant
pipeline = Pipeline(AnalysisOptions(subtitles=sys.argv[2]))
runs = []
for _ in range(2):
    t = time.perf_counter()
    result = pipeline(sys.argv[1])
    runs.append({"wall_s": time.perf_counter() - t, "timings": result.timings,
                 "labels": [u.fused.label for u in result.utterances]})
print(json.dumps({"cold": runs[0], "warm": runs[1], "duration_s": result.media.duration}))
"""


def run(variant: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(CLIP), str(CUES), variant], capture_output=True,
                         text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not CLIP.is_file() or not CUES.is_file():
        raise SystemExit(f"{CLIP} or {CUES} missing: run benchmarks/e2e_speed.py once to make them")
    runs: dict[str, list[dict]] = {"card_default": [], "geometry_flip_every_face": [], "geometry_no_flip": [],
                                   "cnn_plain": []}
    for _ in range(args.repeat):
        for variant in runs:
            runs[variant].append(run(variant))
            r = runs[variant][-1]
            print(f"{variant}: cold {r['cold']['wall_s']:.2f} s, warm {r['warm']['wall_s']:.2f} s", flush=True)
    summary = {}
    for variant, rs in runs.items():
        d = rs[0]["duration_s"]
        warm = statistics.median(r["warm"]["wall_s"] for r in rs)
        cold = statistics.median(r["cold"]["wall_s"] for r in rs)
        summary[variant] = {
            "cold_s": round(cold, 2), "warm_s": round(warm, 2),
            "x_real_time_cold": round(d / cold, 2), "x_real_time_warm": round(d / warm, 2),
            "video_branch_cpu_warm_s": round(statistics.median(r["warm"]["timings"].get("video_branch_cpu", 0.0)
                                                               for r in rs), 2),
            "cpu_total_warm_s": round(statistics.median(r["warm"]["timings"].get("cpu_total", 0.0) for r in rs), 2),
            "labels_warm": rs[-1]["warm"]["labels"],
        }
    write_result("face_expression_pipeline", {
        "what": "whole pipeline on pexels_60s.mp4 with 3 s subtitles, face at 10 fps, fresh process per variant, "
                "cold then warm, variants interleaved; medians over --repeat",
        "goal": "subtitles >= 10x real time warm (e2e_speed)",
        "repeat": args.repeat,
        "variants": summary,
    })


if __name__ == "__main__":
    main()
