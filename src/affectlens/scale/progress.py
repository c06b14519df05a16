"""One progress bar for a whole corpus: files done of all, files per minute, time left.

Per-file bars mean little when thousands of files are spread over workers; what a user of a
corpus run wants is how far it is, how fast it goes and when it ends. The rate and the ETA
count only the files analysed by this run (files finished by an earlier run are in the count,
not in the speed). Shown only on a terminal: a log file gets the summary alone.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from .ray_pool import CorpusEvent


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class CorpusProgress:
    """A tqdm bar fed by the driver: :meth:`plan` once, :meth:`done` per file, :meth:`event`
    with the pool's worker events."""

    def __init__(self, description: str = "analyze", enabled: bool | None = None) -> None:
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._start = time.monotonic()
        self._analysed = 0
        self._failed = 0
        self._workers = 0
        self._total = 0

    def plan(self, total: int, finished: int) -> None:
        self._total = total
        if not self.enabled:
            return
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=finished, unit="file", desc=self.description, file=sys.stderr,
                         dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                                        "[{elapsed}{postfix}]")
        self._start = time.monotonic()
        self._refresh()

    def done(self, ok: bool, resumed: bool = False) -> None:
        if resumed:
            return  # counted in the plan
        self._analysed += 1
        self._failed += not ok
        if self._bar is not None:
            self._bar.update(1)
            self._refresh()

    def event(self, event: CorpusEvent) -> None:
        if event.kind == "worker-started":
            self._workers += 1
        elif event.kind == "worker-died":
            self._workers = max(0, self._workers - 1)
        self._refresh()

    @property
    def files_per_minute(self) -> float:
        elapsed = time.monotonic() - self._start
        return 60.0 * self._analysed / elapsed if elapsed > 0 else 0.0

    def _refresh(self) -> None:
        if self._bar is None:
            return
        rate = self.files_per_minute
        left = self._total - self._bar.n
        parts = [f"{rate:.1f} files/min" if self._analysed else "starting"]
        if self._analysed and rate > 0:
            parts.append(f"ETA {_clock(60.0 * left / rate)}")
        if self._failed:
            parts.append(f"{self._failed} failed")
        if self._workers:
            parts.append(f"{self._workers} worker{'s' if self._workers != 1 else ''}")
        self._bar.set_postfix_str(", ".join(parts), refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
