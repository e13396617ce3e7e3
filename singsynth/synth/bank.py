"""Many voices read at once: what Voice.render_block does for each, as [voices, samples] arrays.

A block of a busy synthesizer has hundreds of voices. Rendered one by one, each costs a dozen small
numpy calls, and the calls' overhead, not the samples, sets the time. A bank reads every voice that is
plain() for the block (nothing in its way: no loop crossfade or jump, no end of what has arrived, no
cut) in one pass, whatever its channel: each row reads at its own channel's phase, and carries its
own start, release and quick fade as an envelope. A plain voice does not jump back to its loop start
within the block, so its loop gain (the decay of the passes of the loop so far) is one number for the block.
"""
from __future__ import annotations

import numpy as np

from .envelope import bank_gains
from .voice import Voice


def shaped(v: Voice) -> bool:
    """Whether the voice has an envelope this block: it starts, is released or fades."""
    return v.env.shaped()


def read_bank(voices: list[Voice], phases: np.ndarray, which: np.ndarray, release_len: int,
              shaped_from: int) -> np.ndarray:
    """The voices' samples over the block [voices, n], voice r reading at phases[which[r]] (each a
    channel's reading advance at each sample of the block and one past it, see Voice.render_block),
    with their envelopes; advances each voice as render_block does.

    The voices from row `shaped_from` on are the shaped() ones, and only they."""
    n = phases.shape[1] - 1
    count = len(voices)
    rows = np.arange(count)
    row_phase = phases[which]
    begin = np.array([v.env.start_at for v in voices])
    pos = np.array([v.pos for v in voices])
    first = pos.astype(np.int64)
    width = int(phases[:, n].max()) + 3
    window = np.empty((count, width), dtype=np.float32)  # each voice's samples this block reads, at its loop gain
    for row, (v, s) in enumerate(zip(voices, first.tolist())):
        part = v.note.data[s:s + width]
        # a voice of a slower channel may end within the widest window: it never reads that far
        if v.loop_gain == 1.0:
            window[row, :len(part)] = part
        else:
            np.multiply(part, np.float32(v.loop_gain), out=window[row, :len(part)])
    p = (pos - first - row_phase[rows, begin])[:, None] + row_phase[:, :n]
    if begin.any():
        np.maximum(p, 0.0, out=p)  # before a voice starts: silenced by its envelope
    i = p.astype(np.int64)
    frac = np.subtract(p, i, out=p).astype(np.float32)
    i += (rows * width)[:, None]  # into the flattened window
    flat = window.ravel()
    seg = flat[i]
    i += 1
    rise = flat[i]
    rise -= seg
    rise *= frac
    seg += rise
    if shaped_from < count:
        seg[shaped_from:] *= bank_gains([v.env for v in voices[shaped_from:]], n, release_len)
    moved = (row_phase[:, n] - row_phase[rows, begin]).tolist()
    for v, distance in zip(voices[:shaped_from], moved[:shaped_from]):  # nothing but their reading moves on
        v.pos += distance
    for v, distance in zip(voices[shaped_from:], moved[shaped_from:]):
        v.pos += distance
        v.env.advance(n, release_len)
    return seg
