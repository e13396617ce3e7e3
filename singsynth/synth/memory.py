"""Giving freed memory back to the system where the C library keeps it (glibc)."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


def give_back_freed_memory() -> None:
    """Return the heap's free pages to the system. Many small arrays kept among large ones freed (notes' first
    chunks made ahead, between a batch's temporaries) otherwise pin whole pages: 300 KB a start instead of 23."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
