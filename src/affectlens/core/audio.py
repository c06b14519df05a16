"""The decoded audio track, held at half precision.

An hour of 16 kHz mono audio is 230 MB as float32, the largest single thing a long analysis
holds. Stored as float16 it is half that, and nothing downstream notices: float16 keeps 11
significant bits at every level (about 66 dB between a sample and its rounding error, for a
quiet speaker as for a loud one, where int16 would lose bits on quiet audio), while the
encoder, prosody and voice-activity features are far coarser than that. Every read hands back
float32, so no consumer ever computes in half precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: float16's largest finite value is 65504; decoded audio is within [-1, 1] but a float WAV
#: may hold anything, and an overflow to inf would poison every feature downstream.
_LIMIT = 60_000.0


def to_half(samples: np.ndarray) -> np.ndarray:
    """``samples`` as float16, with non-finite values zeroed and out-of-range ones clipped."""
    samples = np.nan_to_num(np.asarray(samples, dtype=np.float32), nan=0.0, posinf=_LIMIT, neginf=-_LIMIT)
    return np.clip(samples, -_LIMIT, _LIMIT).astype(np.float16)


class AudioTrack:
    """16 kHz mono samples kept as float16; indexing returns float32.

    It stands where a float32 array stood: ``len()``, ``.size``, ``.shape`` and slicing work
    as on the array, and ``np.asarray(track)`` gives the whole track as float32 (which costs
    the full-precision copy this class exists to avoid: slice instead).
    """

    __slots__ = ("_half",)
    dtype = np.dtype(np.float32)
    ndim = 1

    def __init__(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples).reshape(-1)
        self._half = samples if samples.dtype == np.float16 else to_half(samples)

    def __len__(self) -> int:
        return len(self._half)

    @property
    def size(self) -> int:
        return int(self._half.size)

    @property
    def shape(self) -> tuple[int]:
        return (len(self._half),)

    @property
    def nbytes(self) -> int:
        """What the track holds in memory (half of a float32 array's)."""
        return int(self._half.nbytes)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._half[key], dtype=np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._half.astype(dtype or np.float32)

    def __repr__(self) -> str:
        return f"AudioTrack({len(self)} samples, {len(self) / 16_000:.1f} s at 16 kHz)"


#: What an audio argument may be: a track from decoding, or any float array (tests, callers).
Audio = AudioTrack | np.ndarray
