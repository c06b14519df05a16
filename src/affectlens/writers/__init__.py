"""Output formats, one writer class each, looked up by name (after whisper's ``get_writer``).

Every writer takes a :class:`~affectlens.result.Result` and an output folder and writes
``<stem>.<ext>``, returning the path. The CLI maps ``--format json,csv,srt,vtt,html`` here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ..core.atomic import atomic_open
from ..core.errors import ParameterError
from ..result import Result


class ResultWriter(ABC):
    extension: str

    def __call__(self, result: Result, out_dir: str | Path, stem: str | None = None) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = stem or Path(result.media.path).stem or "result"
        path = out_dir / f"{stem}.{self.extension}"
        # Through a synced temporary file: the JSON is the "finished" marker of a batch, so it
        # must never exist half-written or empty, after a kill or a power cut.
        with atomic_open(path, newline="") as fh:
            self.write(result, fh)
        return path

    @abstractmethod
    def write(self, result: Result, fh) -> None: ...


class WriteJSON(ResultWriter):
    extension = "json"

    def write(self, result: Result, fh) -> None:
        result.write_json(fh)


class WriteCSV(ResultWriter):
    """One row per utterance (``Result.to_pandas()``)."""

    extension = "csv"

    def write(self, result: Result, fh) -> None:
        result.to_pandas().to_csv(fh, index=False)


class WriteFramesCSV(ResultWriter):
    """One row per face per analysed frame (``Result.frames()``)."""

    extension = "frames.csv"

    def write(self, result: Result, fh) -> None:
        result.frames().to_csv(fh, index=False)


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cue_text(result: Result, i: int) -> str:
    u = result.utterances[i]
    f = u.fused
    head = "[no evidence]" if f.no_evidence else f"[{f.label} {f.confidence:.0%}{', conflict' if f.conflict else ''}]"
    speaker = f"{u.segment.speaker}: " if u.segment.speaker else ""
    return f"{head} {speaker}{u.segment.text or ''}".strip()


class WriteSRT(ResultWriter):
    """Subtitles whose text is the fused label (and the words, when known)."""

    extension = "srt"

    def write(self, result: Result, fh) -> None:
        for n, u in enumerate(result.utterances, start=1):
            end = u.segment.end if u.segment.end > u.segment.start else u.segment.start + 2.0
            fh.write(f"{n}\n{_timestamp(u.segment.start, ',')} --> {_timestamp(end, ',')}\n{_cue_text(result, n - 1)}\n\n")


class WriteVTT(ResultWriter):
    extension = "vtt"

    def write(self, result: Result, fh) -> None:
        fh.write("WEBVTT\n\n")
        for n, u in enumerate(result.utterances):
            end = u.segment.end if u.segment.end > u.segment.start else u.segment.start + 2.0
            fh.write(f"{_timestamp(u.segment.start, '.')} --> {_timestamp(end, '.')}\n{_cue_text(result, n)}\n\n")


def _html_writer() -> type[ResultWriter]:
    from .html import WriteHTML

    return WriteHTML


WRITERS: dict[str, type[ResultWriter] | None] = {
    "json": WriteJSON, "csv": WriteCSV, "frames": WriteFramesCSV, "srt": WriteSRT, "vtt": WriteVTT, "html": None,
}


def get_writer(fmt: str) -> ResultWriter:
    """The writer for ``fmt`` (json, csv, frames, srt, vtt, html)."""
    key = fmt.strip().lower()
    if key not in WRITERS:
        raise ParameterError(f"unknown output format {fmt!r}; choose from {', '.join(WRITERS)}")
    cls = WRITERS[key] or _html_writer()
    return cls()
