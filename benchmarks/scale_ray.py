"""Corpora on Ray: throughput of local sequential vs Ray with 1 and 2 workers (same host, one
run), Ray's start-up cost and memory, annotate files per minute, and kill -9 resume checks.

The corpus is the nine MER2023 samples plus copies of three of them (12 real clips, 1.7-13.6 s,
face at 10 fps, voice, words), measured in two configurations:

* ``transcripts`` (the main one): each clip's English transcript as its subtitles
  (``subtitles_dir``), as these Mandarin clips are meant to be analysed (data README);
* ``speech_recognition``: the default options without subtitles. whisper-base's greedy pass
  often loops on this Mandarin speech and the fallback decodes again by sampling, so the same
  clip takes a different time from run to run (reported per clip).

In each, every configuration writes into a fresh folder, so nothing is resumed:

* ``local_sequential``: one pipeline in a fresh process with a 1-thread budget (the reference a
  Ray worker with ``num_cpus=1`` is compared with), and with the whole machine (2 threads: the
  video and audio branches run at the same time), for context;
* ``two_local_processes``: two such processes at once, each on the whole corpus, without Ray
  and unpinned: what this host gives two parallel streams left to the scheduler;
* ``ray_1_worker`` / ``ray_2_workers``: ``analyze_many(workers=N)`` on a local Ray runtime,
  each worker an actor with ``num_cpus=1``; the 2 workers fill the runtime's 2 CPUs, so each
  pins itself to a core of its own (``scale/cpu_claims.py``); ``ray_2_workers_unpinned``: the
  same with pinning off, to measure what pinning brings. "Once started" = from the first file sent to the
  last result. Every worker, local or Ray, loads its models before it is sent a file, so
  start-up (reported apart) is not counted as throughput;
* Ray's start-up: ``ray.init`` and an actor's time to ready; memory: each worker's resident
  memory after its files, Ray's own processes (GCS, raylet, agents), the driver;
* annotate: ``annotate_corpus`` with the clips' English transcripts as subtitles, locally and on
  2 Ray workers, in files per minute;
* kill -9: the command (local, then ``--ray`` with its own runtime) killed at a random moment
  after its first result, then run again; counted: inputs with exactly one complete result,
  failures listed, half-written files, finished files analysed again.

Goals (issue #30): 2 workers >= 1.7x one worker; Ray with 1 worker within 10 % of local
sequential once started.

Local sequential and Ray with 1 and 2 workers run ``--repeat`` times (the Ray ones alternated)
and their medians are reported: one pass of each swung by +-5 % on this host.

Run: ``python benchmarks/scale_ray.py [--repeat 5] [--kill-trials 3]`` -> benchmarks/results/scale_ray.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from affectlens.core.memory import rss_mb  # noqa: E402

COPIES = ["sample_00000338.mp4", "sample_00000669.mp4", "sample_00001073.mp4"]


def rss_of(pid: int) -> float:
    value = rss_mb(pid)
    return 0.0 if value != value else value  # a worker that has gone reads 0


def ray_system_processes() -> dict[int, str]:
    """Ray's own processes on this machine (not the analysis workers): GCS, raylet, agents, idle workers."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("ray/core/src/ray" in cmd or cmd.startswith("ray::")) and not cmd.startswith("ray::AnalysisWorker"):
            found[int(d.name)] = cmd.split(" ")[0].rsplit("/", 1)[-1]
    return found


def make_corpus(root: Path) -> tuple[Path, Path]:
    """12 clips (the 9 samples + 3 copies) and a folder of one-cue subtitles from their transcripts."""
    from affectlens.core.data import dataset_path

    src = dataset_path("video", "mer2023_samples")
    clips, subs = root / "clips", root / "subs"
    clips.mkdir()
    subs.mkdir()
    for p in sorted(src.glob("*.mp4")):
        shutil.copy(p, clips / p.name)
    for name in COPIES:
        shutil.copy(src / name, clips / f"copy_{name}")
    import av

    with open(src / "labels.csv", newline="", encoding="utf-8") as fh:
        transcripts = {row["file"]: row["transcript_en"] for row in csv.DictReader(fh)}
    for clip in clips.glob("*.mp4"):
        text = transcripts.get(clip.name.removeprefix("copy_"))
        if not text:
            continue
        with av.open(str(clip)) as c:
            end = c.duration / 1e6
        ms = int(end * 1000)
        subs.joinpath(f"{clip.stem}.srt").write_text(
            f"1\n00:00:00,000 --> 00:00:{ms // 1000:02d},{ms % 1000:03d}\n{text}\n", encoding="utf-8")
    return clips, subs


def run_config(name: str, clips: Path, out: Path, **kwargs) -> dict:
    """One ``analyze_many`` pass; times from the first file sent to the last result."""
    from affectlens.scale import FileResult, analyze_many

    marks: dict[str, float] = {}
    started_workers: list[float] = []
    worker_cpus: dict[str, list[int]] = {}

    def hook(event) -> None:
        t = time.perf_counter()
        if event.kind == "worker-started":
            started_workers.append(t)
            worker_cpus[event.worker.name] = list(event.worker.cpus)
        if event.kind == "dispatched":
            marks.setdefault("first_dispatch", t)

    t0 = time.perf_counter()
    items = []
    for item in analyze_many(clips, out_dir=out, hook=hook, **kwargs):
        items.append(item)
    end = time.perf_counter()
    first = marks["first_dispatch"]  # both paths load their models before they send the first file
    ok = [i for i in items if isinstance(i, FileResult)]
    wall = end - first
    row = {
        "config": name, "files": len(items), "ok": len(ok),
        "wall_once_started_s": round(wall, 2), "wall_total_s": round(end - t0, 2),
        "files_per_min": round(60 * len(ok) / wall, 2),
        "worker_start_s": round(max(started_workers) - t0, 2) if started_workers else None,
        "sum_file_seconds": round(sum(i.seconds or 0 for i in ok), 2),
        "file_seconds": {i.stem: round(i.seconds or 0, 2) for i in ok},
        "worker_rss_mb": {w: round(max(i.worker_rss_mb or 0 for i in ok if i.worker == w), 1)
                          for w in sorted({i.worker for i in ok})},
        "worker_cpus": worker_cpus,  # the cores each worker pinned itself to ([]: not pinned)
    }
    print(json.dumps(row), flush=True)
    return row


def median_run(rows: list[dict]) -> dict:
    """The run with the median time once started, with every run's time beside it."""
    ordered = sorted(rows, key=lambda r: r["wall_once_started_s"])
    return {**ordered[(len(ordered) - 1) // 2], "walls_once_started_s": [r["wall_once_started_s"] for r in rows]}


def kill_trials(clips: Path, root: Path, trials: int, ray: bool, seed: int) -> dict:
    """Kill -9 the driver at a random moment after its first result, run it again, count."""
    from affectlens.scale import read_manifest

    rng = random.Random(seed)
    good = {p.stem for p in clips.glob("*.mp4")}
    folder = root / ("kill_ray" if ray else "kill_local")
    counts = {"trials": 0, "killed_mid_batch": 0, "inputs": 0, "exactly_one_complete_result": 0,
              "corrupt_listed_failed": 0, "half_written_files_left": 0, "finished_files_redone": 0,
              "rerun_exit_codes": []}
    for trial in range(trials):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(clips, folder / "in")
        (folder / "in" / "broken.mp4").write_bytes(os.urandom(8192))
        out = folder / "out"
        cmd = [sys.executable, "-m", "affectlens.cli", "analyze", str(folder / "in"), "--out", str(out),
               "--format", "json,csv", "--modalities", "face", "--face-fps", "2", "--no-asr", "--quiet"]
        if ray:
            cmd += ["--ray", "--workers", "2"]
        before = set(ray_system_processes())
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        manifest = out / "manifest.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not (manifest.is_file()
                                                                            and manifest.stat().st_size):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(3.0)  # the killed runtime's workers go with their raylet
        finished_before = {p.stem for p in out.glob("*.json") if p.name != "errors.json"}
        lines_before = len(manifest.read_text().splitlines()) if manifest.is_file() else 0
        rerun = subprocess.run(cmd, capture_output=True)
        # The killed runtime's agents outlive their raylet for a while: end the ones this trial started.
        for pid, name in ray_system_processes().items():
            if pid not in before and name in ("ray::DashboardAgent", "ray::RuntimeEnvAgent"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        results = {p.stem for p in out.glob("*.json") if p.name != "errors.json"}
        entries = read_manifest(manifest)
        # The rerun's own lines: those after the killed run's (its torn last line included).
        lines = [json.loads(x) for x in manifest.read_text().splitlines()[lines_before:]
                 if x.startswith("{") and x.endswith("}")]
        redone = {x["stem"] for x in lines if not x["resumed"]} & finished_before
        complete = sum(1 for s in good if s in results and json.loads((out / f"{s}.json").read_text())
                       and (out / f"{s}.csv").is_file())
        counts["trials"] += 1
        counts["killed_mid_batch"] += len(finished_before) < len(good)
        counts["inputs"] += len(good) + 1
        counts["exactly_one_complete_result"] += complete + (results == good and "broken" not in results)
        counts["corrupt_listed_failed"] += int(entries.get("broken") is not None
                                               and entries["broken"].status == "failed")
        counts["half_written_files_left"] += len([p for p in out.rglob("*") if p.name.endswith(".tmp")])
        counts["finished_files_redone"] += len(redone)
        counts["rerun_exit_codes"].append(rerun.returncode)
        print(f"kill trial {trial} ({'ray' if ray else 'local'}): {len(finished_before)} finished before the kill, "
              f"{len(results)} after the rerun, redone {sorted(redone)}", flush=True)
    # "exactly_one_complete_result" counts each good clip with its result, plus the corrupt file
    # when it has none, per trial: the total to expect is inputs.
    return counts


def local_in_child(config: str, clips: Path, out: Path, quick: bool, subs: Path | None = None) -> dict:
    """Run a local configuration in a fresh process, as a Ray actor is one: its imports and model
    loading are its own, not left warm by an earlier configuration in this process."""
    cmd = [sys.executable, __file__, "--child", config, "--clips", str(clips), "--out", str(out)]
    cmd += ["--quick"] if quick else []
    cmd += ["--subs", str(subs)] if subs else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace, quick: dict) -> None:
    """``--child CONFIG``: one local configuration, its row printed as the last line."""
    from affectlens.pipeline import AnalysisOptions
    from affectlens.scale.annotate import annotate_corpus

    clips, out = Path(args.clips), Path(args.out)
    if args.child == "annotate":
        t = time.perf_counter()
        s = annotate_corpus([clips], out, use_ray=False, subtitles_dir=args.subs, progress=False,
                            analysis=AnalysisOptions(**quick))
        wall = time.perf_counter() - t
        n = s.analysed
        from affectlens.core.threads import available_threads

        print(json.dumps({"config": f"annotate, one local pipeline ({available_threads()} threads)", "clips": n, "kept": len(s.kept),
                          "failed": len(s.failed), "wall_s": round(wall, 2), "files_per_min": round(60 * n / wall, 2)}))
        return
    threads = {"local1": 1, "local2": 2}[args.child]
    row = run_config(f"local sequential, {threads} thread{'s' if threads > 1 else ''}", clips, out,
                     options=AnalysisOptions(threads=threads, **quick), use_ray=False,
                     subtitles_dir=Path(args.subs) if args.subs else None)
    print(json.dumps(row))


#: The two configurations measured, main one first: (name, each clip's transcript as its subtitles).
CONFIGS = (("transcripts", True), ("speech_recognition", False))
CONFIG_TEXT = {
    "transcripts": "each clip's English transcript as its subtitles (subtitles_dir), as the MER2023 clips are "
                   "meant to be analysed (their speech is Mandarin): face at 10 fps, voice, words",
    "speech_recognition": "default options without subtitles: speech recognition runs on the Mandarin speech, "
                          "where whisper's greedy pass often loops and the fallback decodes again with sampling",
}


def measure_local(clips: Path, root: Path, subs: Path | None, repeat: int, quick: bool) -> dict[str, dict]:
    """Local sequential (1 thread, ``repeat`` runs; 2 threads once) and two plain 1-thread
    processes at once, for one configuration; run before Ray is started."""
    root.mkdir(exist_ok=True)
    runs: dict[str, dict] = {}
    runs["local_sequential_1_thread"] = median_run([local_in_child("local1", clips, root / f"o_local1_{k}", quick, subs)
                                                    for k in range(repeat)])
    print(json.dumps(runs["local_sequential_1_thread"]), flush=True)
    runs["local_sequential_2_threads"] = local_in_child("local2", clips, root / "o_local2", quick, subs)
    print(json.dumps(runs["local_sequential_2_threads"]), flush=True)
    # Two streams without Ray, left to the scheduler: two local 1-thread processes at once,
    # each on the whole corpus (so no load-balancing tail either).
    with ThreadPoolExecutor(2) as pool:
        pair = list(pool.map(lambda k: local_in_child("local1", clips, root / f"o_pair{k}", quick, subs), (0, 1)))
    pair_wall = max(p["wall_once_started_s"] for p in pair)
    runs["two_local_processes"] = {
        "config": "two local 1-thread processes at once, each on the whole corpus (no Ray)",
        "files": sum(p["files"] for p in pair), "wall_once_started_s": pair_wall,
        "files_per_min": round(60 * sum(p["ok"] for p in pair) / pair_wall, 2),
        "sum_file_seconds": round(sum(p["sum_file_seconds"] for p in pair), 2),
        "walls_s": [p["wall_once_started_s"] for p in pair],
    }
    print(json.dumps(runs["two_local_processes"]), flush=True)
    return runs


def measure_ray(clips: Path, root: Path, subs: Path | None, repeat: int, quick: dict) -> dict[str, list[dict]]:
    """Ray with 1 and 2 workers, and 2 workers left unpinned, ``repeat`` runs each, alternated
    (so that a slow spell of the host falls on all alike); inside a Ray runtime.

    As shipped, 2 workers on this 2-CPU runtime take every CPU and pin themselves to a core
    each, and 1 worker is left free (scale/cpu_claims.py); ``ray_2_workers_unpinned`` turns the
    pinning off (``AFFECTLENS_PIN_CPUS=0``) to measure what it brings."""
    from affectlens.pipeline import AnalysisOptions

    root.mkdir(exist_ok=True)
    rows: dict[str, list[dict]] = {"ray_1_worker": [], "ray_2_workers": [], "ray_2_workers_unpinned": []}
    for k in range(repeat):
        for w, key in ((1, "ray_1_worker"), (2, "ray_2_workers"), (2, "ray_2_workers_unpinned")):
            unpinned = key.endswith("unpinned")
            name = f"Ray, {w} worker{'s' if w > 1 else ''} (num_cpus=1{' each' if w > 1 else ''}" + \
                   (", not pinned)" if unpinned else ")")
            if unpinned:
                os.environ["AFFECTLENS_PIN_CPUS"] = "0"
            try:
                rows[key].append(run_config(name, clips, root / f"o_{key}_{k}", workers=w, use_ray=True,
                                            options=AnalysisOptions(**quick), subtitles_dir=subs))
            finally:
                os.environ.pop("AFFECTLENS_PIN_CPUS", None)
    return rows


def summarise(local: dict[str, dict], ray_rows: dict[str, list[dict]]) -> dict:
    """One configuration's runs (medians), the goals, and how much one clip's time moves
    between the 1-worker runs (the same clip on the same kind of worker)."""
    runs = {**local, **{k: median_run(v) for k, v in ray_rows.items()}}
    r1, r2, loc = runs["ray_1_worker"], runs["ray_2_workers"], runs["local_sequential_1_thread"]
    speedup = r1["wall_once_started_s"] / r2["wall_once_started_s"]
    unpinned = runs["ray_2_workers_unpinned"]["wall_once_started_s"]
    ray1_vs_local = r1["wall_once_started_s"] / loc["wall_once_started_s"] - 1
    per_clip: dict[str, list[float]] = {}
    for row in ray_rows["ray_1_worker"]:
        for stem, sec in row["file_seconds"].items():
            per_clip.setdefault(stem, []).append(sec)
    spread = sorted(((stem, [min(v), max(v)]) for stem, v in per_clip.items()), key=lambda kv: kv[1][0] - kv[1][1])
    return {
        "runs": runs,
        "speedup_2_workers_vs_1": round(speedup, 2),
        "speedup_2_unpinned_workers_vs_1": round(r1["wall_once_started_s"] / unpinned, 2),
        "pinning_gain_2_workers_pct": round(100 * (unpinned / r2["wall_once_started_s"] - 1), 1),
        "host_two_process_speedup": round(runs["two_local_processes"]["files_per_min"] / loc["files_per_min"], 2),
        "worker_seconds_per_file": {k: round(v["sum_file_seconds"] / v["files"], 2) for k, v in runs.items()},
        "ray_1_worker_vs_local_sequential_pct": round(100 * ray1_vs_local, 1),
        "goal_met": {"two_workers_vs_one": speedup >= 1.7, "ray_one_worker_vs_local": abs(ray1_vs_local) <= 0.10},
        "ray_1_worker_clip_seconds_min_max": dict(spread),
        "worker_rss_mb_max": round(max(v for k in ray_rows for row in ray_rows[k]
                                       for v in row["worker_rss_mb"].values()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of local sequential and of Ray with 1 and 2 workers (medians reported)")
    parser.add_argument("--quick", action="store_true",
                        help="check the script end to end on 4 clips, face only; writes no result")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--clips", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--subs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = {"modalities": ("face",), "face_fps": 2.0, "asr": False} if args.quick else {}
    if args.child:
        child(args, quick)
        return
    from affectlens.pipeline import AnalysisOptions
    from affectlens.scale.annotate import annotate_corpus
    from affectlens.scale.ray_pool import ray_runtime

    root = Path(tempfile.mkdtemp(prefix="scale_ray_"))
    clips, subs = make_corpus(root)
    if args.quick:
        for p in sorted(clips.glob("*.mp4"))[4:]:
            p.unlink()
    n = len(list(clips.glob("*.mp4")))
    durations = []
    import av

    for p in clips.glob("*.mp4"):
        with av.open(str(p)) as c:
            durations.append(c.duration / 1e6)
    local = {}
    for name, clip_subs in CONFIGS:
        print(f"== {name}, local", flush=True)
        local[name] = measure_local(clips, root / name, subs if clip_subs else None, args.repeat, args.quick)
    ray_procs_before = set(ray_system_processes())
    t = time.perf_counter()
    throughput: dict[str, dict] = {}
    with ray_runtime() as ray:
        init_s = time.perf_counter() - t
        time.sleep(2.0)
        system = {pid: name for pid, name in ray_system_processes().items() if pid not in ray_procs_before}
        system_rss = sum(rss_of(pid) for pid in system)
        for name, clip_subs in CONFIGS:
            print(f"== {name}, Ray", flush=True)
            rows = measure_ray(clips, root / name, subs if clip_subs else None, args.repeat, quick)
            throughput[name] = summarise(local[name], rows)
        main_runs = throughput[CONFIGS[0][0]]["runs"]
        driver_rss = rss_of(os.getpid())
        marks: list[float] = []
        t = time.perf_counter()
        s = annotate_corpus([clips], root / "a_ray", workers=2, subtitles_dir=subs, progress=False,
                            analysis=AnalysisOptions(**quick),
                            hook=lambda e: marks.append(time.perf_counter()) if e.kind == "dispatched" else None)
        end = time.perf_counter()
        annotate_ray = {"config": "annotate, Ray, 2 workers", "clips": s.analysed, "kept": len(s.kept),
                        "failed": len(s.failed), "wall_s": round(end - t, 2),
                        "wall_once_started_s": round(end - min(marks), 2)}
        annotate_ray["files_per_min"] = round(60 * s.analysed / (end - min(marks)), 2)
    annotate_local = local_in_child("annotate", clips, root / "a_local", args.quick, subs)

    kill_local = kill_trials(clips, root, args.kill_trials, ray=False, seed=args.seed)
    kill_ray = kill_trials(clips, root, args.kill_trials, ray=True, seed=args.seed + 1)

    r1, r2 = main_runs["ray_1_worker"], main_runs["ray_2_workers"]
    worker_rss = [v for c in throughput.values() for k in ("ray_1_worker", "ray_2_workers")
                  for v in c["runs"][k]["worker_rss_mb"].values()]
    result = {
        "what": f"{n} real clips (MER2023 samples + 3 copies, {sum(durations):.0f} s of video, "
                f"{min(durations):.1f}-{max(durations):.1f} s each); one host, one run; medians of "
                f"{args.repeat} runs of local sequential and of Ray with 1 and 2 workers (the Ray ones alternated), "
                "in two configurations: " + "; ".join(f"{k}: {v}" for k, v in CONFIG_TEXT.items()),
        "ray_version": ray.__version__,
        "goals": {"two_workers_vs_one": ">= 1.7x", "ray_one_worker_vs_local_sequential": "within 10 % once started"},
        "throughput": throughput,
        "goal_met": {c: v["goal_met"] for c, v in throughput.items()},
        "ray_startup": {"ray_init_s": round(init_s, 2),
                        "actor_ready_s_1_worker": r1["worker_start_s"], "actor_ready_s_2_workers": r2["worker_start_s"],
                        "local_worker_ready_s": main_runs["local_sequential_1_thread"]["worker_start_s"]},
        "memory_mb": {"per_worker_rss_max": round(max(worker_rss), 1), "per_worker_rss_min": round(min(worker_rss), 1),
                      "ray_system_processes": round(system_rss, 1),
                      "ray_system_process_names": sorted(set(system.values())),
                      "driver": round(driver_rss, 1)},
        "annotate": {"ray_2_workers": annotate_ray, "local_one_pipeline": annotate_local,
                     "subtitles": "each clip's English transcript as one cue"},
        "kill9_resume": {"local": kill_local, "ray": kill_ray,
                         "options": f"face only at 2 fps, no speech recognition, json+csv; {n} clips + 1 corrupt file",
                         "seed": args.seed},
        "notes": "local configurations run in a fresh process each, as each Ray actor is one; 'once started' "
                 "times run from the first file sent to the last result; every worker, local or Ray, loads its "
                 "models before it is sent a file (worker ready = loaded; its first inferences still fall in its first "
                 "file). "
                 "host_two_process_speedup is what two plain processes, left to the operating system's "
                 "scheduling, get on this host; ray_2_workers pin themselves to a core each (they take every CPU), "
                 "ray_2_workers_unpinned do not; worker_seconds_per_file (analysis seconds per file on its worker) shows each file "
                 "slowing down when two run at once",
    }
    if args.quick:
        print(json.dumps(result, indent=1))
    else:
        write_result("scale_ray", result)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
