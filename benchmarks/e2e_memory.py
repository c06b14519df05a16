"""Peak memory of a one-hour video with speech recognition: does the pipeline stream?

Input: a generated 1-hour 640x360 clip (``work_data/talking_3600s.mp4``, 10 fps, H.264 + AAC),
the 60 s MER2023 talking clip of ``e2e_speed.py`` played 60 times. It is analysed once in a
fresh process with the default options (face at 10 fps, voice activity, speech recognition,
voice, words). Frames are never kept; the audio is held once (16 kHz float32, ~230 MB for an
hour) and the shared encoder pass keeps only the voice head's layers, summed over 0.2 s blocks.

Run: ``python benchmarks/e2e_memory.py [--minutes 60]`` -> benchmarks/results/e2e_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from e2e_speed import SIZE, WORK, make_talking_clip  # noqa: E402

CHILD = r"""
import json, resource, sys, threading, time
peak = [0.0]
def watch():
    while True:
        with open("/proc/self/statm") as fh:
            peak[0] = max(peak[0], int(fh.read().split()[1]) * 4096 / 1e6)
        time.sleep(0.5)
threading.Thread(target=watch, daemon=True).start()
t0 = time.perf_counter()
import affectlens
result = affectlens.analyze(sys.argv[1])
print(json.dumps({"wall_s": time.perf_counter() - t0, "duration_s": result.media.duration,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "sampled_peak_rss_mb": peak[0], "utterances": len(result.utterances),
                  "face_observations": len(result.observations), "timings": result.timings}))
"""


def make_hour_clip(minutes: int) -> Path:
    """The 60 s talking clip played ``minutes`` times at 10 fps (made once)."""
    import av

    out_path = WORK / f"talking_{minutes * 60}s.mp4"
    if out_path.is_file():
        return out_path
    source = make_talking_clip(60.0)
    with av.open(str(source)) as src:
        frames = [f.to_ndarray(format="yuv420p") for i, f in enumerate(src.decode(video=0)) if i % 5 in (0, 3)]
    with av.open(str(source)) as src:
        packets = [f for f in src.decode(audio=0)]
    tmp = out_path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        v = out.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        pts = 0
        for _ in range(minutes):
            for yuv in frames[:600]:
                for p in v.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
                    out.mux(p)
            for frame in packets:
                frame.pts = pts
                pts += frame.samples
                for p in a.encode(frame):
                    out.mux(p)
        for stream in (v, a):
            for p in stream.encode():
                out.mux(p)
    tmp.replace(out_path)
    return out_path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    clip = make_hour_clip(args.minutes)
    out = subprocess.run([sys.executable, "-c", CHILD, str(clip)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    run = json.loads(out.stdout.strip().splitlines()[-1])
    print(run)
    write_result("e2e_memory", {
        "what": f"one {args.minutes}-minute 640x360 talking clip, default options (ASR on), fresh process",
        "goal": "peak RSS <= 1 GB for an hour with speech recognition",
        "input": clip.name, "duration_s": round(run["duration_s"], 1), "wall_s": round(run["wall_s"], 1),
        "x_real_time": round(run["duration_s"] / run["wall_s"], 2),
        "peak_rss_mb": round(run["peak_rss_mb"], 1), "utterances": run["utterances"],
        "face_observations": run["face_observations"],
        "stage_s": {k: round(v, 1) for k, v in run["timings"].items()},
    })


if __name__ == "__main__":
    main()
