"""How many threads an analysis may use, and how they are shared between its branches.

Why this exists: onnxruntime and CTranslate2 size their pools from the machine's core count
unless told otherwise. Two workers on a 2-core machine (two Ray actors, a server beside a batch)
then start two 2-thread pools each and fight for the cores. So every pool affectlens opens takes
its size from one budget, and the budget defaults to what *this process* may use:

* the CPUs in the process's affinity mask (``taskset``, cgroup cpusets, containers);
* at most ``OMP_NUM_THREADS`` when it is set (Ray sets it to a task's or actor's ``num_cpus``;
  so do job schedulers);
* at most the CPUs Ray assigned to the current task or actor, when running inside one.

An analysis with both a video and an audio branch gives each branch half of the budget (at least
one thread each): the branches run at the same time, so together they use the whole budget.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def _env_threads(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        log.warning("ignoring %s=%r: not a whole number", name, raw)
        return None
    return value if value > 0 else None


def _ray_cpus() -> int | None:
    """CPUs Ray assigned to the current task/actor; None outside Ray (Ray is never imported here)."""
    ray = sys.modules.get("ray")
    if ray is None:
        return None
    try:
        if not ray.is_initialized():
            return None
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # a driver, or an API change: not inside a worker with a CPU share
        return None
    return max(1, math.ceil(cpus)) if cpus else None


def available_threads() -> int:
    """The threads this process may use: affinity, then ``OMP_NUM_THREADS``, then Ray's share."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    for limit in (_env_threads("OMP_NUM_THREADS"), _ray_cpus()):
        if limit is not None:
            n = min(n, limit)
    return max(1, n)


@dataclass(frozen=True)
class ThreadBudget:
    """A number of threads, split between the branches of one analysis.

    Parameters
    ----------
    total : int
        Threads for the whole analysis (``threads=`` in the API, ``--threads`` on the command line).
    """

    total: int

    @classmethod
    def resolve(cls, threads: int | None) -> ThreadBudget:
        """``threads`` when given, else :func:`available_threads`."""
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1; got {threads}")
        return cls(threads or available_threads())

    @property
    def concurrent(self) -> bool:
        """Whether the video and audio branches can run at the same time (two or more threads)."""
        return self.total >= 2

    def share(self, branches: int) -> int:
        """Threads for each of ``branches`` branches that run together (at least one)."""
        if branches <= 1 or not self.concurrent:
            return self.total
        return max(1, self.total // branches)


_branch = threading.local()


def current_threads() -> int:
    """Threads for a pool opened by the calling thread: its branch's share inside
    :func:`branch_threads`, else :func:`available_threads`."""
    return getattr(_branch, "threads", None) or available_threads()


@contextmanager
def branch_threads(n: int):
    """Run the block as one branch with ``n`` threads: pools that read :func:`current_threads`
    in this thread size themselves to ``n``, and numpy's BLAS pool is limited to ``n``."""
    before = getattr(_branch, "threads", None)
    _branch.threads = n
    try:
        with blas_threads(n):
            yield
    finally:
        _branch.threads = before


@contextmanager
def blas_threads(n: int):
    """Limit numpy's BLAS pool (OpenBLAS/MKL) to ``n`` threads inside the block.

    The numpy whisper encoder and prosody run matrix products on BLAS, whose pool is
    process-wide and sized from the core count; while the face branch runs beside the audio
    branch, BLAS must keep to the audio branch's share.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it BLAS keeps its own size
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def one_per_thread_count(load: Callable[..., T]) -> Callable[..., T]:
    """Cache ``load(*args, threads=n)``: one instance per other arguments, whatever ``n``.

    Why: a model's thread pool is fixed when it loads, and the branch shares differ between
    files (a video's audio branch gets half the budget, an audio file's the whole of it). Cached
    per thread count, a batch that mixes videos and audio files held whisper twice (+165 MB) and
    the text encoder twice (+52 MB). Here a call with another count replaces the instance (the
    old one lives on only while a caller still runs it): a mixed batch pays a reload (about half
    a second) where the count changes, never the memory of a second copy.
    """
    lock = threading.Lock()
    instances: dict[tuple, tuple[int, T]] = {}
    signature = inspect.signature(load)

    @functools.wraps(load)
    def cached(*args: Any, **kwargs: Any) -> T:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        threads = bound.arguments.pop("threads", 0) or available_threads()
        key = tuple(bound.arguments.items())
        with lock:
            held = instances.get(key)
            if held is not None and held[0] == threads:
                return held[1]
            instances.pop(key, None)  # let the old instance go before the new one loads
        value = load(**dict(key), threads=threads)
        with lock:
            instances[key] = (threads, value)
        return value

    cached.cache_clear = instances.clear  # type: ignore[attr-defined]
    return cached
