"""Freed memory handed back to the system (keeping it instead is a process setting: process.py)."""
from __future__ import annotations

from ..process import glibc


def give_back_freed_memory() -> None:
    """Return the heap's free pages to the system. Many small arrays kept among large ones freed (notes' first
    chunks made ahead, between a batch's temporaries) otherwise pin whole pages: 300 KB a start instead of 23."""
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)
