"""The job table of ``affectlens serve``: SQLite under the data folder, one row per upload.

Why SQLite and not memory: a service someone leaves running gets restarted (an upgrade, a
reboot, ``kill -9``). The table and the result files under ``<data>/jobs/<id>/`` survive it:
finished jobs keep their results, and a job that was running when the process died is queued
again on the next start (once; a second death marks it failed with the reason, so a file that
kills the server cannot take it down forever). No job ever vanishes.

Each write is one short transaction in WAL mode, so the web routes read while the worker
writes; every thread opens its own connection (sqlite3 connections are not shared).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
#: A job is started at most this many times (a restart after a crash mid-job is the second).
MAX_ATTEMPTS = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    step TEXT,
    error TEXT,
    filename TEXT NOT NULL,
    kind TEXT,
    duration REAL,
    options TEXT NOT NULL,
    has_subtitles INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    outputs TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created);
"""


@dataclass
class Job:
    """One analysis request and where it stands.

    ``filename`` is the name the client sent, kept for display only: files are stored under
    the job's id, never under a name that came from outside.
    """

    id: str
    status: str
    filename: str
    options: dict[str, Any]
    created: float
    progress: float = 0.0
    step: str | None = None
    error: str | None = None
    kind: str | None = None
    duration: float | None = None
    has_subtitles: bool = False
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> Job:
        d = dict(row)
        d["options"] = json.loads(d["options"])
        d["outputs"] = json.loads(d["outputs"])
        d["has_subtitles"] = bool(d["has_subtitles"])
        return cls(**d)


def new_job_id() -> str:
    """A random id (hex): also the job's folder name, so it must never come from the client."""
    return uuid.uuid4().hex[:16]


class JobStore:
    """The job table and the per-job folders under ``data_dir``."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "jobs.sqlite3"
        self._local = threading.local()
        self._db().executescript(_SCHEMA)  # its own transaction

    # --- connection ---------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # --- paths --------------------------------------------------------------------------------

    def folder(self, job_id: str) -> Path:
        """``<data>/jobs/<id>``; the id is checked, so a crafted one cannot leave the data folder."""
        if not (len(job_id) == 16 and all(c in "0123456789abcdef" for c in job_id)):
            raise KeyError(job_id)
        return self.jobs_dir / job_id

    # --- rows ---------------------------------------------------------------------------------

    def add(self, job: Job, *, max_queued: int | None = None) -> bool:
        """Insert a queued job; False (nothing inserted) when ``max_queued`` jobs already wait."""
        with self._tx() as db:
            if max_queued is not None:
                (waiting,) = db.execute("SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)", (QUEUED, RUNNING)).fetchone()
                if waiting >= max_queued:
                    return False
            db.execute(
                "INSERT INTO jobs (id, status, progress, step, error, filename, kind, duration, options, "
                "has_subtitles, attempts, created, started, finished, outputs) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.status, job.progress, job.step, job.error, job.filename, job.kind, job.duration,
                 json.dumps(job.options), int(job.has_subtitles), job.attempts, job.created, job.started,
                 job.finished, json.dumps(job.outputs)),
            )
        return True

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job._from_row(row) if row else None

    def recent(self, limit: int = 200) -> list[Job]:
        """The newest ``limit`` jobs, newest first."""
        rows = self._db().execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [Job._from_row(r) for r in rows]

    def waiting(self) -> int:
        """Jobs queued or running."""
        (n,) = self._db().execute("SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)", (QUEUED, RUNNING)).fetchone()
        return int(n)

    def claim_next(self) -> Job | None:
        """The oldest queued job, marked running (its attempt counted), or None."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE status = ? ORDER BY created LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            now = time.time()
            db.execute("UPDATE jobs SET status = ?, attempts = attempts + 1, started = ?, progress = 0, step = NULL "
                       "WHERE id = ?", (RUNNING, now, row["id"]))
        return self.get(row["id"])

    def progress(self, job_id: str, progress: float, step: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET progress = ?, step = ? WHERE id = ? AND status = ?",
                       (progress, step, job_id, RUNNING))

    def finish(self, job_id: str, outputs: list[str]) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET status = ?, progress = 1, step = 'done', finished = ?, outputs = ?, "
                       "error = NULL WHERE id = ?", (DONE, time.time(), json.dumps(outputs), job_id))

    def fail(self, job_id: str, error: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET status = ?, finished = ?, error = ? WHERE id = ?",
                       (FAILED, time.time(), error, job_id))

    def delete(self, job_id: str) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return cur.rowcount > 0

    def recover(self) -> tuple[list[str], list[str]]:
        """After a restart: jobs left ``running`` by a dead process go back to the queue, or
        fail when they have had their attempts. Returns (requeued ids, failed ids)."""
        requeued, failed = [], []
        with self._tx() as db:
            for row in db.execute("SELECT id, attempts FROM jobs WHERE status = ?", (RUNNING,)).fetchall():
                if row["attempts"] >= MAX_ATTEMPTS:
                    db.execute("UPDATE jobs SET status = ?, finished = ?, error = ? WHERE id = ?",
                               (FAILED, time.time(), f"the server stopped during this job {row['attempts']} times "
                                "(the file may crash the analysis); not tried again", row["id"]))
                    failed.append(row["id"])
                else:
                    db.execute("UPDATE jobs SET status = ?, progress = 0, step = NULL WHERE id = ?",
                               (QUEUED, row["id"]))
                    requeued.append(row["id"])
        return requeued, failed

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
