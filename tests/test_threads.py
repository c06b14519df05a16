"""The thread budget: where its default comes from and how branches share it."""

from __future__ import annotations

import os
import sys
import types

import pytest

from affectlens.core.errors import ParameterError
from affectlens.core.threads import ThreadBudget, available_threads
from affectlens.pipeline import AnalysisOptions, Pipeline


def test_default_is_the_affinity_mask(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert available_threads() == len(os.sched_getaffinity(0))


def test_omp_num_threads_caps_it(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert available_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")  # ignored with a warning, not a crash
    assert available_threads() == len(os.sched_getaffinity(0))


def test_ray_share_caps_it(monkeypatch):
    """Inside a Ray task or actor, its assigned CPUs bound the budget (Ray itself is faked: the
    test only needs the two calls affectlens makes)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    context = types.SimpleNamespace(get_assigned_resources=lambda: {"CPU": 1.0})
    fake = types.SimpleNamespace(is_initialized=lambda: True, get_runtime_context=lambda: context)
    monkeypatch.setitem(sys.modules, "ray", fake)
    assert available_threads() == 1


def test_branches_share_the_budget():
    assert ThreadBudget(2).share(2) == 1
    assert ThreadBudget(4).share(2) == 2
    assert ThreadBudget(2).share(1) == 2
    assert ThreadBudget(1).share(2) == 1 and not ThreadBudget(1).concurrent
    assert ThreadBudget.resolve(3).total == 3
    with pytest.raises(ValueError):
        ThreadBudget.resolve(0)


def test_pipeline_takes_threads_from_options(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert Pipeline().budget.total == 1
    assert Pipeline(AnalysisOptions(threads=2)).budget.total == 2
    with pytest.raises(ParameterError):
        AnalysisOptions(threads=0)


def test_one_instance_per_model_whatever_the_thread_count():
    from affectlens.core.threads import one_per_thread_count

    loads = []

    @one_per_thread_count
    def load(model: str = "m", threads: int = 0):
        loads.append((model, threads))
        return object()

    a = load(threads=1)
    assert load("m", threads=1) is a and load(model="m", threads=1) is a  # one key however it is named
    b = load(threads=2)
    assert b is not a and load(threads=2) is b  # replaced, not kept beside
    assert load(threads=1) is not a  # the old one was let go
    other = load("n", threads=1)  # another model is its own instance, beside the first
    assert load("n", threads=1) is other and load(threads=1) is not other
    assert loads == [("m", 1), ("m", 2), ("m", 1), ("n", 1)]


def test_a_one_thread_budget_decodes_in_the_calling_thread(shared_data):
    """One thread means one core: no decoder thread running ahead beside the face stage."""
    clip = shared_data / "video" / "mer2023_samples" / "sample_00000167.mp4"
    with Pipeline(AnalysisOptions(threads=1, modalities=("face",), face_fps=2.0, asr=False)) as one:
        assert one(clip).observations
        assert one._decode_worker is None
    with Pipeline(AnalysisOptions(threads=2, modalities=("face",), face_fps=2.0, asr=False)) as two:
        assert two(clip).observations
        assert two._decode_worker is not None

