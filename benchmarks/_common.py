"""Helpers shared by the benchmark scripts: where results go and what they record."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    import os

    return f"{os.cpu_count()}-core CPU, {platform.machine()}, Python {platform.python_version()}"


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the date, machine and command added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "date": _dt.date.today().isoformat(),
        "machine": machine(),
        "command": "python " + " ".join(sys.argv),
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    print(f"wrote {path}")
    return path
