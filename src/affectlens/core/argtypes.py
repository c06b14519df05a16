"""Argument types shared by the command lines (``affectlens analyze``, ``annotate``, ``serve``
and the Ray options): a value argparse cannot use becomes its one-line error, naming what was
expected."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole(low: int = 1, what: str = "a whole number", option: str | None = None) -> Callable[[str], int]:
    """A parser for whole numbers of at least ``low`` (``what`` and ``option`` word the error)."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from e
        if n < low:
            raise argparse.ArgumentTypeError(f"{option + ' ' if option else ''}must be at least {low}")
        return n

    return parse


def positive(what: str = "a number") -> Callable[[str], float]:
    """A parser for finite numbers above zero (``float`` alone also reads "nan" and "inf")."""

    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from e
        if not math.isfinite(x) or x <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive {what.removeprefix('a ')}")
        return x

    return parse


def face_rate(value: str) -> float | None:
    """``--face-fps`` (and the service's ``face_fps`` field): frames per second, or 'all' (None)."""
    if value.strip().lower() == "all":
        return None
    try:
        fps = float(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a number of frames per second or 'all', got {value!r}") from e
    if not math.isfinite(fps) or fps <= 0:  # float() also reads "nan" and "inf"
        raise argparse.ArgumentTypeError("--face-fps must be a positive number (or 'all')")
    return fps
