"""Bad input, as a user meets it: every awkward kind through the command line, then a fuzz run.

1. **Kinds.** Each input of :mod:`affectlens.testing.awkward` (made from a MER2023 clip with a
   face and speech), plus command-line mistakes (broken, binary or missing subtitles, an output
   path that cannot be written, bad option values, an empty folder), runs as
   ``python -m affectlens analyze ...`` in its own process with the default options. Recorded per
   kind: exit status, what reached stderr, wall time and the process's peak RSS. A kind passes
   when it ends with a result (exit 0, JSON written) or a one-line error (non-zero exit, one
   line, no traceback), as the kind expects, within 5 minutes and 4 GB.
2. **Batch.** All kinds in one folder beside good clips, one command: every good file must be
   done and every bad one listed with its reason.
3. **Fuzz.** Mutants of a real clip (bytes flipped, runs overwritten, zeroed, duplicated or cut
   out, the file truncated) analysed one after another by a long-lived worker process; a worker
   that dies (a native crash) or stalls is recorded against its mutant and replaced. Counted:
   results, one-line errors, unexpected exceptions (bugs), crashes and hangs.

Run: ``python benchmarks/reliability.py [--fuzz 150] [--seed 0]`` -> benchmarks/results/reliability.json
"""

from __future__ import annotations

import argparse
import json
import os
import select
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "work_data" / "reliability"
CLIP = "sample_00000000.mp4"
TIMEOUT_S = 300
MEMORY_LIMIT_MB = 4096


#: ``python -m affectlens`` that writes its peak RSS (MB) to $RELIABILITY_PEAK_FILE at exit.
LAUNCH = r"""
import atexit, os, sys
def report():
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    with open(os.environ["RELIABILITY_PEAK_FILE"], "w") as out:
        out.write(str(hwm / 1024))
atexit.register(report)
sys.argv = ["affectlens", *sys.argv[1:]]
from affectlens.cli import console
sys.exit(console())
"""


def run_measured(args: list[str], timeout: float = TIMEOUT_S) -> dict:
    """One command in a fresh process: exit status (None on timeout), stderr lines, wall time,
    and the child's own peak RSS (MB, from ``wait4``)."""
    start = time.perf_counter()
    peak_file = WORK / ".peak_rss"
    peak_file.unlink(missing_ok=True)
    env = dict(os.environ, RELIABILITY_PEAK_FILE=str(peak_file))
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    deadline = start + timeout
    out = err = b""
    rc = None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    while sel.get_map():
        if time.perf_counter() > deadline:
            proc.kill()
            break
        for key, _ in sel.select(timeout=1.0):
            chunk = key.fileobj.read1(65536)
            if not chunk:
                sel.unregister(key.fileobj)
            elif key.fileobj is proc.stdout:
                out += chunk
            else:
                err += chunk
    _, status, _ = os.wait4(proc.pid, 0)
    # The child's own high-water mark (its VmHWM at exit): the rusage of a forked child also
    # counts the parent's pages from before exec.
    peak_mb = float(peak_file.read_text()) if peak_file.is_file() else 0.0
    if os.WIFEXITED(status) and time.perf_counter() <= deadline:
        rc = os.WEXITSTATUS(status)
    elif os.WIFSIGNALED(status):
        rc = -os.WTERMSIG(status)
    return {"rc": rc, "stderr": err.decode(errors="replace").strip().splitlines(),
            "stdout_lines": len(out.splitlines()), "wall_s": round(time.perf_counter() - start, 2),
            "peak_rss_mb": round(peak_mb)}


def judge(run: dict, expect: str, wrote_result: bool) -> tuple[str, str | None]:
    """(outcome, problem): outcome is result / error / bad."""
    err = run["stderr"]
    if run["rc"] is None:
        return "bad", "hang (timed out)"
    if run["rc"] < 0:
        return "bad", f"killed by signal {-run['rc']}"
    if run.get("peak_rss_mb", 0) > MEMORY_LIMIT_MB:
        return "bad", f"{run['peak_rss_mb']} MB"
    if any("Traceback" in line for line in err):
        return "bad", "traceback"
    if run["rc"] == 0:
        outcome = "result" if wrote_result else "bad"
        if not wrote_result:
            return outcome, "exit 0 without a result"
    else:
        outcome = "error"
        if len(err) != 1:
            return "bad", f"{len(err)} stderr lines for one error"
    if expect != "either" and outcome != expect:
        return outcome, f"expected {expect}"
    return outcome, None


def cli_kinds(work: Path, good: Path) -> list[tuple[str, str, list[str]]]:
    """Command-line mistakes: (name, expected outcome, arguments)."""
    subs = work / "subs"
    subs.mkdir(exist_ok=True)
    (subs / "binary.srt").write_bytes(bytes(range(256)) * 8)
    (subs / "empty.srt").write_text("")
    (subs / "no_cues.srt").write_text("just some words\nwith no timing at all\n")
    (subs / "late.srt").write_text("1\n00:10:00,000 --> 00:10:02,000\nlong after the clip ends\n")
    (subs / "utf16_bom.srt").write_bytes("1\r\n00:00:00,000 --> 00:00:02,000\r\nNARRATOR: hello\r\n".encode("utf-16"))
    (subs / "dir.srt").mkdir(exist_ok=True)
    (work / "empty_folder").mkdir(exist_ok=True)
    (work / "out_is_a_file").write_text("{}")
    out = str(work / "cli_out")
    g = str(good)
    return [
        ("subtitles: binary", "error", ["analyze", g, "--subtitles", str(subs / "binary.srt"), "--out", out]),
        ("subtitles: empty", "error", ["analyze", g, "--subtitles", str(subs / "empty.srt"), "--out", out]),
        ("subtitles: no cues", "error", ["analyze", g, "--subtitles", str(subs / "no_cues.srt"), "--out", out]),
        ("subtitles: all cues after the end", "result", ["analyze", g, "--subtitles", str(subs / "late.srt"), "--out", out]),
        ("subtitles: UTF-16 with BOM and CRLF", "result",
         ["analyze", g, "--subtitles", str(subs / "utf16_bom.srt"), "--out", out]),
        ("subtitles: a folder", "error", ["analyze", g, "--subtitles", str(subs / "dir.srt"), "--out", out]),
        ("subtitles: missing", "error", ["analyze", g, "--subtitles", str(subs / "nope.srt"), "--out", out]),
        ("output: a file", "error", ["analyze", g, "--out", str(work / "out_is_a_file")]),
        ("output: under a file", "error", ["analyze", g, "--out", str(work / "out_is_a_file" / "sub")]),
        ("option: unknown format", "error", ["analyze", g, "--format", "docx", "--out", out]),
        ("option: --face-fps -1", "error", ["analyze", g, "--face-fps", "-1", "--out", out]),
        ("option: --threads 0", "error", ["analyze", g, "--threads", "0", "--out", out]),
        ("option: unknown modality", "error", ["analyze", g, "--modalities", "smell", "--out", out]),
        ("path: missing", "error", ["analyze", str(work / "missing.mp4"), "--out", out]),
        ("path: empty folder", "error", ["analyze", str(work / "empty_folder"), "--out", out]),
    ]


MUTATIONS = ("flip", "overwrite", "zero", "duplicate", "cut", "truncate")


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random corruption of ``data``, and its name."""
    kind = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    b = bytearray(data)
    n = len(b)
    at = int(rng.integers(0, n))
    length = int(rng.integers(1, max(2, n // 20)))
    if kind == "flip":
        for i in rng.integers(0, n, int(rng.integers(1, 64))):
            b[int(i)] ^= 1 << int(rng.integers(8))
    elif kind == "overwrite":
        b[at:at + length] = rng.integers(0, 256, len(b[at:at + length]), dtype=np.uint8).tobytes()
    elif kind == "zero":
        b[at:at + length] = bytes(len(b[at:at + length]))
    elif kind == "duplicate":
        b[at:at] = b[at:at + length]
    elif kind == "cut":
        del b[at:at + length]
    else:
        del b[at:]
    return bytes(b), kind


WORKER = r"""
import json, sys, traceback
from affectlens.core.errors import AffectlensError
from affectlens.pipeline import Pipeline
pipeline = Pipeline(face_fps=5)
for line in sys.stdin:
    path = line.strip()
    try:
        r = pipeline(path)
        out = {"outcome": "result", "utterances": len(r.utterances), "warnings": len(r.warnings)}
    except AffectlensError as e:
        out = {"outcome": "error", "one_line": "\n" not in str(e)}
    except Exception as e:
        out = {"outcome": "bug", "error": f"{type(e).__name__}: {e}", "where": traceback.format_exc()[-600:]}
    print(json.dumps(out), flush=True)
"""


def fuzz(source: Path, n: int, seed: int, work: Path, per_file_timeout: float = 120.0) -> dict:
    rng = np.random.default_rng(seed)
    data = source.read_bytes()
    folder = work / "fuzz"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counts = {"result": 0, "error": 0, "bug": 0, "crash": 0, "hang": 0}
    by_mutation: dict[str, dict[str, int]] = {}
    findings = []
    worker = None
    start = time.perf_counter()
    for i in range(n):
        mutant, kind = mutate(data, rng)
        path = folder / f"mutant_{i:04d}{source.suffix}"
        path.write_bytes(mutant)
        if worker is None or worker.poll() is not None:
            worker = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, bufsize=1)
        worker.stdin.write(f"{path}\n")
        worker.stdin.flush()
        ready, _, _ = select.select([worker.stdout], [], [], per_file_timeout)
        line = worker.stdout.readline() if ready else ""
        if line:
            out = json.loads(line)
            outcome = out["outcome"]
            if outcome == "error" and not out["one_line"]:
                outcome = "bug"
        else:
            outcome = "hang" if worker.poll() is None else "crash"
            worker.kill()
            worker.wait()
            worker = None
            out = {}
        counts[outcome] += 1
        by_mutation.setdefault(kind, {}).setdefault(outcome, 0)
        by_mutation[kind][outcome] += 1
        if outcome in ("bug", "crash", "hang"):
            keep = work / "fuzz_findings"
            keep.mkdir(exist_ok=True)
            shutil.copy(path, keep / path.name)
            findings.append({"mutant": path.name, "mutation": kind, "outcome": outcome, **out})
        path.unlink()
        print(f"fuzz {i + 1}/{n}: {kind} -> {outcome}", flush=True)
    if worker is not None:
        worker.stdin.close()
        worker.wait()
    return {"tried": n, "seed": seed, "source": source.name, "counts": counts, "by_mutation": by_mutation,
            "findings": findings, "wall_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fuzz", type=int, default=150, help="number of mutants (0 = skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from affectlens.core.data import shared_data_dir
    from affectlens.testing.awkward import KINDS, load_source, make_kinds

    clips = shared_data_dir() / "video" / "mer2023_samples"
    source = clips / CLIP
    WORK.mkdir(parents=True, exist_ok=True)
    kinds_dir = WORK / "kinds"
    shutil.rmtree(kinds_dir, ignore_errors=True)
    paths = make_kinds(kinds_dir, source=load_source(source))

    rows = []
    for kind in KINDS:
        out = WORK / "out" / kind.name
        shutil.rmtree(out, ignore_errors=True)
        run = run_measured(["analyze", str(paths[kind.name]), "--out", str(out), "--format", "json"])
        wrote = any(out.glob("*.json")) if out.is_dir() else False
        outcome, problem = judge(run, kind.expect, wrote)
        rows.append({"kind": kind.name, "what": kind.what, "expect": kind.expect, "outcome": outcome,
                     "problem": problem, "message": run["stderr"][-1] if run["stderr"] else None,
                     **{k: run[k] for k in ("rc", "wall_s", "peak_rss_mb")}})
        print(f"{kind.name}: {outcome}{' (' + problem + ')' if problem else ''} {run['wall_s']} s "
              f"{run['peak_rss_mb']} MB", flush=True)
    good = clips / CLIP
    for name, expect, cli_args in cli_kinds(WORK, good):
        shutil.rmtree(WORK / "cli_out", ignore_errors=True)
        run = run_measured(cli_args)
        wrote = (WORK / "cli_out").is_dir() and any((WORK / "cli_out").glob("*.json"))
        outcome, problem = judge(run, expect, wrote)
        rows.append({"kind": name, "what": " ".join(cli_args[2:]) if len(cli_args) > 2 else name, "expect": expect,
                     "outcome": outcome, "problem": problem, "message": run["stderr"][-1] if run["stderr"] else None,
                     **{k: run[k] for k in ("rc", "wall_s", "peak_rss_mb")}})
        print(f"{name}: {outcome}{' (' + problem + ')' if problem else ''}", flush=True)

    # The batch: every kind beside good clips, one command.
    batch_dir = WORK / "batch"
    shutil.rmtree(batch_dir, ignore_errors=True)
    shutil.copytree(kinds_dir, batch_dir)
    good_names = ["sample_00000167.mp4", "sample_00000338.mp4"]
    for name in good_names:
        shutil.copy(clips / name, batch_dir / f"good_{name}")
    batch_out = WORK / "batch_out"
    shutil.rmtree(batch_out, ignore_errors=True)
    run = run_measured(["analyze", str(batch_dir), "--out", str(batch_out), "--format", "json"], timeout=3600)
    errors = json.loads((batch_out / "errors.json").read_text()) if (batch_out / "errors.json").is_file() else {}
    done = sorted(p.stem for p in batch_out.glob("*.json") if p.name != "errors.json")
    expected_errors = sorted(k.name for k in KINDS if k.expect == "error" and (kinds_dir / k.name).is_file())
    batch = {
        "inputs": len([p for p in batch_dir.iterdir() if p.is_file()]), "results": len(done), "failed": len(errors),
        "good_files_done": all(f"good_{Path(n).stem}" in done for n in good_names),
        "every_expected_error_listed": all(any(name in f for f in errors) for name in expected_errors),
        "one_line_reasons": all("\n" not in r for r in errors.values()),
        "rc": run["rc"], "wall_s": run["wall_s"], "peak_rss_mb": run["peak_rss_mb"],
    }
    print("batch:", batch, flush=True)

    fuzzed = fuzz(source, args.fuzz, args.seed, WORK) if args.fuzz else None
    bad = [r for r in rows if r["problem"]]
    passed = len(rows) - len(bad)
    headline = [
        {"area": "Reliability", "metric": f"{len(rows)} kinds of bad or awkward input, each in its own process",
         "value": f"{passed}/{len(rows)} as expected (result or one-line error; no traceback, hang or > 4 GB)",
         "protocol": "python benchmarks/reliability.py; inputs made from a MER2023 clip"},
        {"area": "Reliability", "metric": "batch of all kinds + good clips",
         "value": f"{batch['results']} results, {batch['failed']} listed failures, good files done: "
                  f"{batch['good_files_done']}", "protocol": "one `affectlens analyze DIR` command"},
    ]
    if fuzzed:
        c = fuzzed["counts"]
        headline.append({"area": "Reliability", "metric": f"fuzz: {fuzzed['tried']} mutants of a real clip",
                         "value": f"{c['result']} results, {c['error']} one-line errors, {c['bug']} bugs, "
                                  f"{c['crash']} crashes, {c['hang']} hangs",
                         "protocol": "byte flips, overwrites, zeroed/duplicated/cut runs, truncation"})
    write_result("reliability", {
        "what": "bad and awkward input through the command line, a batch of them, and a byte-mutation fuzz run",
        "source_clip": CLIP, "limits": {"timeout_s": TIMEOUT_S, "memory_mb": MEMORY_LIMIT_MB},
        "kinds": rows, "kinds_passed": passed, "kinds_total": len(rows), "problems": bad,
        "batch": batch, "fuzz": fuzzed, "headline": headline,
    })


if __name__ == "__main__":
    main()
