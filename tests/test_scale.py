"""Corpora at scale: the manifest, crash-safe resumption (kill -9 of the driver, a Ray worker
killed mid-file), the Ray pool and the sharded annotate, on real MER2023 clips.

Kept few and fast: short clips, the face alone at 2 frames per second, no speech recognition
(what is tested is the bookkeeping around the analysis, which is the same whatever the
options), and one Ray runtime for the whole module (starting Ray costs seconds).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from affectlens.core.errors import ParameterError
from affectlens.pipeline import AnalysisOptions
from affectlens.scale import FileFailure, FileResult, analyze_many, read_manifest
from affectlens.scale.manifest import (
    MANIFEST_FILE,
    ManifestEntry,
    ManifestWriter,
    exclusive,
    remove_stale_tmp,
)

FAST = AnalysisOptions(modalities=("face",), face_fps=2.0, asr=False)
FAST_CLI = ["--modalities", "face", "--face-fps", "2", "--no-asr", "--quiet"]
#: The shortest MER2023 samples (2.1-3.7 s).
SHORT = ["samplenew_00051251.mp4", "sample_00000167.mp4", "samplenew_00004251.mp4", "sample_00000000.mp4",
         "sample_00001073.mp4"]


@pytest.fixture()
def corpus(shared_data: Path, tmp_path: Path) -> Path:
    """Five real clips and one corrupt file in a folder."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in SHORT:
        shutil.copy(shared_data / "video" / "mer2023_samples" / name, folder / name)
    (folder / "broken.mp4").write_bytes(os.urandom(4096))  # looks like a video by name only
    return folder


GOOD = {Path(n).stem for n in SHORT}


@pytest.fixture()
def long_corpus(corpus: Path) -> Path:
    """The corpus with every clip twice (10 clips, 1 corrupt file): long enough that a kill soon
    after the first result lands in the middle of the batch."""
    for name in SHORT:
        shutil.copy(corpus / name, corpus / f"copy_{name}")
    return corpus


LONG_GOOD = GOOD | {f"copy_{stem}" for stem in GOOD}


# ---------------------------------------------------------------- the manifest, on its own
def test_manifest_keeps_the_last_line_and_survives_a_torn_one(tmp_path):
    path = tmp_path / MANIFEST_FILE
    with ManifestWriter(path) as m:
        m.append(ManifestEntry(input="a.mp4", stem="a", status="failed", error="a.mp4: broken", kind="input"))
        m.append(ManifestEntry(input="b.mp4", stem="b", status="done", outputs=("b.json",), seconds=1.5))
        m.append(ManifestEntry(input="a.mp4", stem="a", status="done", outputs=("a.json",), attempts=2))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"input": "c.mp4", "stem": "c", "sta')  # what a kill -9 in the middle of a write leaves
    entries = read_manifest(path)
    assert set(entries) == {"a", "b"}
    assert entries["a"].status == "done" and entries["a"].attempts == 2  # the last line of an input wins
    with ManifestWriter(path) as m:  # the next run ends the torn line before appending
        m.append(ManifestEntry(input="c.mp4", stem="c", status="done"))
    assert set(read_manifest(path)) == {"a", "b", "c"}
    assert all(line.startswith("{") for line in path.read_text().splitlines())


def test_only_our_temporary_files_are_removed(tmp_path):
    ours = [".clip.json.4242.tmp", "clip.json.tmp", ".merr.json.x1y2.tmp", ".affectlens-write-test-abc",
            "shards/.merr-00001.json.77.tmp"]
    theirs = ["notes.tmp", "clip.json", "shards/merr-00000.json"]
    (tmp_path / "shards").mkdir()
    for name in ours + theirs:
        (tmp_path / name).write_text("x")
    removed = remove_stale_tmp(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in removed) == sorted(ours)
    assert all((tmp_path / name).is_file() for name in theirs)


def test_one_run_per_output_folder(tmp_path):
    with exclusive(tmp_path):
        with pytest.raises(ParameterError, match=r"in use by another affectlens run \(pid \d+\)"):
            with exclusive(tmp_path):
                pass
    with exclusive(tmp_path):  # released when the first run ends
        pass


def test_command_line_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    from affectlens.cli import main

    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "2"]) == 1
    assert capsys.readouterr().err.strip() == "affectlens: error: --workers applies to Ray runs: add --ray (or --address ADDR)"
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    (tmp_path / "a.mp4").write_bytes(b"x")
    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--ray"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["affectlens: error: running on Ray needs the ray package: pip install 'affectlens[ray]'"]
    assert main(["annotate", str(tmp_path), "--out", str(tmp_path / "m"), "--ray", "--llm-url", "http://x"]) == 1
    assert capsys.readouterr().err.startswith("affectlens: error: --llm-url is not supported with --ray yet")


def test_ray_is_installed_without_lifting_protobuf():
    """The set-up installs plain ray for these tests; ray[default] (or a later ray) that pulls
    protobuf 5+ would break MediaPipe's face mesh, so guard the pin here."""
    from importlib.metadata import version

    import google.protobuf

    assert version("ray").split(".")[0] == "2"
    assert int(google.protobuf.__version__.split(".")[0]) < 5, google.protobuf.__version__
    from mediapipe.python.solutions import face_mesh

    face_mesh.FaceMesh(max_num_faces=1).close()  # its graph config fails to load with protobuf 5+


# ---------------------------------------------------------------- kill -9 of the driver, then the same command
#: The module's Ray runtime uses token authentication (Ray's default for a local runtime): a driver
#: joining it by address says so, and reads the token from ~/.ray/auth_token.
ENV = {**os.environ, "RAY_AUTH_MODE": "token"}


def _run_until_killed(cmd: list[str], out: Path, seed: int) -> subprocess.Popen:
    """Start ``cmd``; once its first file is recorded, wait a random moment and SIGKILL it."""
    rng = random.Random(seed)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 180
    manifest = out / MANIFEST_FILE
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and manifest.stat().st_size:
            break
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 0.8))  # anywhere: analysing, writing a result, appending to the manifest
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return proc


def _lines(out: Path) -> int:
    manifest = out / MANIFEST_FILE
    return len(manifest.read_text().splitlines()) if manifest.is_file() else 0


def _check_after_rerun(out: Path, finished_before: set[str], lines_before: int, rerun: subprocess.CompletedProcess,
                       seed: int) -> None:
    why = f"(seed {seed}; rerun stderr: {rerun.stderr.decode()[-800:]})"
    assert rerun.returncode == 1, why  # the corrupt file stands failed
    results = {p.stem for p in out.glob("*.json") if p.name != "errors.json"}
    assert results == LONG_GOOD, why  # exactly one result per good input, none for the corrupt one
    for stem in LONG_GOOD:  # each complete: valid JSON, its CSV beside it
        assert json.loads((out / f"{stem}.json").read_text())["media"]["kind"] == "video", why
        assert (out / f"{stem}.csv").is_file(), why
    assert not [p.name for p in out.rglob("*") if p.name.endswith(".tmp")], why  # no half-written file left
    entries = read_manifest(out / MANIFEST_FILE)
    assert set(entries) == LONG_GOOD | {"broken"}, why
    assert entries["broken"].status == "failed" and "broken.mp4" in entries["broken"].error, why
    assert "\n" not in entries["broken"].error
    assert json.loads((out / "errors.json").read_text()).keys() == {entries["broken"].input}, why
    # No finished file was analysed again: the rerun's lines for them say "resumed" (or there are none).
    rerun_lines = [json.loads(line) for line in (out / MANIFEST_FILE).read_text().splitlines()[lines_before:]
                   if line.startswith("{") and line.endswith("}")]
    assert len({x["run"] for x in rerun_lines}) == 1, why
    redone = {x["stem"] for x in rerun_lines if not x["resumed"]} & finished_before
    assert not redone, f"finished files analysed again: {redone} {why}"


def test_local_batch_killed_at_a_random_moment_resumes(long_corpus, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "affectlens.cli", "analyze", str(long_corpus), "--out", str(out),
           "--format", "json,csv", *FAST_CLI]
    seed = random.randrange(10**6)
    _run_until_killed(cmd, out, seed)
    finished_before = {p.stem for p in out.glob("*.json") if p.name != "errors.json"}
    assert len(finished_before) < len(LONG_GOOD), "the batch ended before it was killed: nothing was tested"
    lines_before = _lines(out)
    rerun = subprocess.run(cmd, capture_output=True, timeout=300)
    _check_after_rerun(out, finished_before, lines_before, rerun, seed)
    # A third run: nothing left to do, the failure kept (with the summary on this time).
    again = subprocess.run([c for c in cmd if c != "--quiet"], capture_output=True, timeout=300)
    assert again.returncode == 1 and "0 analysed, 10 already done, 1 failed" in again.stdout.decode()


# ---------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def ray_address():
    """One local Ray runtime for the module; drivers in subprocesses join it by address."""
    from affectlens.scale.ray_pool import ray_runtime

    with ray_runtime() as ray:
        yield ray.get_runtime_context().gcs_address


def _actor_pids() -> set[int]:
    """This machine's affectlens Ray workers (their process title starts with ray::AnalysisWorker)."""
    pids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::AnalysisWorker"):
                    pids.add(int(d.name))
            except OSError:
                pass
    return pids


def _wait_gone(pids: set[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pids & _actor_pids():
        time.sleep(0.1)


def test_ray_driver_killed_at_a_random_moment_resumes(long_corpus, tmp_path, ray_address):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "affectlens.cli", "analyze", str(long_corpus), "--out", str(out), "--format",
           "json,csv", "--ray", "--address", ray_address, "--workers", "2", *FAST_CLI]
    seed = random.randrange(10**6)
    before = _actor_pids()
    _run_until_killed(cmd, out, seed)
    _wait_gone(_actor_pids() - before)  # the killed driver's workers go with its job
    finished_before = {p.stem for p in out.glob("*.json") if p.name != "errors.json"}
    assert len(finished_before) < len(LONG_GOOD), "the batch ended before it was killed: nothing was tested"
    lines_before = _lines(out)
    rerun = subprocess.run(cmd, capture_output=True, timeout=300, env=ENV)
    _check_after_rerun(out, finished_before, lines_before, rerun, seed)
    entries = read_manifest(out / MANIFEST_FILE)
    assert {e.worker for e in entries.values() if not e.resumed and e.status == "done"} - {None}, "no worker named"


def test_ray_worker_killed_mid_file_is_retried_once(corpus, tmp_path, ray_address):
    """A worker process killed while it analyses a file: a new worker does the file. A file whose
    worker dies on both tries is recorded as failed and not retried on resume unless asked."""
    out = tmp_path / "out"
    largest = max((corpus / n for n in SHORT), key=lambda p: p.stat().st_size)  # sent first
    poison = min((corpus / n for n in SHORT), key=lambda p: p.stat().st_size)  # its worker is killed on every try
    kills: list[tuple[str, int]] = []
    events = []

    def hook(event):
        events.append(event.kind)
        if event.kind != "dispatched" or event.worker is None:
            return
        name = Path(event.task.display).name
        if (name == largest.name and event.task.attempt == 1) or name == poison.name:
            pid = event.worker.pid
            # The largest file goes first to a new worker, whose models are loaded before it
            # is sent anything: 0.1 s in is inside that file (probing, decoding, the first
            # frames). The poisoned one dies at once.
            delay = 0.1 if name == largest.name else 0.0

            def kill():
                time.sleep(delay)
                kills.append((name, pid))
                os.kill(pid, signal.SIGKILL)

            threading.Thread(target=kill, daemon=True).start()

    items = list(analyze_many(corpus, workers=2, out_dir=out, formats=("json",), options=FAST, hook=hook))
    by_name = {i.path.name: i for i in items}
    assert len(items) == len(SHORT) + 1
    retried = by_name[largest.name]
    assert isinstance(retried, FileResult) and retried.attempts == 2, retried
    assert retried.worker and int(retried.worker.split("@")[0]) not in {pid for _, pid in kills}
    dead = by_name[poison.name]
    assert isinstance(dead, FileFailure) and dead.kind == "worker" and dead.attempts == 2, dead
    assert "died twice" in dead.error and poison.name in dead.error and "\n" not in dead.error
    assert [n for n, _ in kills].count(poison.name) == 2 and events.count("worker-died") == 3
    assert isinstance(by_name["broken.mp4"], FileFailure) and by_name["broken.mp4"].kind == "input"
    good = {n for n, i in by_name.items() if isinstance(i, FileResult)}
    assert good == {n for n in SHORT if n != poison.name}, by_name
    assert {p.stem for p in out.glob("*.json") if p.name != "errors.json"} == {Path(n).stem for n in good}
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    manifest = read_manifest(out / MANIFEST_FILE)
    assert manifest[largest.stem].attempts == 2 and manifest[poison.stem].kind == "worker"

    # Resumed by the local batch (same layout): nothing analysed, the two failures listed, not retried.
    from affectlens.batch import run_batch
    from affectlens.pipeline import Pipeline

    with Pipeline(FAST) as pipeline:
        report = run_batch(pipeline, [corpus], out, ["json"])
    assert not report.done and len(report.skipped) == len(good)
    assert sorted(report.not_retried) == sorted(report.failed) == sorted([str(poison), str(corpus / "broken.mp4")])

    # Asked to retry failures (on Ray again): the poisoned file, left alone now, is done.
    items = list(analyze_many(corpus, workers=1, out_dir=out, options=FAST, retry_failed=True))
    redone = [i for i in items if not getattr(i, "resumed", False)]
    assert {i.path.name for i in redone} == {poison.name, "broken.mp4"}
    assert isinstance(next(i for i in redone if i.path == poison), FileResult)
    assert (out / f"{poison.stem}.json").is_file()


def test_a_local_corpus_run_reports_the_same_events_as_ray(corpus, tmp_path):
    """The local path says when its worker is ready (models loaded) and what it sends, like a
    Ray pool: a progress bar or a benchmark reads both alike. A model that cannot load stops
    the run before any file, naming the model, instead of failing every file in turn."""
    events = []
    items = list(analyze_many(corpus, use_ray=False, out_dir=tmp_path / "out", options=FAST, hook=events.append))
    kinds = [e.kind for e in events]
    assert kinds == ["worker-started"] + ["dispatched"] * len(items), kinds
    assert events[0].worker.pid == os.getpid() and events[0].worker.threads >= 1
    assert {Path(e.task.display).name for e in events[1:]} == {i.path.name for i in items}

    from affectlens.core.errors import ModelError

    bad = AnalysisOptions(modalities=("voice",), asr_model=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelError, match="no such folder"):
        list(analyze_many(corpus, use_ray=False, out_dir=tmp_path / "bad", options=bad))
    assert not list((tmp_path / "bad").glob("*.json"))
    # Every file with its own subtitles: no speech recognition, so the recogniser is neither
    # loaded at start (about 120 MB a worker) nor required.
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in SHORT[:2]:
        (subs / f"{Path(name).stem}.srt").write_text("1\n00:00:00,000 --> 00:00:02,000\nThank you.\n")
    items = list(analyze_many([corpus / n for n in SHORT[:2]], use_ray=False, options=bad, subtitles_dir=subs))
    assert all(isinstance(i, FileResult) for i in items), items


def test_a_subtitles_folder_gives_each_file_its_own_utterances(corpus, tmp_path, capsys):
    """``subtitles_dir``: ``<stem>.srt`` beside nothing else gives that file its cues; a file
    without one is analysed as usual; a broken one fails that file alone, naming it."""
    subs = tmp_path / "subs"
    subs.mkdir()
    with_cues, broken_cues, without = (corpus / n for n in SHORT[:3])
    (subs / f"{with_cues.stem}.srt").write_text("1\n00:00:00,200 --> 00:00:01,900\nThank you for the meal.\n")
    (subs / f"{broken_cues.stem}.vtt").write_text("WEBVTT\n\nnot a cue at all\n")
    items = {i.path.name: i for i in analyze_many([with_cues, broken_cues, without], use_ray=False,
                                                  options=FAST, subtitles_dir=subs)}
    texts = [u.segment.text for u in items[with_cues.name].result.utterances]
    assert texts == ["Thank you for the meal."], texts
    assert isinstance(items[broken_cues.name], FileFailure) and items[broken_cues.name].kind == "input"
    assert f"{broken_cues.stem}.vtt" in items[broken_cues.name].error
    assert isinstance(items[without.name], FileResult)
    assert not any(u.segment.text for u in items[without.name].result.utterances)
    with pytest.raises(ParameterError, match="subtitles folder .* not found"):
        list(analyze_many(corpus, use_ray=False, options=FAST, subtitles_dir=tmp_path / "nowhere"))
    with pytest.raises(ParameterError, match="subtitles folder .* is a file"):
        list(analyze_many(corpus, use_ray=False, options=FAST, subtitles_dir=subs / f"{with_cues.stem}.srt"))
    with pytest.raises(ParameterError, match="not both"):
        list(analyze_many(corpus, use_ray=False, options=replace(FAST, subtitles=str(subs / f"{with_cues.stem}.srt")),
                          subtitles_dir=subs))

    # The command, local batch and single file alike.
    from affectlens.cli import main

    assert main(["analyze", str(with_cues), str(without), "--out", str(tmp_path / "b"), "--format", "json",
                 "--subtitles-dir", str(subs), *FAST_CLI]) == 0
    assert main(["analyze", str(with_cues), "--out", str(tmp_path / "s"), "--format", "json",
                 "--subtitles-dir", str(subs), *FAST_CLI]) == 0
    for folder in ("b", "s"):
        saved = json.loads((tmp_path / folder / f"{with_cues.stem}.json").read_text())
        assert [u["segment"]["text"] for u in saved["utterances"]] == ["Thank you for the meal."], folder
    assert main(["analyze", str(corpus), "--subtitles", str(subs / f"{with_cues.stem}.srt"),
                 "--subtitles-dir", str(subs), *FAST_CLI]) == 2
    assert "not both" in capsys.readouterr().err


def test_results_in_memory_without_an_output_folder(corpus, tmp_path, ray_address):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / f"{Path(SHORT[1]).stem}.srt").write_text("1\n00:00:00,000 --> 00:00:02,400\nThank you for the meal.\n")
    items = list(analyze_many([corpus / SHORT[1], corpus / "broken.mp4"], workers=2, options=FAST,
                              subtitles_dir=subs))
    ok = [i for i in items if isinstance(i, FileResult)]
    assert len(ok) == 1 and ok[0].result is not None and ok[0].result.utterances and not ok[0].outputs
    assert [u.segment.text for u in ok[0].result.utterances] == ["Thank you for the meal."]  # its cue, on Ray
    assert [i.kind for i in items if isinstance(i, FileFailure)] == ["input"]


def test_workers_that_fill_the_machine_each_pin_to_cores_of_their_own(corpus, tmp_path, ray_address):
    """Pinned only when the workers take every CPU (scale/cpu_claims.py); one worker with a core to
    spare is left free."""
    import ray

    cpus = int(ray.cluster_resources()["CPU"])
    if not 2 <= cpus <= min(len(SHORT), len(os.sched_getaffinity(0))):
        pytest.skip(f"needs a local Ray runtime of 2 to {len(SHORT)} CPUs")
    _wait_gone(_actor_pids())  # earlier tests' workers give their cores back as they exit
    for workers in (cpus, 1):
        started: list = []
        files = [corpus / n for n in SHORT[:workers]]  # one each: every worker starts
        items = list(analyze_many(files, workers=workers, options=FAST,
                                  hook=lambda e, seen=started: seen.append(e.worker) if e.kind == "worker-started" else None))
        assert all(isinstance(i, FileResult) for i in items) and len(started) == workers
        pinned = [w.cpus for w in started]
        if workers == 1:
            assert pinned == [()], pinned
        else:
            assert all(len(c) == 1 for c in pinned) and len({c[0] for c in pinned}) == workers, pinned
        _wait_gone({w.pid for w in started})


# ---------------------------------------------------------------- annotate on Ray: shards
def test_annotate_command_on_ray(corpus, tmp_path, ray_address, capsys):
    """The command itself: default analysis options, the clip's transcript as subtitles."""
    from affectlens.cli import main

    clips, subs = tmp_path / "clips", tmp_path / "subs"
    clips.mkdir()
    subs.mkdir()
    shutil.copy(corpus / SHORT[1], clips / SHORT[1])
    (subs / f"{Path(SHORT[1]).stem}.srt").write_text("1\n00:00:00,000 --> 00:00:02,400\nThank you for the meal.\n")
    code = main(["annotate", str(clips), "--out", str(tmp_path / "m"), "--ray", "--workers", "1",
                 "--subtitles-dir", str(subs), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "analysed 1 clip(s), skipped 0 already finished; kept 1" in out
    record = json.loads((tmp_path / "m" / "merr.json").read_text())[Path(SHORT[1]).stem]
    assert record["text"] == "Thank you for the meal."
    assert (tmp_path / "m" / "shards" / "instructions-00000.jsonl").is_file()


def test_annotate_on_ray_writes_shards_and_resumes(corpus, tmp_path, ray_address):
    from affectlens.research.annotate import annotate
    from affectlens.scale.annotate import annotate_corpus

    out = tmp_path / "merr"
    first = [corpus / n for n in SHORT[:3]]
    s1 = annotate_corpus(first, out, analysis=FAST, shard_size=2, workers=2, progress=False)
    assert s1.analysed == 3 and not s1.failed
    shard_files = sorted(p.name for p in (out / "shards").iterdir())
    assert shard_files == ["instructions-00000.jsonl", "instructions-00001.jsonl", "merr-00000.json",
                           "merr-00001.json"]
    # A run killed after recording a clip but before its shard was written: the shard is lost,
    # the manifest line is not; torn last line too.
    (out / "shards" / "merr-00001.json").unlink()
    with open(out / MANIFEST_FILE, "a") as fh:
        fh.write('{"input": "x", "ste')
    s2 = annotate_corpus([corpus], out, analysis=FAST, shard_size=2, workers=2, progress=False)
    assert s2.analysed == 3 and s2.skipped == 3  # two new clips and the corrupt one
    assert s2.failed == ("broken",) and "broken.mp4" in s2.states["broken"].error
    sharded: list[str] = []
    for p in sorted((out / "shards").glob("merr-*.json")):
        sharded += list(json.loads(p.read_text()))
    assert sorted(sharded) == sorted(GOOD)  # every clip in exactly one shard
    lines = []
    for p in sorted((out / "shards").glob("instructions-*.jsonl")):
        lines += [json.loads(line)["id"] for line in p.read_text().splitlines()]
    assert sorted(lines) == sorted(GOOD)
    assert set(json.loads((out / "merr.json").read_text())) == GOOD
    assert len((out / "instructions.jsonl").read_text().splitlines()) == len(GOOD)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a clip finished on Ray was analysed again")

    local = annotate([corpus], out, analyze=must_not_run, progress=False)  # the local command resumes it
    assert local.analysed == 0 and set(local.kept) == GOOD and local.failed == ("broken",)


# ---------------------------------------------------------------- the README's Ray Data recipe
def test_the_readme_ray_data_recipe_runs_as_written(shared_data, tmp_path, ray_address, monkeypatch):
    """The recipe is code users copy: run the README's block itself on a real clip and a
    corrupt file (in the module's runtime, which it joins)."""
    import re

    import pandas as pd

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "read_binary_files" in b]
    assert len(blocks) == 1
    (tmp_path / "clips").mkdir()
    shutil.copy(shared_data / "video" / "mer2023_samples" / SHORT[0], tmp_path / "clips" / SHORT[0])
    (tmp_path / "clips" / "broken.mp4").write_bytes(os.urandom(2048))
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md (Ray Data recipe)", "exec"), {"__name__": "recipe"})
    rows = pd.read_parquet(tmp_path / "results").sort_values("path")
    assert [Path(p).name for p in rows["path"]] == ["broken.mp4", SHORT[0]]
    bad, good = rows.iloc[0], rows.iloc[1]
    assert pd.isna(good["error"]) and good["labels"] and json.loads(good["json"])["utterances"]
    assert "broken.mp4" in bad["error"] and "/tmp" not in bad["error"].replace(str(tmp_path), "")
