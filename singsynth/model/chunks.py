"""How a streamed note is cut into chunks of LSTM steps: the first holds a few frames of the note, each next one
twice as many, up to a bound. The one rule for SING.stream, Preset.stream and the live generator (no torch here:
the engine imports it before any model is loaded)."""
from __future__ import annotations

from typing import Iterator


def chunk_steps(first_chunk: int, first_steps: int, steps: int) -> Iterator[int]:
    """The LSTM steps of each chunk of a stream, without end: `first_chunk` (holding `first_steps` frames of the
    note), then twice as many as the last, up to `steps`."""
    if first_steps < 1 or steps < 1:
        raise ValueError(f"a stream's chunks need at least one step (first_steps={first_steps}, steps={steps})")
    yield first_chunk
    size = first_steps
    while True:
        size = next_chunk_steps(size, steps)
        yield size


def next_chunk_steps(last: int, steps: int) -> int:
    """The steps of a stream's next chunk after one of `last` steps: twice as many, up to `steps`. Doubling keeps
    each next chunk ready well before the audio already made has played (a step makes 16 ms of a note; on a CPU
    it takes about 1 ms); `steps` bounds a chunk's work."""
    return min(2 * last, steps)
