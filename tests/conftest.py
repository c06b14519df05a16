"""Shared fixtures: the real datasets beside the project, skipped with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlens.core.data import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data (or $AFFECTLENS_DATA); skips the test when it is not there."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root}; set AFFECTLENS_DATA to run this test")
    return root


@pytest.fixture(scope="session")
def demo_dir(shared_data: Path) -> Path:
    return shared_data / "video" / "demo"


@pytest.fixture(scope="session")
def pexels_clip(demo_dir: Path) -> Path:
    return demo_dir / "WolfgangLanger_Pexels.mp4"


@pytest.fixture(scope="session")
def local_llm():
    """A real OpenAI-compatible server (llama.cpp via xllamacpp) with SmolLM2-135M-Instruct, on a
    free loopback port, for the whole session: one slot, so a request the client abandons would
    block the next one unless the server really stops generating. Skips only when the packages
    are not installed."""
    from affectlens.testing.local_llm import missing_requirements, start_local_server

    reason = missing_requirements()
    if reason:
        pytest.skip(f"no local language model: {reason}")
    server = start_local_server(parallel=1, context=2048, threads=2)
    yield server
    server.close()


@pytest.fixture
def stub_factory():
    """Make stand-in OpenAI chat servers (tests/llm_stub.py) for the failure cases a real server
    cannot be made to show on demand; all are shut down after the test."""
    from llm_stub import Stub

    stubs: list[Stub] = []

    def make(behaviour=None) -> Stub:
        """A stub answering with ``behaviour(handler, body, n)``; by default one that hangs."""
        stub = Stub(behaviour)
        stubs.append(stub)
        return stub

    yield make
    for s in stubs:
        s.close()
