"""Does a reused ``Pipeline`` stay flat? Threads and memory over 100 analyses in one process.

A server, a folder batch or a Ray actor keeps one ``Pipeline`` for its whole life, so any
thread or byte left behind per call adds up (the release before this benchmark grew by ~6
threads and ~48 MB per call). The inputs alternate between the bundled sample video (face at
2 fps, no speech), a short MER2023 talking clip with speech recognition, and the five-face photo,
so every branch is exercised. The first 3 calls are warm-up (models load lazily); growth is
measured from there to the last call.

Run: ``python benchmarks/pipeline_reuse.py [--calls 100]`` -> benchmarks/results/pipeline_reuse.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

WARM_UP = 3


def threads_and_rss() -> tuple[int, float]:
    with open("/proc/self/statm") as fh:
        rss_mb = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return len(os.listdir("/proc/self/task")), rss_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    from affectlens.core.data import dataset_path
    from affectlens.pipeline import AnalysisOptions, Pipeline

    demo = dataset_path("video", "demo")
    media = [demo / "WolfgangLanger_Pexels.mp4", dataset_path("video", "mer2023_samples") / "sample_00000167.mp4",
             demo / "multi_face.jpg"]
    t0 = time.perf_counter()
    pipeline = Pipeline(AnalysisOptions(face_fps=2.0))
    trace = []
    for i in range(args.calls):
        t = time.perf_counter()
        pipeline(media[i % len(media)])
        threads, rss = threads_and_rss()
        trace.append({"call": i + 1, "input": media[i % len(media)].name, "wall_s": round(time.perf_counter() - t, 3),
                      "threads": threads, "rss_mb": round(rss, 1)})
        print(trace[-1], flush=True)
    base, last = trace[WARM_UP - 1], trace[-1]
    write_result("pipeline_reuse", {
        "what": f"{args.calls} analyses on one Pipeline, inputs alternating {[m.name for m in media]}",
        "goal": "after warm-up, growth <= 2 threads and <= 50 MB",
        "warm_up_calls": WARM_UP,
        "thread_growth": last["threads"] - base["threads"],
        "rss_growth_mb": round(last["rss_mb"] - base["rss_mb"], 1),
        "max_rss_mb": max(r["rss_mb"] for r in trace),
        "total_s": round(time.perf_counter() - t0, 1),
        "trace": trace,
    })


if __name__ == "__main__":
    main()
