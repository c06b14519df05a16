"""Ray workers' core claims (scale/cpu_claims.py): disjoint, given back when a worker dies.

Each claim runs in a child process, since a claim pins the process that makes it."""

import os
import signal
import subprocess
import sys
import time

import pytest

from affectlens.scale.cpu_claims import pinning_wanted

CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
needs_two = pytest.mark.skipif(len(CORES) < 2, reason="needs at least 2 CPUs")

CLAIM = """
import os, sys, time
from affectlens.scale.cpu_claims import claim_cpus
cpus = claim_cpus(int(sys.argv[1]), sys.argv[2])
print(",".join(map(str, cpus)), ",".join(map(str, sorted(os.sched_getaffinity(0)))), flush=True)
time.sleep(float(sys.argv[3]))
"""


def _claimer(n, folder, hold=60.0):
    proc = subprocess.Popen([sys.executable, "-c", CLAIM, str(n), str(folder), str(hold)],
                            stdout=subprocess.PIPE, text=True)
    claimed, affinity = proc.stdout.readline().split(" ")
    parse = lambda s: tuple(int(c) for c in s.strip().split(",") if c)  # noqa: E731
    return proc, parse(claimed), parse(affinity)


@needs_two
def test_workers_get_disjoint_cores_and_a_killed_one_gives_its_back(tmp_path):
    procs = []
    try:
        claims = []
        for _ in CORES:  # one 1-core claim per core: every core taken once
            proc, claimed, affinity = _claimer(1, tmp_path)
            procs.append(proc)
            assert len(claimed) == 1 and affinity == claimed, (claimed, affinity)
            claims.append(claimed[0])
        assert sorted(claims) == CORES

        # None left: the next worker runs unpinned, on every core.
        proc, claimed, affinity = _claimer(1, tmp_path, hold=0)
        proc.wait(timeout=30)
        assert claimed == () and list(affinity) == CORES

        # kill -9 of a holder frees its core for the next worker.
        victim = procs.pop(0)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        time.sleep(0.1)
        proc, claimed, affinity = _claimer(1, tmp_path, hold=0)
        proc.wait(timeout=30)
        assert claimed == (claims[0],) and affinity == claimed
    finally:
        for p in procs:
            p.kill()
            p.wait()


@needs_two
def test_a_worker_that_may_use_every_core_is_not_pinned(tmp_path):
    proc, claimed, affinity = _claimer(len(CORES), tmp_path, hold=0)
    proc.wait(timeout=30)
    assert claimed == () and list(affinity) == CORES
    assert not list(tmp_path.glob("*.lock"))  # nothing claimed either


def test_pinning_is_wanted_only_when_the_workers_fill_the_cluster(monkeypatch):
    monkeypatch.delenv("AFFECTLENS_PIN_CPUS", raising=False)
    assert pinning_wanted(2, 1, 2.0) and pinning_wanted(16, 2, 32.0)
    assert not pinning_wanted(1, 1, 2.0)  # room to spare: the worker may borrow it
    assert not pinning_wanted(3, 0.5, 1.5)  # fractions of a core cannot be pinned
    monkeypatch.setenv("AFFECTLENS_PIN_CPUS", "0")
    assert not pinning_wanted(2, 1, 2.0)
