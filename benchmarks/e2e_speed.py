"""Wall time, real-time factor and peak memory of the whole pipeline on 2 CPU cores.

Inputs: the bundled sample (WolfgangLanger_Pexels.mp4, 640x360, 19.7 s, no speech) and a 60 s
640x360 clip made from it (its frames played three times, with English speech from RAVDESS as
the soundtrack, re-encoded with H.264 + AAC into ``work_data/``). Configurations: with subtitles (fixed 3 s cues, no ASR), audio only with ASR
(VAD + whisper-base), and without ASR. Each run is a fresh subprocess so model loading and peak
RSS are counted honestly; the figures are the median of ``--repeat`` runs.

Run: ``python benchmarks/e2e_speed.py [--repeat 3]`` -> benchmarks/results/e2e_speed.json
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
SAMPLE = REPO / "src" / "affectlens" / "sample" / "WolfgangLanger_Pexels.mp4"
WORK = REPO / "work_data"

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import affectlens
opts = json.loads(sys.argv[2])
result = affectlens.analyze(sys.argv[1], **opts)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "timings": result.timings, "utterances": len(result.utterances),
                  "duration_s": result.media.duration}))
"""


def make_long_clip(seconds: float = 60.0) -> Path:
    """Loop the sample into a ``seconds``-long H.264/AAC clip (made once)."""
    import av
    import numpy as np

    out_path = WORK / f"pexels_{int(seconds)}s.mp4"
    if out_path.is_file():
        return out_path
    WORK.mkdir(exist_ok=True)
    with av.open(str(SAMPLE)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    audio = speech_track(seconds)
    fps = 24
    n_frames = int(seconds * fps)
    with av.open(str(out_path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        total = int(seconds * 16000)
        reps = np.tile(audio, int(np.ceil(total / len(audio))))[:total].astype(np.float32)
        for start in range(0, total, 1024):
            chunk = reps[start:start + 1024].reshape(1, -1)
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            af.sample_rate = 16000
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    return out_path


def speech_track(seconds: float):
    """English speech for the clip's audio: RAVDESS sentences of four actors, back to back.

    The sample's own soundtrack holds no speech, which would leave ASR and the voice model
    idle and flatter the timings.
    """
    import av
    import numpy as np

    from affectlens.core.data import dataset_path

    root = dataset_path("speech", "ravdess")
    files = sorted(root.glob("Actor_0[1-4]/*.flac"))
    pieces, total = [], 0
    for f in files:
        with av.open(str(f)) as src:
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
            x = np.concatenate([o.to_ndarray().reshape(-1) for fr in src.decode(audio=0) for o in resampler.resample(fr)])
        pieces.append(x)
        total += len(x)
        if total >= seconds * 16000:
            break
    return np.concatenate(pieces)


def cue_file(duration: float, step: float = 3.0) -> Path:
    path = WORK / f"cues_{int(duration)}s.srt"
    lines, t, n = [], 0.0, 1
    while t < duration:
        end = min(duration, t + step)

        def ts(x):
            return f"{int(x // 3600):02d}:{int(x % 3600 // 60):02d}:{int(x % 60):02d},{int(round(x % 1 * 1000)):03d}"

        lines.append(f"{n}\n{ts(t)} --> {ts(end)}\nI don't know what to say.\n")
        t, n = end, n + 1
    path.write_text("\n".join(lines))
    return path


def run(path: Path, options: dict, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(options)],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    wall = statistics.median(r["wall_s"] for r in runs)
    duration = runs[0]["duration_s"]
    return {
        "input": path.name, "duration_s": round(duration, 2), "options": options,
        "wall_s": round(wall, 2), "x_real_time": round(duration / wall, 2),
        "real_time_factor": round(wall / duration, 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "stage_s": {k: round(v, 2) for k, v in runs[0]["timings"].items()},
        "utterances": runs[0]["utterances"], "runs": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    long_clip = make_long_clip(60.0)
    configs = []
    for clip, duration in ((SAMPLE, 19.7), (long_clip, 60.0)):
        configs.append(("subtitles", clip, {"subtitles": str(cue_file(duration))}))
        configs.append(("asr", clip, {}))
        configs.append(("no_asr", clip, {"asr": False}))
    rows = []
    for name, clip, options in configs:
        row = {"config": name, **run(clip, options, args.repeat)}
        print(row)
        rows.append(row)
    write_result("e2e_speed", {
        "what": "whole pipeline (face at 10 fps + voice + words + fusion), fresh process per run, median wall time",
        "target": "60 s 640x360 clip with subtitles at least 3x faster than real time",
        "runs": rows,
    })


if __name__ == "__main__":
    main()
