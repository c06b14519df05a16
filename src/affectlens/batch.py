"""Many files, one command: each file is analysed on its own, its outputs written atomically,
and a file that fails is recorded and skipped. Rerunning the same command resumes: files whose
JSON result already exists are not analysed again.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .core.errors import AffectlensError, MediaError
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
    hook_for: callable | None = None,
) -> BatchReport:
    """Analyse every input into ``out_dir``; never stops on one bad file."""
    out_dir = Path(out_dir)
    files = expand_inputs(inputs)
    if not files:
        raise MediaError(f"no media files in {', '.join(map(str, inputs))} "
                         f"(looked for {', '.join(sorted(MEDIA_SUFFIXES))})")
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = output_stems(files)
    writers = [get_writer(f) for f in formats]
    if "json" not in {w.extension for w in writers}:
        writers.insert(0, get_writer("json"))  # the JSON doubles as the "finished" marker
    report = BatchReport()
    for f in files:
        stem = stems[f]
        if resume and (out_dir / f"{stem}.json").is_file():
            report.skipped.append(str(f))
            continue
        started = time.perf_counter()
        try:
            hook: Hook | None = hook_for(f) if hook_for else None
            result = pipeline(f, hook=hook)
            # JSON last: its presence means every other output of this file is complete.
            for w in sorted(writers, key=lambda w: w.extension == "json"):
                w(result, out_dir, stem)
            report.done.append(str(f))
            log.info("%s: %d utterances in %.1fs", f, len(result.utterances), time.perf_counter() - started)
        except AffectlensError as e:
            report.failed[str(f)] = reason = str(e) if str(f) in str(e) else f"{f}: {e}"
            log.info("failed: %s", reason)  # the caller lists the failures at the end
        except Exception as e:  # one broken file must not end the batch
            report.failed[str(f)] = f"{f}: unexpected {type(e).__name__}: {e}"
            report.crashed.append(str(f))
            log.error("%s: unexpected %s (a bug: please report it)\n%s", f, type(e).__name__, traceback.format_exc())
    if report.failed:
        errors_file = out_dir / "errors.json"
        previous = json.loads(errors_file.read_text()) if errors_file.is_file() else {}
        previous.update(report.failed)
        errors_file.write_text(json.dumps(previous, indent=2))
    return report
