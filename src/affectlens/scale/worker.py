"""The worker side of a corpus run: one loaded :class:`~affectlens.pipeline.Pipeline`, reused for
every file it is sent, writing each file's results itself.

The same class serves the local batch (called in-process) and Ray (wrapped as an actor by
:mod:`affectlens.scale.ray_pool`), so both paths write the same files in the same way and
either can resume a folder the other started. Nothing here imports Ray.

Why the worker writes its results rather than sending them to the driver: a result with its
per-frame table is megabytes; on a cluster the driver would become the bottleneck and hold
every result in flight. Only a small :class:`FileOutcome` travels back.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.errors import AffectlensError
from ..core.memory import rss_mb
from ..core.threads import available_threads
from ..pipeline import AnalysisOptions, Hook, Pipeline
from ..result import Result
from ..writers import get_writer
from .cpu_claims import claim_cpus

#: Failure kinds (see :class:`~affectlens.scale.manifest.ManifestEntry`).
INPUT, CRASH, WORKER = "input", "crash", "worker"


@dataclass(frozen=True)
class FileTask:
    """One input to analyse: absolute path (valid on the worker), output stem, attempt number
    (2 when a worker died on it before), size in bytes (to dispatch the largest first) and, for
    ``annotate``, the clip's transcript."""

    path: str
    stem: str
    display: str
    size: int = 0
    attempt: int = 1
    subtitles: str | None = None


@dataclass(frozen=True)
class WorkerInfo:
    """Who a worker is: ``pid@host``, its thread budget, its resident memory now, and the
    cores it is pinned to (empty when it is not: :mod:`~affectlens.scale.cpu_claims`)."""

    pid: int
    host: str
    threads: int
    rss_mb: float
    cpus: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.pid}@{self.host}"


@dataclass(frozen=True)
class FileOutcome:
    """What a worker sends back for one file: small and picklable.

    ``result`` travels only when the caller asked for results in memory
    (:func:`affectlens.analyze_many` without an output folder); ``record`` is the MERR record
    of an ``annotate`` job.
    """

    task: FileTask
    ok: bool
    seconds: float
    worker: str
    rss_mb: float
    outputs: tuple[str, ...] = ()
    error: str | None = None
    kind: str | None = None
    result: Result | None = None
    record: dict[str, Any] | None = None


def one_line(text: str, limit: int = 400) -> str:
    """A message on one line, cut to ``limit`` characters (tracebacks stay in the worker's log)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def failure_reason(task: FileTask, error: BaseException) -> tuple[str, str]:
    """(one-line reason naming the file as the user gave it, failure kind) for an exception
    raised on ``task`` (the worker saw the absolute path; the user knows the path they typed)."""
    msg = str(error).replace(task.path, task.display)
    if isinstance(error, AffectlensError):
        return one_line(msg if task.display in msg else f"{task.display}: {msg}"), INPUT
    return one_line(f"{task.display}: unexpected {type(error).__name__}: {msg}"), CRASH


class AnalysisWorker:
    """Holds one Pipeline and analyses files into ``out_dir`` (or returns their results).

    Parameters
    ----------
    options : AnalysisOptions
        The analysis options. When ``options.threads`` is None the budget is what this process
        may use, which inside a Ray actor is its ``num_cpus`` (see :mod:`affectlens.core.threads`).
    out_dir : str, optional
        Where results go (a path valid on the worker). None: results are only returned.
    formats : tuple of str
        Output formats; the JSON is always written, last, as the "finished" marker.
    keep_results : bool
        Return each :class:`~affectlens.result.Result` in the outcome.
    record_options : RecordOptions, optional
        For ``annotate`` jobs: the MERR record builder's thresholds.
    pipeline : Pipeline, optional
        Use this pipeline instead of building one (the local batch passes the caller's).
    load_speech_recognition : bool, default=True
        Whether a pipeline built here loads the speech recogniser at start, when its options
        use one (:meth:`~affectlens.pipeline.Pipeline.load`); False when every file of the run
        has its own subtitles.
    pin_cpus : bool, default=False
        Pin this process to cores that no other worker on the machine holds, as many as its
        thread budget (:func:`~affectlens.scale.cpu_claims.claim_cpus`); asked for by the Ray
        driver when its workers take every CPU. Left unpinned when not enough cores are free.
    """

    def __init__(self, options: AnalysisOptions | None = None, out_dir: str | None = None,
                 formats: tuple[str, ...] = ("json",), keep_results: bool = False,
                 record_options: Any = None, pipeline: Pipeline | None = None,
                 load_speech_recognition: bool = True, pin_cpus: bool = False) -> None:
        options = options or AnalysisOptions()
        if pipeline is None and options.threads is None:
            # Fixed now, from Ray's num_cpus inside an actor: the budget must not change between files.
            options = replace(options, threads=available_threads())
        # Before the models load, so that their threads start on the claimed cores.
        self.cpus = claim_cpus(options.threads) if pin_cpus and pipeline is None else ()
        # A worker of its own loads every model now: it is ready when loaded (its start-up is
        # reported as such, and a model that cannot load stops it before any file). A pipeline
        # handed in is the caller's to manage.
        self.pipeline = pipeline or Pipeline(options).load(speech_recognition=load_speech_recognition)
        self.options = self.pipeline.options
        self.out_dir = Path(out_dir) if out_dir is not None else None
        writers = [get_writer(f) for f in formats]
        if self.out_dir is not None and "json" not in {w.extension for w in writers}:
            writers.insert(0, get_writer("json"))
        # JSON last: its presence means every other output of the file is complete.
        self.writers = sorted(writers, key=lambda w: w.extension == "json")
        self.keep_results = keep_results
        self.record_options = record_options
        self.name = f"{os.getpid()}@{socket.gethostname()}"

    def ready(self) -> WorkerInfo:
        """Who this worker is, once its models are loaded; the driver waits for it before
        sending files (a worker that cannot start is told apart from a file that kills its
        worker)."""
        # The CPUs this thread may run on, as the system reports them (not what was asked): the
        # thread that runs the actor's tasks, and every thread it starts, keep to the claim.
        cpus = tuple(sorted(os.sched_getaffinity(0))) if self.cpus else ()
        return WorkerInfo(pid=os.getpid(), host=socket.gethostname(), threads=self.pipeline.budget.total,
                          rss_mb=rss_mb(), cpus=cpus)

    def _run(self, task: FileTask, hook: Hook | None) -> Result:
        pipeline = self.pipeline
        if task.subtitles is None or pipeline.options.subtitles == task.subtitles:
            return pipeline(task.path, hook=hook)
        # A clip's own transcript: the options are read on every call, so the loaded pipeline
        # (its models and MediaPipe graphs) serves clips with different transcripts.
        base = pipeline.options
        pipeline.options = replace(base, subtitles=task.subtitles)
        try:
            return pipeline(task.path, hook=hook)
        finally:
            pipeline.options = base

    def analyze(self, task: FileTask, hook: Hook | None = None) -> FileOutcome:
        """Analyse one file and write its outputs; never raises for a bad file."""
        started = time.perf_counter()
        try:
            result = self._run(task, hook)
            outputs: tuple[str, ...] = ()
            if self.out_dir is not None:
                outputs = tuple(w(result, self.out_dir, task.stem).name for w in self.writers)
            return FileOutcome(task, True, time.perf_counter() - started, self.name, rss_mb(), outputs=outputs,
                               result=result if self.keep_results else None)
        except Exception as e:  # one broken file must not end the batch
            reason, kind = failure_reason(task, e)
            if kind == CRASH:
                import logging

                logging.getLogger(__name__).error("%s (a bug: please report it)\n%s", reason, traceback.format_exc())
            return FileOutcome(task, False, time.perf_counter() - started, self.name, rss_mb(), error=reason,
                               kind=kind)

    def annotate(self, task: FileTask, hook: Hook | None = None) -> FileOutcome:
        """Analyse one clip and build its MERR record (returned; the driver writes the shards)."""
        from ..research.merr import build_record

        started = time.perf_counter()
        try:
            result = self._run(task, hook)
            record = build_record(task.stem, result, self.record_options)
            return FileOutcome(task, True, time.perf_counter() - started, self.name, rss_mb(),
                               record=record.to_merr())
        except Exception as e:  # noqa: BLE001 - one bad clip must never stop the batch
            reason, kind = failure_reason(task, e)
            return FileOutcome(task, False, time.perf_counter() - started, self.name, rss_mb(), error=reason,
                               kind=kind)

    def close(self) -> None:
        """Free the pipeline's MediaPipe graphs and threads."""
        self.pipeline.close()
