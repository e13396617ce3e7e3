"""float32 <-> float16 for the note cache, quicker than numpy's astype. numpy takes a slow path for each value too
small for a normal float16, and a note's quiet tail holds hundreds of thousands: about 1 ms a note. Where torch is
loaded already (every process that generates notes, the only ones that round), its vectorised conversion gives
the same bits (round to nearest, ties to even: tests/test_half.py); float16 back to float32 is a table look-up."""
from __future__ import annotations

import functools
import sys

import numpy as np

EXPONENT_BITS = 0x7C00  # all set: infinite or NaN


def _loaded_torch(x: np.ndarray):
    """torch, where it is loaded already and can take x as it is (float32, contiguous, writeable); else None."""
    torch = sys.modules.get("torch")
    if getattr(torch, "from_numpy", None) is None:  # not loaded, or another thread is importing it now
        return None
    return torch if x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable else None


def to_half(x: np.ndarray) -> np.ndarray:
    """Samples -> float16, as astype(np.float16) gives them."""
    torch = _loaded_torch(x)
    return torch.from_numpy(x).half().numpy() if torch is not None else x.astype(np.float16)


def to_half_precision(x: np.ndarray) -> np.ndarray:
    """Samples rounded to the nearest float16, as float32."""
    torch = _loaded_torch(x)
    return torch.from_numpy(x).half().float().numpy() if torch is not None else widen(x.astype(np.float16))


@functools.lru_cache(maxsize=1)
def _widening_table() -> np.ndarray:
    table = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    table.flags.writeable = False
    return table


def _bits(h: np.ndarray) -> np.ndarray:
    if h.dtype != np.float16 or not h.dtype.isnative:
        raise ValueError(f"expected float16 samples in this machine's byte order, not {h.dtype.str}")
    return h.view(np.uint16)


def widen(h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float16 samples -> float32, exactly, into `out` when given."""
    table = _widening_table()
    if out is None:
        return table[_bits(h)]
    out[...] = table[_bits(h)]
    return out


def all_finite(h: np.ndarray) -> bool:
    """Whether no float16 sample is infinite or NaN, five times quicker than np.isfinite."""
    return not ((_bits(h) & np.uint16(EXPONENT_BITS)) == EXPONENT_BITS).any()
