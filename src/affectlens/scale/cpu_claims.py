"""Cores of its own for each Ray worker, when the workers fill the machines.

Why: two 1-CPU workers on 2 cores, left to the operating system, keep trading the cores: each
worker's main and helper threads (decoding ahead, the face classifier) migrate between them,
and the same files cost each process about 4 % more CPU time than pinned (probe accounting;
most likely the warm private cache of the core left behind). Pinned each to a core of its
own, two workers did 10 % more files per minute with the clips' transcripts and 4-10 % more
with speech recognition (``benchmarks/scale_ray.py``, pinned and unpinned runs alternated; two
plain processes pinned with ``taskset`` took about 10 % less time in a probe). A worker that
has spare cores beside it is better left free: a 1-thread worker alone on 2 cores uses about
1.08 of them (its helper threads borrow the idle one) and was about 5 % faster unpinned than
pinned (probes, not benchmarks). So the driver asks for pinning only when its workers take
every CPU of the cluster (:func:`pinning_wanted`); ``AFFECTLENS_PIN_CPUS=0`` turns it off.

What is pinned: ``sched_setaffinity`` binds the calling thread, so the worker claims in its
constructor, before the models load, on the thread that runs the actor's tasks; every thread
the pipeline starts from there (MediaPipe's, the decoder, the face helpers) inherits the cores.
Ray's own threads, started before, stay free; they use little.

A claim is an exclusive ``flock`` on one lock file per CPU, in a per-user folder of the
temporary directory. Workers of one run, or of two runs on the same node, pick disjoint cores
without talking to each other, and a claim ends with its process, even under ``kill -9``
(the kernel drops the lock with the file descriptor).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

_held: list[IO[str]] = []  # this process's open lock files: its claim lasts while they are open


def pinning_wanted(workers: int, cpus_per_worker: float, cluster_cpus: float) -> bool:
    """Whether a run's workers should pin themselves: they take every CPU of the cluster, each
    a whole number of them, and ``AFFECTLENS_PIN_CPUS`` is not ``0``."""
    if os.environ.get("AFFECTLENS_PIN_CPUS", "").strip() == "0":
        return False
    return cpus_per_worker == int(cpus_per_worker) and workers * cpus_per_worker >= cluster_cpus


def claim_dir() -> Path:
    """Where the lock files live: ``<tmp>/affectlens-cpus-<uid>``."""
    return Path(tempfile.gettempdir()) / f"affectlens-cpus-{os.getuid()}"


def claim_cpus(n: int, folder: str | os.PathLike[str] | None = None) -> tuple[int, ...]:
    """Pin this process to ``n`` of its CPUs that no other claiming process holds.

    Returns the CPUs, or ``()`` when the process stays as it is: ``n`` covers every CPU it may
    use already (nothing to gain), fewer than ``n`` are free (a partial claim is given back),
    the platform has no CPU affinity, or the process has claimed before (a claim is made once,
    before the models load, and kept for the process's life).
    """
    if _held or n < 1:
        return ()
    try:
        import fcntl

        cores = sorted(os.sched_getaffinity(0))
    except (ImportError, AttributeError, OSError):  # not Linux
        return ()
    if n >= len(cores):
        return ()
    where = Path(folder) if folder is not None else claim_dir()
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        log.info("not pinning to cores: cannot use %s (%s)", where, e)
        return ()
    got: list[tuple[int, IO[str]]] = []
    for cpu in cores:
        try:
            fh = open(where / f"cpu{cpu}.lock", "a", encoding="ascii")  # noqa: SIM115 - kept open
        except OSError:
            continue
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another worker's core
            fh.close()
            continue
        got.append((cpu, fh))
        if len(got) == n:
            break
    cpus = tuple(cpu for cpu, _ in got)
    if len(got) < n:
        for _, fh in got:
            fh.close()
        log.info("not pinning to cores: %d of the %d wanted are free", len(got), n)
        return ()
    os.sched_setaffinity(0, cpus)
    _held.extend(fh for _, fh in got)
    return cpus
