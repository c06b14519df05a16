"""The service's analysis worker: one loaded Pipeline, a bounded number of jobs at a time.

The CPU is the limit, not the sockets: by default one job runs at a time with the whole thread
budget (see :mod:`affectlens.core.threads`), and the rest wait in the job table. The pipeline
is built once, so the models and MediaPipe graphs are loaded once for the life of the process.

Progress is kept in memory for the event stream (read many times a second) and written to the
table at most twice a second (read by ``GET /v1/jobs/{id}`` and after a restart).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.errors import AffectlensError
from ..pipeline import AnalysisOptions, Pipeline
from ..writers import get_writer
from .jobs import DONE, FAILED, QUEUED, RUNNING, Job, JobStore

log = logging.getLogger(__name__)

#: Result files written for every job, JSON last (its presence means the others are complete).
RESULT_FORMATS = ("html", "csv", "srt", "json")
MEDIA_NAME = "media.bin"  # the upload, stored under the job's id whatever the client called it
RESULT_STEM = "result"

# Share of the progress bar reached when each pipeline step starts; decoding fills the span
# from "decode" to "segments" as its stream time advances.
_STEP_AT = {"decode": 0.02, "segments": 0.5, "voice": 0.8, "words": 0.85, "face": 0.9, "llm": 0.95}


def write_results(result, folder: Path) -> list[str]:
    """Every result file of a job (``result.<format>``), JSON last; returns their names."""
    return [get_writer(fmt)(result, folder, RESULT_STEM).name for fmt in RESULT_FORMATS]


@dataclass
class LiveState:
    """Where a job stands, as the event stream reports it."""

    status: str
    progress: float = 0.0
    step: str | None = None
    error: str | None = None

    def to_dict(self, job_id: str) -> dict[str, Any]:
        return {"id": job_id, "status": self.status, "progress": round(self.progress, 3), "step": self.step,
                "error": self.error}


class JobRunner:
    """Runs queued jobs from ``store`` in background threads, oldest first.

    Parameters
    ----------
    store : JobStore
    options : AnalysisOptions
        The service's defaults; each job's own options (face_fps, modalities, asr, language,
        subtitles) replace them for that job.
    workers : int, default=1
        Jobs analysed at the same time. Each shares the one pipeline's models but needs its
        own pipeline state, so more than one builds more pipelines (and splits the threads).
    """

    def __init__(self, store: JobStore, options: AnalysisOptions | None = None, workers: int = 1) -> None:
        self.store = store
        self.options = options or AnalysisOptions()
        self.workers = max(1, int(workers))
        self._wake = threading.Condition()
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._state: dict[str, LiveState] = {}
        self._state_lock = threading.Lock()
        self._pipelines: list[Pipeline] = []

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        requeued, failed = self.store.recover()
        if requeued or failed:
            log.warning("after a restart: %d job(s) queued again, %d marked failed", len(requeued), len(failed))
        for k in range(self.workers):
            options = self.options
            if self.workers > 1 and options.threads is None:
                from ..core.threads import available_threads

                options = replace(options, threads=max(1, available_threads() // self.workers))
            pipeline = Pipeline(options)
            self._pipelines.append(pipeline)
            t = threading.Thread(target=self._loop, args=(pipeline,), name=f"affectlens-job-{k}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        for t in self._threads:
            t.join(timeout)
        for p in self._pipelines:
            p.close()

    def notify(self) -> None:
        """A job was queued: wake a worker."""
        with self._wake:
            self._wake.notify()

    # --- state --------------------------------------------------------------------------------

    def state(self, job_id: str) -> LiveState | None:
        """The freshest known state: memory while this process runs the job, else the table."""
        with self._state_lock:
            s = self._state.get(job_id)
        if s is not None:
            return LiveState(s.status, s.progress, s.step, s.error)
        job = self.store.get(job_id)
        if job is None:
            return None
        return LiveState(job.status, job.progress, job.step, job.error)

    def _set(self, job_id: str, **kw: Any) -> None:
        with self._state_lock:
            s = self._state.setdefault(job_id, LiveState(QUEUED))
            for k, v in kw.items():
                setattr(s, k, v)

    def forget(self, job_id: str) -> None:
        with self._state_lock:
            self._state.pop(job_id, None)

    # --- work ---------------------------------------------------------------------------------

    def _loop(self, pipeline: Pipeline) -> None:
        while True:
            with self._wake:
                if self._stop:
                    return
            job = self.store.claim_next()
            if job is None:
                with self._wake:
                    if self._stop:
                        return
                    self._wake.wait(timeout=1.0)
                continue
            self.run_job(pipeline, job)

    def run_job(self, pipeline: Pipeline, job: Job) -> None:
        """Analyse one claimed job and record its outcome; never raises."""
        folder = self.store.folder(job.id)
        self._set(job.id, status=RUNNING, progress=0.0, step="decode", error=None)
        last_write = [0.0]

        def hook(step: str, completed: float | None = None, total: float | None = None) -> None:
            current = self.state(job.id).progress
            if step == "decode" and total:
                start, end = _STEP_AT["decode"], _STEP_AT["segments"]
                at = start + (end - start) * min(1.0, (completed or 0) / total)
            else:
                at = _STEP_AT.get(step, current)
            progress = min(0.99, max(at, current))  # never backwards; 1 only once the files are written
            self._set(job.id, progress=progress, step=step)
            now = time.monotonic()
            if now - last_write[0] >= 0.5:
                last_write[0] = now
                self.store.progress(job.id, progress, step)

        try:
            result = self._analyse(pipeline, job, folder, hook)
            outputs = write_results(result, folder)
            del result
            self.store.finish(job.id, outputs)
            self._set(job.id, status=DONE, progress=1.0, step="done")
        except Exception as e:  # one bad file must never stop the service
            if isinstance(e, AffectlensError):
                reason = str(e).replace(str(folder / MEDIA_NAME), job.filename)
            else:
                log.error("job %s crashed (a bug: please report it)\n%s", job.id, traceback.format_exc())
                reason = f"unexpected {type(e).__name__}: {e}"
            reason = " ".join(reason.split())[:500]
            self.store.fail(job.id, reason)
            self._set(job.id, status=FAILED, error=reason)
        finally:
            # The table has the final word from here on; keep memory flat over thousands of jobs.
            self.forget(job.id)

    def _analyse(self, pipeline: Pipeline, job: Job, folder: Path, hook) -> Any:
        opts = job.options
        base = pipeline.options
        subtitles = next((str(p) for p in sorted(folder.glob("subtitles.*"))), None)
        options = replace(
            base,
            modalities=tuple(opts.get("modalities") or base.modalities),
            face_fps=opts.get("face_fps", base.face_fps),
            asr=bool(opts.get("asr", base.asr)),
            language=opts.get("language") or None,
            subtitles=subtitles,
        )
        pipeline.options = options
        if "face" in options.modalities:
            # The face modality reads its frame rate when the pipeline samples frames; one
            # loaded instance serves jobs at any rate.
            pipeline.modality("face").frame_rate = options.face_fps
        try:
            return pipeline(folder / MEDIA_NAME, hook=hook)
        finally:
            pipeline.options = base
