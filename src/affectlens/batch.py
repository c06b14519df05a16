"""Many files, one command: each file is analysed on its own, its outputs written atomically,
and a file that fails is recorded (in ``manifest.jsonl``, as it happens) and skipped. Rerunning
the same command resumes: files whose JSON result already exists are not analysed again, and
files that failed are not retried unless asked. The driver loop is shared with the Ray path
(:mod:`affectlens.scale`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .core.errors import MediaError
from .ingest.decode import IMAGE_SUFFIXES
from .pipeline import Hook, Pipeline
from .writers import get_writer

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = {
    ".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
    ".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac", ".wma",
} | IMAGE_SUFFIXES


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # input -> one-line reason naming it
    #: Inputs that failed with an exception that is not one of ours: a bug, not bad input.
    crashed: list[str] = field(default_factory=list)
    #: Inputs in ``failed`` whose failure an earlier run recorded; not tried again.
    not_retried: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to the media files inside them (sorted, recursive)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES))
        else:
            out.append(p)
    return out


def output_stems(files: Sequence[Path]) -> dict[Path, str]:
    """A unique output name per input (``clip`` or, on a clash, ``folder_clip``)."""
    stems: dict[Path, str] = {}
    used: set[str] = set()
    for f in files:
        stem = f.stem or "input"
        if stem in used:
            stem = f"{f.parent.name}_{stem}"
        n = 2
        base = stem
        while stem in used:
            stem, n = f"{base}_{n}", n + 1
        used.add(stem)
        stems[f] = stem
    return stems


def run_batch(
    pipeline: Pipeline,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    formats: Sequence[str] = ("json",),
    *,
    resume: bool = True,
    retry_failed: bool = False,
    hook_for: Callable[[Path], Hook | None] | None = None,
    subtitles_dir: str | Path | None = None,
) -> BatchReport:
    """Analyse every input into ``out_dir``; never stops on one bad file, never loses finished work.

    Each outcome is appended to ``out_dir/manifest.jsonl`` the moment it is known (see
    :mod:`affectlens.scale.corpus`), so a batch killed at any point resumes where it was:
    finished files are skipped, files that failed before are listed again without being
    retried (``retry_failed=True`` retries them), and ``errors.json`` lists every failure.
    The Ray path (``affectlens analyze DIR --ray``) writes the same files, so either resumes
    the other. ``subtitles_dir`` gives each file whose ``<stem>.srt|.vtt|.csv`` it holds its
    own utterances (see :func:`~affectlens.ingest.subtitles.find_subtitles`).
    """
    from .ingest.subtitles import subtitles_folder
    from .scale.corpus import FileFailure, run_local

    subs = subtitles_folder(subtitles_dir, single=pipeline.options.subtitles)

    out_dir = Path(out_dir)
    files = expand_inputs(inputs)
    if not files:
        raise MediaError(f"no media files in {', '.join(map(str, inputs))} "
                         f"(looked for {', '.join(sorted(MEDIA_SUFFIXES))})")
    for f in formats:
        get_writer(f)  # an unknown format fails before any analysis
    report = BatchReport()
    for item in run_local(pipeline, files, out_dir, formats, resume=resume, retry_failed=retry_failed,
                          hook_for=hook_for, subtitles_dir=subs):
        key = str(item.path)
        if isinstance(item, FileFailure):
            report.failed[key] = item.error
            if item.earlier:
                report.not_retried.append(key)
            if item.kind == "crash":
                report.crashed.append(key)
            log.info("failed: %s", item.error)  # the caller lists the failures at the end
        elif item.resumed:
            report.skipped.append(key)
        else:
            report.done.append(key)
            log.info("%s: done in %.1fs", key, item.seconds or 0.0)
    return report
