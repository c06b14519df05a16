"""What a corpus run leaves on disk besides the results: the manifest, the folder lock, and the
clean-up of temporary files a killed run left behind.

The manifest (``manifest.jsonl`` in the output folder) has one JSON line per finished input:
its status (``done`` or ``failed``), the output files, the seconds it took, the worker, the
number of attempts and, for a failure, the one-line reason. Why a JSONL file appended by one
writer (the driver) and synced after every line:

* a ``kill -9`` at any moment loses at most the line being written: readers skip a torn last
  line, and the next run seals it with a newline before appending, so no earlier line is ever
  damaged;
* nothing is rewritten per input (a JSON document rewritten after each of 30,000 clips writes
  gigabytes and gets slower with every clip);
* the last line for an input wins, so a rerun that retries a failure simply appends the new
  outcome, and the file doubles as the history of the corpus.

Results themselves are written by whoever analyses the file (a Ray worker, or the local
process) through :mod:`affectlens.writers`, which write a temporary file and rename it; the
JSON result is written last and is the "finished" marker that both the local batch and the
Ray path read, so either can resume the other.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from ..core.errors import ParameterError

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.jsonl"
LOCK_FILE = ".affectlens.lock"

#: Temporary names affectlens writes before a rename: :func:`affectlens.core.atomic.atomic_open`'s
#: ``.<name>.<random>.tmp`` (every output), older releases' ``<name>.tmp``, and the
#: writability probe of the command line. Only these are removed: a user's own ``*.tmp`` files
#: in the output folder are left alone.
_STALE = re.compile(
    r"^\..+\.tmp$"
    r"|^.+\.(?:json|jsonl|csv|srt|vtt|html)\.tmp$"
    r"|^\.affectlens-write-test-.+$"
)

#: Statuses a manifest line can have.
DONE, FAILED = "done", "failed"


@dataclass(frozen=True)
class ManifestEntry:
    """One line of the manifest: how one input ended in one run.

    ``kind`` says why a failure happened: ``input`` (the file cannot be analysed: corrupt,
    empty, wrong format...), ``crash`` (an unexpected exception: a bug to report) or ``worker``
    (the worker process died twice while on this file: killed, out of memory, a native crash).
    ``resumed`` marks a result found complete on disk by a run that did not analyse it (a run
    killed between writing the result and its manifest line).
    """

    input: str
    stem: str
    status: str
    outputs: tuple[str, ...] = ()
    seconds: float | None = None
    error: str | None = None
    kind: str | None = None
    worker: str | None = None
    attempts: int = 1
    resumed: bool = False
    run: str = ""
    finished_at: str = ""
    #: The worker's resident memory (MB) right after the file.
    rss_mb: float | None = None
    #: Extra data of a job (``annotate``: the MERR record of the clip).
    record: dict[str, Any] | None = field(default=None, repr=False)

    def to_json(self) -> str:
        data = asdict(self)
        data["outputs"] = list(self.outputs)
        if data["record"] is None:
            del data["record"]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> ManifestEntry:
        if data.get("status") not in (DONE, FAILED) or not isinstance(data.get("stem"), str):
            raise ValueError("not a manifest entry")
        return cls(
            input=str(data.get("input", "")), stem=data["stem"], status=data["status"],
            outputs=tuple(data.get("outputs") or ()), seconds=data.get("seconds"), error=data.get("error"),
            kind=data.get("kind"), worker=data.get("worker"), attempts=int(data.get("attempts", 1)),
            resumed=bool(data.get("resumed", False)), run=str(data.get("run", "")),
            finished_at=str(data.get("finished_at", "")), rss_mb=data.get("rss_mb"), record=data.get("record"),
        )


def now() -> str:
    """UTC time of day, to the second, as the manifest writes it."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_manifest(path: str | Path) -> dict[str, ManifestEntry]:
    """The last entry of each output stem in ``path`` (empty when the file does not exist).

    Lines that do not parse (the torn last line of a killed run) are skipped, with a count in
    the log: they stand for an input whose outcome was never recorded, which a rerun redoes or
    finds complete on disk.
    """
    path = Path(path)
    entries: dict[str, ManifestEntry] = {}
    if not path.is_file():
        return entries
    torn = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                entry = ManifestEntry.from_plain(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError):
                torn += 1
                continue
            entries[entry.stem] = entry
    if torn:
        log.info("%s: skipped %d unreadable line(s) (a run killed while writing)", path, torn)
    return entries


class ManifestWriter:
    """Appends entries to the manifest, each flushed and fsynced before :meth:`append` returns.

    Only the driver writes (one writer per output folder, see :func:`exclusive`), so lines never
    interleave; the fsync makes a finished input's line survive a power cut, not only a kill.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def _open(self) -> IO[str]:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torn = False
            if self.path.is_file() and self.path.stat().st_size:
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    torn = fh.read(1) != b"\n"
            self._fh = open(self.path, "a", encoding="utf-8")
            if torn:  # a killed run's half line: end it, so the next entry starts on a line of its own
                self._fh.write("\n")
        return self._fh

    def append(self, entry: ManifestEntry) -> None:
        fh = self._open()
        fh.write(entry.to_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted run left in ``folder`` (and its ``shards/``).

    Called when a run starts and when it ends: at both moments no writer of this folder is
    alive (the folder lock is held), so every temporary file is a leftover of a killed writer.
    """
    removed = []
    for d in (Path(folder), Path(folder) / "shards"):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if _STALE.match(p.name) and p.is_file():
                try:
                    p.unlink()
                    removed.append(p)
                except FileNotFoundError:  # a killed run's worker, just finishing its rename
                    pass
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run in %s", len(removed), folder)
    return removed


@contextmanager
def exclusive(folder: str | Path) -> Iterator[None]:
    """Hold the output folder for one run: a second driver on the same folder gets a one-line
    error instead of two manifests interleaving and each cleaning the other's temporary files.

    The lock is an ``flock`` on ``.affectlens.lock``: the kernel drops it when the holder dies,
    so a run killed with ``kill -9`` never blocks the next one. Where ``fcntl`` is missing
    (Windows) the folder is not locked.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise ParameterError(f"{folder} is in use by another affectlens run (pid {holder}); "
                                 "wait for it to finish or choose another output folder") from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
