"""Files that appear whole or not at all.

Every output of affectlens (results, manifests, annotate state and shards) is written through a
synced temporary file beside its target and renamed over it: a reader, or a rerun after
``kill -9`` or a power cut, sees the old file or the new one, never half of one. Temporary
files are named ``.<name>.<random>.tmp`` (unique per writer, threads included), which is what
:func:`affectlens.scale.manifest.remove_stale_tmp` clears after an interrupted run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_open(path: str | Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """A text file to write ``path`` through; renamed over ``path`` when the block ends
    without an error, removed otherwise."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` with :func:`atomic_open`."""
    with atomic_open(path) as fh:
        fh.write(text)
