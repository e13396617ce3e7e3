"""Many voices read at once: what Voice.render_block does for each, as [voices, samples] arrays.

A block of a busy synthesizer has hundreds of voices. Rendered one by one, each costs a dozen small
numpy calls, and the calls' overhead, not the samples, sets the time. A bank reads every voice that is
plain() for the block (nothing in its way: no loop crossfade or jump, no end of what has arrived, no
cut) in one pass, whatever its channel: each row reads at its own channel's phase, and carries its
own start, release and quick fade as an envelope.
"""
from __future__ import annotations

import math

import numpy as np

from .voice import RELEASE_FLOOR, Voice, _decay, ramp_table


def shaped(v: Voice) -> bool:
    """Whether the voice has an envelope this block: it starts, is released or fades."""
    return bool(v.start_at) or v.release_at >= 0 or v.release_from is not None or v.kill_left is not None


def read_bank(voices: list[Voice], phases: np.ndarray, which: np.ndarray, release_len: int,
              shaped_from: int | None = None) -> np.ndarray:
    """The voices' samples over the block [voices, n], voice r reading at phases[which[r]] (each a
    channel's reading advance at each sample of the block and one past it, see Voice.render_block),
    with their envelopes; advances each voice as render_block does.

    shaped_from: the voices from this row on are the shaped() ones, and those before it are not
    (None: found here)."""
    n = phases.shape[1] - 1
    count = len(voices)
    row_phase = phases[which]
    begin = np.array([v.start_at for v in voices])
    pos = np.array([v.pos for v in voices])
    first = pos.astype(np.int64)
    width = int(phases[:, n].max()) + 3
    window = np.empty((count, width), dtype=np.float32)  # each voice's samples this block reads
    for row, (v, s) in enumerate(zip(voices, first.tolist())):
        part = v.note.data[s:s + width]
        # a voice of a slower channel may end within the widest window: it never reads that far
        window[row, :len(part)] = part
    rows = np.arange(count)
    p = (pos - first - row_phase[rows, begin])[:, None] + row_phase[:, :n]
    if begin.any():
        np.maximum(p, 0.0, out=p)  # before a voice starts: silenced by its envelope
    i = p.astype(np.int64)
    frac = np.subtract(p, i, out=p).astype(np.float32)
    i += (rows * width)[:, None]  # into the flattened window
    flat = window.ravel()
    seg = flat[i]
    i += 1
    step = flat[i]
    step -= seg
    step *= frac
    seg += step
    marked = list(range(shaped_from, count)) if shaped_from is not None else \
        [r for r, v in enumerate(voices) if shaped(v)]
    steady = count - len(marked) if not marked or marked[0] == count - len(marked) else 0  # rows before them
    if marked:
        env = _envelopes([voices[r] for r in marked], n, release_len)
        if steady:
            seg[steady:] *= env
        else:
            seg[marked] *= env
    moved = (row_phase[:, n] - row_phase[rows, begin]).tolist()
    for v, step in zip(voices[:steady], moved[:steady]):  # nothing but their reading moves on
        v.pos += step
    for v, step in zip(voices[steady:], moved[steady:]):
        _advance(v, step, n, release_len)
    return seg


def render_bank(voices: list[Voice], out: np.ndarray, phase: np.ndarray, release_len: int) -> None:
    """Add the voices, all reading at one `phase`, into out (mono)."""
    steady = [v for v in voices if not shaped(v)]
    order = steady + [v for v in voices if shaped(v)]
    out += read_bank(order, phase[None, :], np.zeros(len(order), dtype=np.int64), release_len,
                     len(steady)).sum(axis=0)


def _advance(v: Voice, moved: float, n: int, release_len: int) -> None:
    """A voice's state after the block: where it reads, and how far its release and fade went."""
    v.pos += moved
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
    earlier = np.array([v.release_at for v in voices])  # samples since a release begun in an earlier block
    now = [r for r, v in enumerate(voices) if v.release_from is not None and v.release_at < 0]
    if (earlier >= 0).any() or now:
        decay, tau = _decay(n, release_len)
        floor = np.float32(RELEASE_FLOOR / (1 - RELEASE_FLOOR))
        # rows not released earlier get a scale so large that the clip leaves them at 1
        scale = np.where(earlier >= 0, np.exp(-np.maximum(earlier, 0) / tau) / (1 - RELEASE_FLOOR), 1e30)
        gain = scale.astype(np.float32)[:, None] * decay[None, :]
        gain -= floor
        np.maximum(gain, 0.0, out=gain)
        np.minimum(gain, 1.0, out=gain)
        env *= gain
        if now:  # released in this block, at offset s: 1 before s, the release from s
            since = k[None, :] - np.array([voices[r].release_from for r in now], dtype=np.float32)[:, None]
            fall = np.exp(-np.maximum(since, 0.0) / np.float32(tau)) / np.float32(1 - RELEASE_FLOOR) - floor
            env[now] *= np.where(since >= 0, np.maximum(fall, 0.0), 1.0)
    fading = [(r, v) for r, v in enumerate(voices) if v.kill_left is not None]
    if fading:
        rows = [r for r, _ in fading]
        length = np.array([v.kill_len for _, v in fading], dtype=np.float64)
        start = np.array([v.kill_from if v.kill_from is not None else v.kill_left - v.kill_len
                          for _, v in fading], dtype=np.float64)
        inv = (1.0 / length).astype(np.float32)
        fade = ((length - 1 + start) * inv).astype(np.float32)[:, None] - inv[:, None] * k[None, :]
        np.maximum(fade, 0.0, out=fade)
        np.minimum(fade, 1.0, out=fade)
        env[rows] *= fade
    late = np.array([v.start_at for v in voices])
    if late.any():
        env *= k[None, :] >= late[:, None]
    return env
