"""How the C library (glibc) keeps freed memory: given back to the system, or kept for the next allocation."""
from __future__ import annotations

import ctypes
import functools
import sys

# mallopt's parameters
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 << 20  # the largest glibc takes on 64-bit systems
KEEP_FREED = 1 << 30


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc's malloc controls, or None elsewhere (macOS, Windows, musl): there is nothing to call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library the process runs on, without searching for it
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def give_back_freed_memory() -> None:
    """Return the heap's free pages to the system. Many small arrays kept among large ones freed (notes' first
    chunks made ahead, between a batch's temporaries) otherwise pin whole pages: 300 KB a start instead of 23."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def keep_freed_memory() -> None:
    """For a process that generates notes in batches and then exits (render): from now on, keep freed memory for
    the next allocation instead of handing it back, for the rest of the process. By default every array over a
    few MB (a batch's activations, a note) is mapped afresh from the system, and the first touch of each page costs
    a fault: in all a tenth of a cold render's time. The process holds at most its peak, which it had anyway."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED)
