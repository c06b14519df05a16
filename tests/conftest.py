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
