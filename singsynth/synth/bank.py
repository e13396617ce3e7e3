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

from .voice import RELEASE_FLOOR, Voice, decay_table, ramp_table


def shaped(v: Voice) -> bool:
    """Whether the voice has an envelope this block: it starts, is released or fades."""
    return bool(v.start_at) or v.release_at >= 0 or v.release_from is not None or v.kill_left is not None


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
    begin = np.array([v.start_at for v in voices])
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
        seg[shaped_from:] *= _envelopes(voices[shaped_from:], n, release_len)
    moved = (row_phase[:, n] - row_phase[rows, begin]).tolist()
    for v, distance in zip(voices[:shaped_from], moved[:shaped_from]):  # nothing but their reading moves on
        v.pos += distance
    for v, distance in zip(voices[shaped_from:], moved[shaped_from:]):
        _advance(v, distance, n, release_len)
    return seg


def _advance(v: Voice, distance: float, n: int, release_len: int) -> None:
    """A shaped voice's state after the block: where it reads, and how far its release and fade went."""
    v.pos += distance
    v.start_at = 0
    if v.release_from is not None:
        v.release_at, v.release_from = max(v.release_at, 0) + n - v.release_from, None
    elif v.release_at >= 0:
        v.release_at += n
    if v.release_at >= release_len:
        v.finished = True
    if v.kill_left is not None:
        v.kill_left -= n - (v.kill_from or 0)
        v.kill_from = None
        if v.kill_left <= 0:
            v.finished = True


def _envelopes(voices: list[Voice], n: int, release_len: int) -> np.ndarray:
    """The gains [voices, n] render_block's envelopes give these voices over the block: silence before a
    start, the release and the quick fade, each from its own offset (negative: an earlier block).

    No exp per sample for a release begun earlier: exp(-(t0 + k) / tau) is exp(-t0 / tau) * exp(-k / tau).
    A fade (L - 1 - k + s) / L exceeds 1 before its offset s, so clipping at 1 starts it there."""
    k = ramp_table(n) - np.float32(1)  # 0, 1, ..., n - 1
    env = np.ones((len(voices), n), dtype=np.float32)
    floor = np.float32(RELEASE_FLOOR / (1 - RELEASE_FLOOR))
    earlier = [r for r, v in enumerate(voices) if v.release_at >= 0]  # released in an earlier block
    now = [r for r, v in enumerate(voices) if v.release_from is not None and v.release_at < 0]
    if earlier or now:
        decay, tau = decay_table(n, release_len)
    if earlier:
        since = np.array([voices[r].release_at for r in earlier], dtype=np.float64)
        scale = (np.exp(-since / tau) / (1 - RELEASE_FLOOR)).astype(np.float32)
        gain = scale[:, None] * decay[None, :]
        gain -= floor
        np.maximum(gain, 0.0, out=gain)
        env[earlier] = gain
    if now:  # released in this block, at offset s: 1 before s, the release from s
        since = k[None, :] - np.array([voices[r].release_from for r in now], dtype=np.float32)[:, None]
        fall = np.exp(-np.maximum(since, 0.0) / np.float32(tau)) / np.float32(1 - RELEASE_FLOOR) - floor
        env[now] = np.where(since >= 0, np.maximum(fall, 0.0), 1.0)
    fading = [r for r, v in enumerate(voices) if v.kill_left is not None]
    if fading:
        length = np.array([voices[r].kill_len for r in fading], dtype=np.float64)
        start = np.array([voices[r].kill_from if voices[r].kill_from is not None
                          else voices[r].kill_left - voices[r].kill_len for r in fading], dtype=np.float64)
        inv = (1.0 / length).astype(np.float32)
        fade = ((length - 1 + start) * inv).astype(np.float32)[:, None] - inv[:, None] * k[None, :]
        np.maximum(fade, 0.0, out=fade)
        np.minimum(fade, 1.0, out=fade)
        env[fading] *= fade
    late = np.array([v.start_at for v in voices])
    if late.any():
        env *= k[None, :] >= late[:, None]
    return env
