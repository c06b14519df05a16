"""Corpora: many files analysed locally or on Ray, resumable after any crash.

:func:`analyze_many` is the Python entry point and :func:`run_corpus` the driver under it (and
under ``affectlens analyze DIR [--ray]``). What makes a run crash-safe:

* each file's results are written by whoever analysed it, atomically (temporary file, then
  rename), the JSON last: a JSON result exists only when all of the file's outputs are
  complete, and it is the "finished" marker a rerun trusts;
* the driver appends each outcome to ``manifest.jsonl`` and syncs it before going on, so a
  failure is on disk the moment it happens, not only at the end of the run;
* a rerun removes the temporary files a killed run left, skips every finished file (and
  records the ones finished after the killed driver's last manifest line), skips files that
  failed before unless ``retry_failed``, and analyses the rest.

``kill -9`` of the driver at any moment, then the same command again, therefore ends with
exactly one complete result per good input and every bad input listed as failed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.atomic import write_text_atomic
from ..core.errors import MediaError, ParameterError
from ..ingest.subtitles import find_subtitles, subtitles_folder
from ..pipeline import AnalysisOptions, Hook, Pipeline
from ..result import Result
from ..writers import get_writer
from .cpu_claims import pinning_wanted
from .manifest import (
    DONE,
    FAILED,
    MANIFEST_FILE,
    ManifestEntry,
    ManifestWriter,
    exclusive,
    now,
    read_manifest,
    remove_stale_tmp,
)
from .progress import CorpusProgress
from .ray_pool import CorpusEvent, EventHook, RayPool, default_workers, ray_runtime
from .worker import AnalysisWorker, FileOutcome, FileTask

log = logging.getLogger(__name__)

ERRORS_FILE = "errors.json"


@dataclass(frozen=True)
class FileResult:
    """A file analysed (or found finished by an earlier run: ``resumed``).

    Attributes
    ----------
    path : Path
        The input as given.
    stem : str
        Its output name: results are ``<out_dir>/<stem>.<ext>``.
    result : Result or None
        The analysis, when results are kept in memory (no output folder, or
        ``return_results=True``); None for a resumed file.
    outputs : tuple of Path
        Files written for it.
    seconds : float or None
        Analysis time on the worker (None when resumed).
    worker : str or None
        ``pid@host`` of the process that analysed it.
    attempts : int
        2 when its first worker died on it and a new worker finished it.
    resumed : bool
        Found complete on disk; not analysed by this run.
    worker_rss_mb : float or None
        The worker's resident memory right after this file (for sizing a cluster's workers).
    """

    path: Path
    stem: str
    result: Result | None
    outputs: tuple[Path, ...] = ()
    seconds: float | None = None
    worker: str | None = None
    attempts: int = 1
    resumed: bool = False
    worker_rss_mb: float | None = None
    ok = True


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be analysed, with a one-line reason naming it.

    ``kind``: ``input`` (corrupt, empty, unreadable...), ``crash`` (an unexpected exception: a
    bug) or ``worker`` (its worker process died twice on it). ``earlier``: recorded as failed by
    an earlier run and not tried again (pass ``retry_failed=True`` to try it).
    """

    path: Path
    stem: str
    error: str
    kind: str
    seconds: float | None = None
    worker: str | None = None
    attempts: int = 1
    earlier: bool = False
    ok = False


Outcome = FileResult | FileFailure
TaskHook = Callable[[Path], Hook | None]


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Inputs as the local batch reads them: files as given, folders searched recursively."""
    from ..batch import expand_inputs

    return expand_inputs(paths)


@dataclass
class _Plan:
    tasks: list[FileTask]
    finished: list[Outcome]
    recovered: list[ManifestEntry]
    paths: dict[str, Path]  # stem -> input as given


def plan(files: Sequence[Path], out_dir: Path | None, prior: dict[str, ManifestEntry], *, resume: bool,
         retry_failed: bool, finished_marker: Callable[[str], bool] | None = None,
         subtitles: Callable[[Path], Path | None] | None = None, run: str = "") -> _Plan:
    """What is left to do for ``files``, given the ``prior`` outcomes (stem -> last entry).

    With ``finished_marker`` (the analyze job: ``<stem>.json`` exists) a file is finished when
    its marker is on disk, whatever the manifest says: a result written just before the driver
    was killed is found (and recorded as ``resumed``), a result deleted by hand is redone.
    Without one, a ``done`` entry is the record.
    """
    from ..batch import output_stems

    stems = output_stems(files)
    tasks, finished, recovered = [], [], []
    for f in files:
        stem = stems[f]
        entry = prior.get(stem) if resume else None
        done = (finished_marker(stem) if finished_marker is not None
                else entry is not None and entry.status == DONE) if resume else False
        if done:
            if entry is None or entry.status != DONE:  # finished after the killed driver's last line
                entry = ManifestEntry(input=str(f), stem=stem, status=DONE, resumed=True, attempts=0, run=run,
                                      finished_at=now(), outputs=_outputs_on_disk(out_dir, stem))
                recovered.append(entry)
            outputs = tuple(out_dir / o for o in entry.outputs) if out_dir is not None else ()
            finished.append(FileResult(f, stem, None, outputs, resumed=True, worker=entry.worker,
                                       attempts=entry.attempts))
            continue
        if entry is not None and entry.status == FAILED and not retry_failed:
            finished.append(FileFailure(f, stem, entry.error or f"{f}: failed", entry.kind or "input",
                                        seconds=entry.seconds, worker=entry.worker, attempts=entry.attempts,
                                        earlier=True))
            continue
        try:
            size = f.stat().st_size
        except OSError:
            size = 0
        sub = subtitles(f) if subtitles is not None else None
        tasks.append(FileTask(path=str(f.absolute()), stem=stem, display=str(f), size=size,
                              subtitles=None if sub is None else str(Path(sub).absolute())))
    return _Plan(tasks, finished, recovered, {stems[f]: f for f in files})


def _outputs_on_disk(out_dir: Path | None, stem: str) -> tuple[str, ...]:
    if out_dir is None:
        return ()
    names = []
    for key in ("frames", "csv", "srt", "vtt", "html", "json"):
        ext = get_writer(key).extension
        if (out_dir / f"{stem}.{ext}").is_file():
            names.append(f"{stem}.{ext}")
    return tuple(names)


def to_outcome(out: FileOutcome, path: Path, out_dir: Path | None) -> Outcome:
    """The typed item a caller receives for a worker's outcome."""
    if out.ok:
        return FileResult(path, out.task.stem, out.result,
                          tuple(out_dir / o for o in out.outputs) if out_dir is not None else (),
                          seconds=out.seconds, worker=out.worker, attempts=out.task.attempt,
                          worker_rss_mb=out.rss_mb or None)
    return FileFailure(path, out.task.stem, out.error or f"{path}: failed", out.kind or "crash", seconds=out.seconds,
                       worker=out.worker, attempts=out.task.attempt)


def to_entry(out: FileOutcome, run: str) -> ManifestEntry:
    """The manifest line of a worker's outcome."""
    return ManifestEntry(
        input=out.task.display, stem=out.task.stem, status=DONE if out.ok else FAILED, outputs=out.outputs,
        seconds=round(out.seconds, 3), error=out.error, kind=out.kind, worker=out.worker,
        attempts=out.task.attempt, run=run, finished_at=now(), record=out.record,
        rss_mb=round(out.rss_mb, 1) if out.rss_mb else None,
    )


class LocalExecutor:
    """Files analysed one after the other in this process, by one :class:`AnalysisWorker`.

    ``events`` receives the same ``worker-started`` and ``dispatched`` events as a Ray pool
    sends, so a progress bar or a benchmark reads both paths alike.
    """

    def __init__(self, worker: AnalysisWorker, *, method: str = "analyze", hook_for: TaskHook | None = None,
                 close: bool = True, events: EventHook | None = None) -> None:
        self.worker = worker
        self.method = method
        self.hook_for = hook_for
        self._close = close
        self.events = events or (lambda event: None)

    def run(self, tasks: Sequence[FileTask]) -> Iterator[FileOutcome]:
        call = getattr(self.worker, self.method)
        info = self.worker.ready()
        self.events(CorpusEvent("worker-started", worker=info))
        try:
            for task in tasks:
                self.events(CorpusEvent("dispatched", worker=info, task=task))
                yield call(task, hook=self.hook_for(Path(task.display)) if self.hook_for else None)
        finally:
            if self._close:
                self.worker.close()


def speech_recognition_needed(tasks: Sequence[FileTask]) -> bool:
    """Whether a file of this run may need speech recognition: not when every one has its own
    subtitles (its workers then need not load the recogniser at start, about 120 MB each)."""
    return not (tasks and all(t.subtitles is not None for t in tasks))


def sidecar_subtitles(subtitles_dir: Path | None) -> Callable[[Path], Path | None] | None:
    """The planner's per-file subtitles lookup for a subtitles folder (None: no folder)."""
    if subtitles_dir is None:
        return None
    return lambda media: find_subtitles(media, subtitles_dir)


def run_id() -> str:
    """Names one run in the manifest: when it started and which process drove it."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"


def drive(files: Sequence[Path], out_dir: Path | None, executor_for: Callable[[list[FileTask]], Any], *,
          resume: bool = True, retry_failed: bool = False, finished_marker: Callable[[str], bool] | None = None,
          prior: Callable[[dict[str, ManifestEntry]], dict[str, ManifestEntry]] | None = None,
          subtitles: Callable[[Path], Path | None] | None = None,
          on_entry: Callable[[ManifestEntry], None] | None = None,
          on_plan: Callable[[int, int], None] | None = None, lock: bool = True) -> Iterator[Outcome]:
    """The driver loop of the analyze and annotate jobs: plan, then run the tasks, appending
    each outcome to the manifest (synced) before yielding it.

    ``executor_for(tasks)`` returns an object whose ``run(tasks)`` yields
    :class:`~affectlens.scale.worker.FileOutcome` (a :class:`LocalExecutor`), or a context
    manager that gives one (Ray: connect, then a :class:`~affectlens.scale.ray_pool.RayPool`).
    ``prior`` may add outcomes known from elsewhere to the manifest's (annotate's state file);
    ``on_entry`` sees every manifest line written; ``on_plan(total, finished)`` the plan's size.
    ``lock=False`` when the caller already holds the folder (:func:`~.manifest.exclusive`).
    """
    run = run_id()
    with ExitStack() as stack:
        manifest = None
        entries: dict[str, ManifestEntry] = {}
        if out_dir is not None:
            if lock:
                stack.enter_context(exclusive(out_dir))
            remove_stale_tmp(out_dir)
            stack.callback(remove_stale_tmp, out_dir)  # what a worker killed during this run left behind
            manifest = stack.enter_context(ManifestWriter(out_dir / MANIFEST_FILE))
            entries = read_manifest(out_dir / MANIFEST_FILE)
        if prior is not None:
            entries = prior(entries)
        p = plan(files, out_dir, entries, resume=resume, retry_failed=retry_failed,
                 finished_marker=finished_marker, subtitles=subtitles, run=run)
        if on_plan is not None:
            on_plan(len(files), len(p.finished))
        for entry in p.recovered:
            if manifest is not None:
                manifest.append(entry)
            if on_entry is not None:
                on_entry(entry)
        yield from p.finished
        if not p.tasks:
            return
        executor = executor_for(p.tasks)
        if hasattr(executor, "__enter__"):
            executor = stack.enter_context(executor)
        for out in executor.run(p.tasks):
            entry = to_entry(out, run)
            if manifest is not None:
                manifest.append(entry)
            if on_entry is not None:
                on_entry(entry)
            yield to_outcome(out, p.paths[out.task.stem], out_dir)


def write_errors(out_dir: Path) -> dict[str, str]:
    """``errors.json``: every input that stands failed in the manifest -> its reason."""
    failed = {e.input: e.error or "failed" for e in read_manifest(out_dir / MANIFEST_FILE).values()
              if e.status == FAILED}
    path = out_dir / ERRORS_FILE
    if failed or path.is_file():
        write_text_atomic(path, json.dumps(failed, indent=2, ensure_ascii=False))
    return failed


class RayExecutor:
    """Connects to Ray (or starts it) for the length of a run and hands out a :class:`RayPool`."""

    def __init__(self, worker_kwargs: dict[str, Any], *, workers: int | None, cpus_per_worker: float,
                 address: str | None, method: str, hook: EventHook | None) -> None:
        self.worker_kwargs = worker_kwargs
        self.workers = workers
        self.cpus = cpus_per_worker
        self.address = address
        self.method = method
        self.hook = hook
        self._runtime: Any = None

    def __enter__(self) -> RayPool:
        self._runtime = ray_runtime(self.address)
        ray = self._runtime.__enter__()
        try:
            cluster_cpus = float(ray.cluster_resources().get("CPU", 0))
            if self.cpus > cluster_cpus:
                raise ParameterError(f"--cpus-per-worker {self.cpus:g} is more than the {cluster_cpus:g} CPUs "
                                     "of the Ray cluster")
            workers = self.workers or default_workers(ray, self.cpus)
            # Workers that take every CPU pin themselves to cores of their own; with room to
            # spare they are left free to borrow it (why: scale/cpu_claims.py).
            pin = pinning_wanted(workers, self.cpus, cluster_cpus)
            return RayPool(ray, {**self.worker_kwargs, "pin_cpus": pin}, workers=workers,
                           cpus_per_worker=self.cpus, method=self.method, hook=self.hook)
        except BaseException:
            self._runtime.__exit__(*sys.exc_info())
            raise

    def __exit__(self, *exc: object) -> None:
        self._runtime.__exit__(*exc)


def analyze_many(
    paths: str | Path | Iterable[str | Path],
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    out_dir: str | Path | None = None,
    formats: Sequence[str] = ("json",),
    options: AnalysisOptions | None = None,
    cpus_per_worker: float = 1,
    resume: bool = True,
    retry_failed: bool = False,
    return_results: bool | None = None,
    use_ray: bool | None = None,
    progress: bool = False,
    hook: EventHook | None = None,
    subtitles_dir: str | Path | None = None,
    **option_kwargs: Any,
) -> Iterator[Outcome]:
    """Analyse many files; yield a :class:`FileResult` or :class:`FileFailure` per input as each
    one finishes.

    Parameters
    ----------
    paths : path or iterable of paths
        Media files and/or folders (searched recursively for media files).
    workers : int, optional
        Ray workers (long-lived actors, one loaded pipeline each). None or 1 without
        ``ray_address``: no Ray, one pipeline in this process. With ``ray_address`` and no
        ``workers``: one worker per ``cpus_per_worker`` CPUs of the cluster.
    ray_address : str, optional
        A running Ray cluster (``HOST:6379``, or ``auto`` on one of its nodes); without it and
        with ``workers`` > 1, a local Ray runtime is started and stopped. Inside a process that
        already called ``ray.init`` that connection is used.
    out_dir : str or Path, optional
        Write each file's results here (``<stem>.json`` and ``formats``) with a
        ``manifest.jsonl``; a later call with the same folder resumes (finished files are
        yielded as ``resumed`` without being analysed). On a cluster, a folder every worker
        can reach at the same path. None: nothing is written and results come back in memory.
    formats : sequence of str, default=("json",)
        Output formats when ``out_dir`` is given (json, csv, frames, srt, vtt, html).
    options : AnalysisOptions, optional
        Analysis options; or give any of its fields as keyword arguments. With ``threads``
        unset each worker's budget is its ``cpus_per_worker``.
    cpus_per_worker : float, default=1
        Each Ray worker's ``num_cpus``.
    resume : bool, default=True
        Skip files whose results are already in ``out_dir``.
    retry_failed : bool, default=False
        Analyse files the manifest lists as failed again.
    return_results : bool, optional
        Send each :class:`~affectlens.result.Result` back (default: only when ``out_dir`` is
        None; with an output folder on a cluster the results stay on the workers' storage).
    use_ray : bool, optional
        Force Ray on (``workers`` defaulting to the cluster's CPUs) or off; default: Ray when
        ``ray_address`` is given or ``workers`` > 1.
    progress : bool, default=False
        Show one progress bar for the corpus on stderr (files, files per minute, ETA).
    hook : callable, optional
        Called with a :class:`~affectlens.scale.ray_pool.CorpusEvent` for each worker start
        (once its models are loaded), dispatch and worker death.
    subtitles_dir : str or Path, optional
        A folder of per-file subtitles: ``<stem>.srt``, ``.vtt`` or ``.csv`` gives the file of
        that stem its utterances (and words); files without one are transcribed as usual.
        On a cluster, a folder every worker can reach at the same path.

    Yields
    ------
    FileResult or FileFailure
        One per input: files finished earlier first (``resumed`` / ``earlier``), then in the
        order they finish (on Ray the largest files are sent first).

    Examples
    --------
    >>> for item in analyze_many("clips/", workers=2, out_dir="out/"):  # doctest: +SKIP
    ...     print(item.path, "ok" if item.ok else item.error)
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    paths = list(paths)
    if options is not None and option_kwargs:
        raise ParameterError("give either options= or option keywords, not both")
    options = options or AnalysisOptions(**option_kwargs)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ParameterError(f"workers must be a whole number of at least 1; got {workers!r}")
    if not (isinstance(cpus_per_worker, int | float) and cpus_per_worker > 0):
        raise ParameterError(f"cpus_per_worker must be a positive number; got {cpus_per_worker!r}")
    fmts = tuple(f.strip() for f in formats if f.strip())
    for f in fmts:
        get_writer(f)  # an unknown format fails now, not on the first result
    subs = subtitles_folder(subtitles_dir, single=options.subtitles)
    files = expand(paths)
    if not files:
        raise MediaError(f"no media files in {', '.join(map(str, paths))}")
    out = Path(out_dir) if out_dir is not None else None
    keep = (out is None) if return_results is None else return_results
    worker_kwargs = {"options": options, "out_dir": None if out is None else str(out.absolute()),
                     "formats": fmts, "keep_results": keep}
    if use_ray is None:
        use_ray = ray_address is not None or (workers or 1) > 1
    elif not use_ray and (ray_address is not None or (workers or 1) > 1):
        raise ParameterError("use_ray=False runs one local worker: leave out ray_address and workers")
    bar = CorpusProgress("analyze", enabled=progress)

    def events(event: CorpusEvent) -> None:
        bar.event(event)
        if hook is not None:
            hook(event)

    def executor_for(tasks: list[FileTask]) -> Any:
        kwargs = {**worker_kwargs, "load_speech_recognition": speech_recognition_needed(tasks)}
        if use_ray:
            return RayExecutor(kwargs, workers=workers, cpus_per_worker=cpus_per_worker,
                               address=ray_address, method="analyze", hook=events)
        return LocalExecutor(AnalysisWorker(**kwargs), events=events)

    def finished(stem: str) -> bool:
        return out is not None and (out / f"{stem}.json").is_file()

    try:
        for item in drive(files, out, executor_for, resume=resume and out is not None, retry_failed=retry_failed,
                          finished_marker=finished, on_plan=bar.plan, subtitles=sidecar_subtitles(subs)):
            bar.done(item.ok, resumed=getattr(item, "resumed", False) or getattr(item, "earlier", False))
            yield item
    finally:
        bar.close()
    if out is not None:
        write_errors(out)


def run_local(pipeline: Pipeline, files: Sequence[Path], out_dir: Path, formats: Sequence[str], *,
              resume: bool = True, retry_failed: bool = False, hook_for: TaskHook | None = None,
              subtitles_dir: Path | None = None) -> Iterator[Outcome]:
    """The local batch (``affectlens analyze DIR``): ``pipeline`` analyses every file in turn,
    with the same files, manifest and resume rules as a Ray run."""
    worker = AnalysisWorker(out_dir=str(out_dir.absolute()), formats=tuple(formats), pipeline=pipeline)

    def finished(stem: str) -> bool:
        return (out_dir / f"{stem}.json").is_file()

    yield from drive(files, out_dir, lambda tasks: LocalExecutor(worker, hook_for=hook_for, close=False),
                     resume=resume, retry_failed=retry_failed, finished_marker=finished,
                     subtitles=sidecar_subtitles(subtitles_dir))
    write_errors(out_dir)


__all__ = ["analyze_many", "FileResult", "FileFailure", "CorpusEvent", "Outcome"]
