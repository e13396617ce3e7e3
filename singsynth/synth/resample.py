"""Model rate -> output rate with soxr (a real band-limited resampler), whole notes or streamed."""
from __future__ import annotations

import functools

import numpy as np
import soxr

QUALITY = "HQ"


def out_length(samples: int, in_rate: int, out_rate: int) -> int:
    return int(round(samples * out_rate / in_rate))


def resample(notes: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Notes [B, n] at in_rate -> [B, out_length] float32 at out_rate."""
    if in_rate == out_rate:
        return np.ascontiguousarray(notes, dtype=np.float32)
    out = soxr.resample(np.ascontiguousarray(notes.T, dtype=np.float32), in_rate, out_rate, quality=QUALITY)
    return np.ascontiguousarray(out.T)


@functools.lru_cache(maxsize=8)
def first_output_after(in_rate: int, out_rate: int) -> int:
    """How many input samples a stream takes before it hands out any (soxr works in blocks: 592 at 16 kHz to
    48 kHz), found by feeding one silence; a streamed note's first chunk needs at least this many to sound."""
    if in_rate == out_rate:
        return 1
    stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=QUALITY)
    step, taken = 16, 0
    while not stream.resample_chunk(np.zeros((step, 1), dtype=np.float32)).shape[0]:
        taken += step
    return taken + step


class StreamResampler:
    """Chunks [B, n] in, chunks [B, m] out; the concatenation equals resample() of the whole."""

    def __init__(self, batch: int, in_rate: int, out_rate: int):
        self._same = in_rate == out_rate
        self._stream = None if self._same else soxr.ResampleStream(in_rate, out_rate, batch, dtype="float32",
                                                                 quality=QUALITY)

    def __call__(self, chunk: np.ndarray, last: bool = False) -> np.ndarray:
        if self._same:
            return np.ascontiguousarray(chunk, dtype=np.float32)
        out = self._stream.resample_chunk(np.ascontiguousarray(chunk.T, dtype=np.float32), last=last)
        return np.ascontiguousarray(out.T)
