"""Give freed memory back to the operating system, and keep large blocks from lingering.

glibc keeps memory that was freed in its heaps for reuse, and with many threads (the two
branches, onnxruntime's and MediaPipe's own) freed blocks stay scattered over several arenas: a
process that once held a large temporary (silero's framing of minutes of audio) keeps its
resident size long after. ``malloc_trim`` hands the free parts back. Measured on an hour of
audio: voice activity left 681 MB resident instead of 416 MB without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache

#: glibc's ``mallopt`` parameter number for the mmap threshold (malloc.h).
_M_MMAP_THRESHOLD = -3
#: Blocks from this size up get their own mapping, returned to the system when freed
#: (why this size: :func:`keep_large_blocks_out_of_the_heap`).
MMAP_THRESHOLD = 4 * 1024 * 1024


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Return the free parts of the C heap to the system (glibc); a no-op elsewhere."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@lru_cache(maxsize=1)
def keep_large_blocks_out_of_the_heap() -> bool:
    """Serve every block of 4 MB or more from its own mapping (glibc; once per process).

    glibc starts at 128 KB but raises the threshold each time such a block is freed, up to
    32 MB, so long audio pieces and big intermediate arrays end up in the heap, where a freed
    block is only reused, never returned, and heaps of several threads fragment. A fixed
    threshold hands each one back as soon as it is freed.

    Why 4 MB and not lower: every block served by mmap is new memory, zeroed by the kernel page
    by page on first touch. At 256 KB the whisper encoder's activations (1500 x 512 float32,
    3 MB each, several per layer) and the decoded frames took that path every time: 5.1 M page
    faults and 23 % of the CPU in the kernel for the 9 MER2023 clips, against 1.8 M and 11 % at
    4 MB, where those blocks are reused in the heap. On the hour-long video with speech
    recognition the CPU fell from 740 to 561 s and the peak RSS went from 903 to 919 MB (goal
    1 GB, ``benchmarks/e2e_memory.py``); a reused pipeline still stays flat
    (``benchmarks/pipeline_reuse.py``). Set ``AFFECTLENS_MALLOC=default`` to leave the
    allocator alone.
    """
    if os.environ.get("AFFECTLENS_MALLOC", "") == "default":
        return False
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def rss_mb(pid: int | str = "self", *, peak: bool = False) -> float:
    """Resident memory of a process in MB, now or at its peak (``VmHWM``), from Linux ``/proc``.

    For this process off Linux, the peak from ``getrusage``; for another process, NaN there.
    Used by the workers' reports, the test servers and the benchmarks.
    """
    key = "VmHWM:" if peak else "VmRSS:"
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if pid != "self":
        return float("nan")
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
