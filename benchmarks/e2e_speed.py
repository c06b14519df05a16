"""Wall time, real-time factor, peak memory and a per-branch profile of the whole pipeline.

Inputs (made once into ``work_data/``, never committed):

* ``pexels_60s.mp4``: the bundled sample's frames played three times (640x360, 24 fps) with
  English speech from RAVDESS as the soundtrack;
* ``talking_60s.mp4``: the MER2023 sample clips (real faces talking, Mandarin speech) fitted
  into 640x360 (letterboxed, 25 fps) and laid end to end until 60 s.

Configurations: with subtitles (3 s cues, no speech recognition), with speech recognition
(VAD + whisper-base), and every frame (``face_fps=None``) with subtitles.

Each configuration runs in a fresh process that imports affectlens, analyses the clip once
(**cold**: the models load) and again with the same ``Pipeline`` (**warm**). The previous
release (``--baseline REV``, default :data:`PREVIOUS_RELEASE`) runs the same way in the same benchmark, from a git worktree, so
the ratio is measured on the same host on the same day.

Run: ``python benchmarks/e2e_speed.py [--repeat 1] [--baseline REV|none]``
-> benchmarks/results/e2e_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "src" / "affectlens" / "sample" / "WolfgangLanger_Pexels.mp4"
WORK = REPO / "work_data"
SIZE = (640, 360)
#: The release measured beside the current code: the last commit before the speed work (issue 27).
PREVIOUS_RELEASE = "950eede"

CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
import affectlens
from affectlens.pipeline import AnalysisOptions, Pipeline
imported = time.perf_counter() - t0
opts = json.loads(sys.argv[2])
if opts.get("face_fps", 1) is None:
    opts["face_fps"] = None
pipeline = Pipeline(AnalysisOptions(**opts))
runs = []
for _ in range(2):
    t = time.perf_counter()
    result = pipeline(sys.argv[1])
    runs.append({"wall_s": time.perf_counter() - t, "timings": result.timings,
                 "labels": [u.fused.label for u in result.utterances]})
print(json.dumps({"import_s": imported, "cold": runs[0], "warm": runs[1],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "threads": len(os.listdir("/proc/self/task")), "module": affectlens.__file__,
                  "duration_s": result.media.duration, "utterances": len(result.utterances)}))
"""


def _write_clip(out_path: Path, frames, fps: int, audio) -> None:
    """Encode RGB frames (an iterable) and 16 kHz mono audio as H.264 + AAC."""
    import av
    import numpy as np

    with av.open(str(out_path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for rgb in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        audio = np.asarray(audio, dtype=np.float32)
        for start in range(0, len(audio), 1024):
            af = av.AudioFrame.from_ndarray(audio[start:start + 1024].reshape(1, -1), format="fltp", layout="mono")
            af.sample_rate = 16000
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)


def _audio_16k(path: Path):
    import av
    import numpy as np

    with av.open(str(path)) as src:
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
        return np.concatenate([o.to_ndarray().reshape(-1) for fr in src.decode(audio=0) for o in resampler.resample(fr)])


def make_long_clip(seconds: float = 60.0) -> Path:
    """Loop the sample into a ``seconds``-long clip with RAVDESS speech (made once)."""
    import av
    import numpy as np

    out_path = WORK / f"pexels_{int(seconds)}s.mp4"
    if out_path.is_file():
        return out_path
    WORK.mkdir(exist_ok=True)
    with av.open(str(SAMPLE)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    audio = speech_track(seconds)
    total = int(seconds * 16000)
    audio = np.tile(audio, int(np.ceil(total / len(audio))))[:total]
    fps = 24
    _write_clip(out_path, (frames[i % len(frames)] for i in range(int(seconds * fps))), fps, audio)
    return out_path


def _letterbox(rgb):
    """Fit a frame into 640x360 without distorting the face, padding with black."""
    import cv2
    import numpy as np

    h, w = rgb.shape[:2]
    scale = min(SIZE[0] / w, SIZE[1] / h)
    nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
    canvas = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    x0, y0 = (SIZE[0] - nw) // 2, (SIZE[1] - nh) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas


def make_talking_clip(seconds: float = 60.0) -> Path:
    """The MER2023 sample clips (faces talking) end to end, looped to ``seconds`` (made once)."""
    import av
    import numpy as np

    from affectlens.core.data import dataset_path

    out_path = WORK / f"talking_{int(seconds)}s.mp4"
    if out_path.is_file():
        return out_path
    WORK.mkdir(exist_ok=True)
    clips = sorted(dataset_path("video", "mer2023_samples").glob("*.mp4"))
    fps = 25
    frames, audio, t = [], [], 0.0
    while t < seconds:
        for clip in clips:
            with av.open(str(clip)) as src:
                stream = src.streams.video[0]
                step, next_t = 1.0 / fps, 0.0
                for f in src.decode(stream):
                    if f.time is not None and f.time + 1e-6 < next_t:
                        continue
                    next_t += step
                    frames.append(_letterbox(f.to_ndarray(format="rgb24")))
            sound = _audio_16k(clip)
            n = int(round(len(frames) / fps * 16000)) - sum(len(x) for x in audio)
            audio.append(np.pad(sound, (0, max(0, n - len(sound))))[:n])
            t = len(frames) / fps
            if t >= seconds:
                break
    n_frames = int(seconds * fps)
    _write_clip(out_path, frames[:n_frames], fps, np.concatenate(audio)[: int(seconds * 16000)])
    return out_path


def speech_track(seconds: float):
    """English speech: RAVDESS sentences of four actors, back to back.

    The sample's own soundtrack holds no speech, which would leave ASR and the voice model
    idle and flatter the timings.
    """
    import numpy as np

    from affectlens.core.data import dataset_path

    root = dataset_path("speech", "ravdess")
    pieces, total = [], 0
    for f in sorted(root.glob("Actor_0[1-4]/*.flac")):
        pieces.append(_audio_16k(f))
        total += len(pieces[-1])
        if total >= seconds * 16000:
            break
    return np.concatenate(pieces)


def cue_file(duration: float, step: float = 3.0) -> Path:
    path = WORK / f"cues_{int(duration)}s.srt"

    def ts(x: float) -> str:
        return f"{int(x // 3600):02d}:{int(x % 3600 // 60):02d}:{int(x % 60):02d},{int(round(x % 1 * 1000)):03d}"

    lines, t, n = [], 0.0, 1
    while t < duration:
        end = min(duration, t + step)
        lines.append(f"{n}\n{ts(t)} --> {ts(end)}\nI don't know what to say.\n")
        t, n = end, n + 1
    path.write_text("\n".join(lines))
    return path


def baseline_tree(rev: str) -> Path:
    """A git worktree of ``rev`` under work_data/ (made once per revision)."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    tree = WORK / f"release_{sha}"
    if not (tree / "src" / "affectlens").is_dir():
        WORK.mkdir(exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(tree), sha], cwd=REPO, check=True,
                       capture_output=True)
    return tree


def run(path: Path, options: dict, repeat: int, src: Path | None) -> dict:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(options)],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"child failed on {path.name} {options}: {out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if src is not None and not runs[0]["module"].startswith(str(src)):
        raise RuntimeError(f"the baseline imported {runs[0]['module']}, not the worktree {src}")
    duration = runs[0]["duration_s"]
    cold = statistics.median(r["cold"]["wall_s"] for r in runs)
    warm = statistics.median(r["warm"]["wall_s"] for r in runs)
    return {
        "input": path.name, "duration_s": round(duration, 2), "options": options,
        "import_s": round(statistics.median(r["import_s"] for r in runs), 2),
        "cold_s": round(cold, 2), "warm_s": round(warm, 2),
        "x_real_time_cold": round(duration / cold, 2), "x_real_time_warm": round(duration / warm, 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "threads_after": runs[0]["threads"],
        "stage_s_cold": {k: round(v, 2) for k, v in runs[0]["cold"]["timings"].items()},
        "stage_s_warm": {k: round(v, 2) for k, v in runs[0]["warm"]["timings"].items()},
        "labels_warm": runs[0]["warm"]["labels"],
        "utterances": runs[0]["utterances"], "runs": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline", default=PREVIOUS_RELEASE,
                        help="git revision of the previous release to measure beside this one, or 'none'")
    parser.add_argument("--only", help="comma-separated clip names to run (pexels_60s, talking_60s)")
    args = parser.parse_args()
    clips = {"pexels_60s": make_long_clip(60.0), "talking_60s": make_talking_clip(60.0)}
    if args.only:
        clips = {k: v for k, v in clips.items() if k in args.only.split(",")}
    versions: dict[str, Path | None] = {"current": None}
    if args.baseline != "none":
        versions[f"release {args.baseline}"] = baseline_tree(args.baseline) / "src"
    cues = str(cue_file(60.0))
    configs = [("subtitles", {"subtitles": cues}), ("asr", {}), ("all_frames", {"subtitles": cues, "face_fps": None})]
    rows = []
    for clip in clips.values():
        for config, options in configs:
            for version, src in versions.items():
                row = {"config": config, "version": version, **run(clip, options, args.repeat, src)}
                print({k: row[k] for k in ("config", "version", "input", "cold_s", "warm_s", "x_real_time_cold",
                                           "x_real_time_warm", "peak_rss_mb")}, flush=True)
                rows.append(row)
    ratios = []
    for row in rows:
        if row["version"] != "current":
            continue
        for base in rows:
            if base["version"] != "current" and base["input"] == row["input"] and base["config"] == row["config"]:
                ratios.append({"input": row["input"], "config": row["config"], "baseline": base["version"],
                               "speedup_cold": round(base["cold_s"] / row["cold_s"], 2),
                               "speedup_warm": round(base["warm_s"] / row["warm_s"], 2)})
    write_result("e2e_speed", {
        "what": ("whole pipeline (face at 10 fps or every frame + voice + words + fusion), fresh process per "
                 "configuration: cold = first analysis (models load), warm = the same Pipeline again"),
        "goal": "subtitles >= 8x cold / >= 10x warm real time; ASR >= 4x / >= 5x; every frame >= 1.5x warm",
        "runs": rows,
        "speedup_vs_baseline": ratios,
    })


if __name__ == "__main__":
    main()
