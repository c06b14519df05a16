"""The FastAPI application of ``affectlens serve``: REST jobs, the web app, and live analysis.

Routes (the schema is at ``/openapi.json``, readable at ``/docs``):

==========================================  =====================================================
``GET /v1/health``                          200 with the version (the only route without a token)
``POST /v1/jobs``                           multipart ``media`` [+ ``subtitles``] + options; 202
``GET /v1/jobs``                            the jobs, newest first
``GET /v1/jobs/{id}``                       status, progress 0-1, error
``DELETE /v1/jobs/{id}``                    removes a job and its files (409 while it runs)
``GET /v1/jobs/{id}/events``                progress as server-sent events, until done or failed
``GET /v1/jobs/{id}/result?format=...``     json, html, csv or srt
``GET /v1/jobs/{id}/media``                 the uploaded media (for the result page's player)
``WS /v1/live``                             live camera + microphone analysis (see ``live``)
``GET /``, ``GET /live``                    the web app (static files served by the package)
==========================================  =====================================================

Safe by default: loopback only (another address needs a token, see :mod:`.cli`); with a
token every ``/v1`` route but health needs ``Authorization: Bearer <token>`` (the browser's
EventSource, ``<video>`` and WebSocket cannot send headers, so those three also accept
``?token=``); uploads and the queue are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import shutil
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..core.argtypes import face_rate
from ..core.errors import ParameterError
from ..pipeline import AnalysisOptions
from .jobs import DONE, FAILED, QUEUED, RUNNING, Job, JobStore, new_job_id
from .runner import MEDIA_NAME, RESULT_STEM, JobRunner
from .uploads import UploadRefused, check_media, copy_limited, display_name, store_subtitles

STATIC = Path(__file__).parent / "static"
RESULT_TYPES = {"json": "application/json", "html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8",
                "srt": "application/x-subrip; charset=utf-8"}


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs (``affectlens serve`` fills it from its options)."""

    data_dir: Path
    max_upload_mb: int = 2048
    max_queue: int = 32
    token: str | None = None
    workers: int = 1
    options: AnalysisOptions = AnalysisOptions()
    live: bool = True


# --- response models (they are the OpenAPI schema) ---------------------------------------------

class Health(BaseModel):
    status: str = "ok"
    version: str


class JobCreated(BaseModel):
    id: str
    status: str = Field(description="always 'queued'")


class JobStatus(BaseModel):
    id: str
    status: str = Field(description="queued, running, done or failed")
    progress: float = Field(ge=0, le=1)
    step: str | None = None
    error: str | None = None
    filename: str
    kind: str | None = Field(None, description="video, audio or image, as judged by decoding")
    duration: float | None = None
    options: dict[str, Any]
    has_subtitles: bool
    attempts: int
    created: float
    started: float | None = None
    finished: float | None = None
    results: list[str] = Field(default_factory=list, description="formats ready at /result?format=")


class JobList(BaseModel):
    jobs: list[JobStatus]


class Problem(BaseModel):
    detail: str


def _status(job: Job, runner: JobRunner) -> JobStatus:
    live = runner.state(job.id) if job.status == RUNNING else None
    return JobStatus(
        id=job.id, status=live.status if live else job.status,
        progress=live.progress if live else job.progress, step=live.step if live else job.step,
        error=job.error, filename=job.filename, kind=job.kind, duration=job.duration, options=job.options,
        has_subtitles=job.has_subtitles, attempts=job.attempts, created=job.created, started=job.started,
        finished=job.finished,
        results=[o.rsplit(".", 1)[-1] for o in job.outputs] if job.status == DONE else [],
    )


def parse_options(face_fps: str | None, modalities: str | None, asr: str | None, language: str | None,
                  defaults: AnalysisOptions) -> dict[str, Any]:
    """The job's option fields as stored (strings from a form), checked by AnalysisOptions."""
    out: dict[str, Any] = {}
    if face_fps not in (None, ""):
        try:
            out["face_fps"] = face_rate(face_fps)
        except argparse.ArgumentTypeError as e:
            raise ParameterError(f"face_fps: {e}") from None
    if modalities not in (None, ""):
        out["modalities"] = [m.strip() for m in modalities.split(",") if m.strip()]
    if asr not in (None, ""):
        value = asr.strip().lower()
        if value not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
            raise ParameterError(f"asr must be true or false; got {asr!r}")
        out["asr"] = value in ("true", "1", "on", "yes")
    if language not in (None, ""):
        out["language"] = language.strip().lower()
    replace(defaults, **{k: tuple(v) if k == "modalities" else v for k, v in out.items()})  # checks them
    return out


def create_app(config: ServeConfig) -> FastAPI:
    """The application; the job worker starts with it and stops with it."""
    store = JobStore(config.data_dir)
    runner = JobRunner(store, config.options, workers=config.workers)
    limit = config.max_upload_mb * (1 << 20)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner.start()
        try:
            yield
        finally:
            await run_in_threadpool(runner.stop)
            if getattr(app.state, "live_engine", None) is not None:
                app.state.live_engine.close()
            store.close()

    # /docs is our own page: FastAPI's loads Swagger UI from a CDN, and the service must work offline.
    app = FastAPI(title="affectlens", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="What each person feels, when, and why: face, voice and words, fused and explained. "
                              "Everything runs on this machine.")
    app.state.store, app.state.runner, app.state.config = store, runner, config

    def authorised(given: str | None) -> bool:
        return config.token is None or (given is not None and hmac.compare_digest(given.encode(), config.token.encode()))

    def bearer(request: Request) -> None:
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else None
        if not authorised(given):
            raise HTTPException(401, "a token is needed: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})

    def bearer_or_query(request: Request, token: str | None = Query(None, description="for EventSource/<video>")) -> None:
        if token is not None and authorised(token):
            return
        bearer(request)

    need_token = [Depends(bearer)]
    errors = {401: {"model": Problem}, 404: {"model": Problem}}

    def job_or_404(job_id: str) -> Job:
        try:
            store.folder(job_id)
        except KeyError:
            raise HTTPException(404, f"no job {job_id!r}") from None
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    @app.get("/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        return Health(version=__version__)

    @app.post("/v1/jobs", status_code=202, response_model=JobCreated, dependencies=need_token, tags=["jobs"],
              responses={**errors, 411: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem},
                         422: {"model": Problem}, 503: {"model": Problem}},
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["media"], "properties": {
                      "media": {"type": "string", "format": "binary", "description": "video, audio or image"},
                      "subtitles": {"type": "string", "format": "binary", "description": ".srt or .vtt"},
                      "face_fps": {"type": "string", "description": "frames per second for the face, or 'all'"},
                      "modalities": {"type": "string", "description": "comma-separated: face,voice,words"},
                      "asr": {"type": "string", "description": "true or false: transcribe speech"},
                      "language": {"type": "string", "description": "ISO code, e.g. en"}}}}}}})
    async def create_job(request: Request) -> JSONResponse:
        """Queue one file for analysis. Answers at once; follow it at ``/v1/jobs/{id}``."""
        length = request.headers.get("content-length")
        if length is None:
            raise HTTPException(411, "send the upload with a Content-Length")
        if not length.isdigit() or int(length) > limit + (1 << 20):
            raise HTTPException(413, f"the upload is larger than the limit of {config.max_upload_mb} MB")
        if store.waiting() >= config.max_queue:
            raise HTTPException(503, f"the queue is full ({config.max_queue} jobs); try again later",
                                headers={"Retry-After": "30"})
        form = await request.form(max_files=2, max_fields=16, max_part_size=64 * 1024)
        try:
            media = form.get("media")
            if media is None or isinstance(media, str):
                raise HTTPException(422, "the form needs a file field 'media'")
            subtitles = form.get("subtitles")
            fields = {k: form.get(k) for k in ("face_fps", "modalities", "asr", "language")}
            if any(v is not None and not isinstance(v, str) for v in fields.values()):
                raise HTTPException(422, "option fields must be text")
            try:
                options = parse_options(**fields, defaults=config.options)  # type: ignore[arg-type]
            except ParameterError as e:
                raise HTTPException(422, str(e)) from None
            job = Job(id=new_job_id(), status=QUEUED, filename=display_name(media.filename), options=options,
                      created=time.time())
            folder = store.folder(job.id)
            try:
                await run_in_threadpool(_store_files, folder, media, subtitles, job, limit)
                if not store.add(job, max_queued=config.max_queue):
                    raise UploadRefused(503, f"the queue is full ({config.max_queue} jobs); try again later")
            except UploadRefused as e:
                shutil.rmtree(folder, ignore_errors=True)
                raise HTTPException(e.status, e.message, headers={"Retry-After": "30"} if e.status == 503 else None) from None
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        finally:
            await form.close()
        runner.notify()
        return JSONResponse({"id": job.id, "status": QUEUED}, status_code=202)

    @app.get("/v1/jobs", response_model=JobList, dependencies=need_token, tags=["jobs"], responses=errors)
    def list_jobs(limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> JobList:
        return JobList(jobs=[_status(j, runner) for j in store.recent(limit)])

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus, dependencies=need_token, tags=["jobs"], responses=errors)
    def get_job(job_id: str) -> JobStatus:
        return _status(job_or_404(job_id), runner)

    @app.delete("/v1/jobs/{job_id}", status_code=204, dependencies=need_token, tags=["jobs"],
                responses={**errors, 409: {"model": Problem}})
    def delete_job(job_id: str) -> None:
        job = job_or_404(job_id)
        if job.status == RUNNING:
            raise HTTPException(409, "the job is running; delete it when it is done or failed")
        store.delete(job_id)
        shutil.rmtree(store.folder(job_id), ignore_errors=True)
        runner.forget(job_id)

    @app.get("/v1/jobs/{job_id}/events", dependencies=[Depends(bearer_or_query)], tags=["jobs"], responses=errors,
             response_class=StreamingResponse)
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: one ``data: {id, status, progress, step, error}`` per change,
        ending after ``done`` or ``failed``."""
        job_or_404(job_id)

        async def stream():
            last = None
            idle = 0.0
            while True:
                state = await run_in_threadpool(runner.state, job_id)
                if state is None:
                    yield f"event: gone\ndata: {json.dumps({'id': job_id})}\n\n"
                    return
                payload = json.dumps(state.to_dict(job_id))
                if payload != last:
                    last, idle = payload, 0.0
                    yield f"data: {payload}\n\n"
                elif idle >= 15.0:  # a comment keeps proxies from closing a quiet stream
                    idle = 0.0
                    yield ": keep-alive\n\n"
                if state.status in (DONE, FAILED) or await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)
                idle += 0.25

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/jobs/{job_id}/result", dependencies=need_token, tags=["jobs"],
             responses={**errors, 409: {"model": Problem}, 200: {"content": {t: {} for t in RESULT_TYPES.values()}}})
    def job_result(job_id: str, format: Annotated[str, Query(pattern="^(json|html|csv|srt)$")] = "json") -> FileResponse:  # noqa: A002
        job = job_or_404(job_id)
        if job.status != DONE:
            raise HTTPException(409, f"the job is {job.status}" + (f": {job.error}" if job.error else ""))
        path = store.folder(job_id) / f"{RESULT_STEM}.{format}"
        if not path.is_file():
            raise HTTPException(404, f"no {format} result for this job")
        stem = Path(job.filename).stem or "result"
        return FileResponse(path, media_type=RESULT_TYPES[format], filename=f"{stem}.affectlens.{format}",
                            content_disposition_type="inline")

    @app.get("/v1/jobs/{job_id}/media", dependencies=[Depends(bearer_or_query)], tags=["jobs"], responses=errors)
    def job_media(job_id: str) -> FileResponse:
        job_or_404(job_id)
        path = store.folder(job_id) / MEDIA_NAME
        if not path.is_file():
            raise HTTPException(404, "the media of this job is gone")
        return FileResponse(path, media_type="application/octet-stream")

    @app.websocket("/v1/live")
    async def live(websocket: WebSocket, token: str | None = None) -> None:
        from .live_ws import serve_live

        header = websocket.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else token
        if not authorised(given):
            await websocket.close(code=1008, reason="a token is needed")
            return
        if not config.live:
            await websocket.close(code=1013, reason="live analysis is off on this server")
            return
        await serve_live(app, websocket)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return HTMLResponse((STATIC / "docs.html").read_text(encoding="utf-8"))

    @app.get("/live", response_class=HTMLResponse, include_in_schema=False)
    def live_page() -> HTMLResponse:
        return HTMLResponse((STATIC / "live.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _store_files(folder: Path, media, subtitles, job: Job, limit: int) -> None:
    """Copy the upload into the job's folder under fixed names and judge it (in a worker thread)."""
    folder.mkdir(parents=True, exist_ok=False)
    copy_limited(media.file, folder / MEDIA_NAME, limit)
    stored = check_media(folder / MEDIA_NAME, job.filename)
    job.kind, job.duration = stored.kind, stored.duration
    if subtitles is not None and not isinstance(subtitles, str):
        store_subtitles(subtitles.file, folder, display_name(subtitles.filename), 8 << 20)
        job.has_subtitles = True
