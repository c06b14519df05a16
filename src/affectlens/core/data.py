"""Where the real datasets live (for training scripts, benchmarks and tests, never at run time).

They sit beside the project in ``../shared/data``; ``AFFECTLENS_DATA`` overrides that.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def shared_data_dir() -> Path:
    """The dataset root: ``$AFFECTLENS_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("AFFECTLENS_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data")


def dataset_path(*parts: str) -> Path:
    """A path inside the dataset root; raises FileNotFoundError naming the variable to set."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; set AFFECTLENS_DATA to the folder holding the datasets")
    return path
