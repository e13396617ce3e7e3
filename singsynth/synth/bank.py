"""Many voices read at once: what Voice.render_block does for each, as [voices, samples] arrays.

A block of a busy synthesizer has hundreds of voices. Rendered one by one, each costs a dozen small
numpy calls, and the calls' overhead, not the samples, sets the time. A bank reads every voice that is
plain() for the block (nothing in its way: no loop crossfade or jump, no end of what has arrived, no
cut) in one pass, whatever its channel: each row reads at its own channel's phase, and carries its
own start, release and quick fade as an envelope. A plain voice does not jump back to its loop start
within the block, so its loop gain (the decay of the passes of the loop so far) is one number for the block.
"""
from __future__ import annotations

import threading

import numpy as np

from .envelope import bank_gains, release_curve
from .voice import Voice

_kernel = None  # bank_kernel.bank_sums once load_kernel() has run: then every block reads its bank through it
_loading: threading.Thread | None = None
# A bank this large loads the compiled bank (in the background) if nothing loaded it before: a render of a few
# voices never pays numba's import, a dense one reads most of its blocks compiled.
KERNEL_FROM = 32
# Off for now: a live `play` that loaded the compiled bank died once with SIGSEGV in a fresh checkout's test run
# (tests/test_live_jack.py, cold numba cache, a loaded machine), not reproduced since; until that is understood the
# engine mixes with numpy unless a caller loads the kernel itself (the same figures either way).
AUTOLOAD = False


def load_kernel() -> None:
    """Import and compile (or load from numba's cache) the compiled bank (bank_kernel.py); from then on sum_bank()
    uses it. Its figures are numpy's to the bit, so a render that switches to it part way is the same render."""
    global _kernel
    if _kernel is not None:
        return
    from .bank_kernel import bank_sums
    one = np.ones(1, dtype=np.float64)
    bank_sums(np.zeros((1, 4), np.float32), np.zeros((1, 2)), np.zeros(1, np.int64), np.zeros(1, np.int64), one * 0,
              False, np.zeros(1, np.int64), 0, np.ones(1, np.bool_), np.zeros(1, np.int64), np.ones(1, np.bool_), one,
              one * 0, np.zeros(1, np.int64), np.ones(2, np.float32), np.zeros((1, 1), np.float32))
    _kernel = bank_sums


def load_kernel_in_background() -> threading.Thread:
    """load_kernel() in a thread of its own: numba's import (about 0.5 s) overlaps the notes' making; blocks mixed
    meanwhile read their banks with numpy, to the same figures."""
    global _loading
    if _loading is None:
        _loading = threading.Thread(target=load_kernel, name="bank-compile", daemon=True)
        _loading.start()
    return _loading


def shaped(v: Voice) -> bool:
    """Whether the voice has an envelope this block: it starts, is released or fades."""
    return v.env.shaped()


def _windows(voices: list[Voice], phases: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each voice's samples that this block can read [voices, width] (from floor(pos) on, at its loop gain), where
    it reads from (pos - floor(pos) - its phase at its start, [voices]) and its start offset [voices]."""
    n = phases.shape[1] - 1
    begin = np.array([v.env.start_at for v in voices], dtype=np.int64)
    pos = np.array([v.pos for v in voices])
    first = pos.astype(np.int64)
    width = int(phases[:, n].max()) + 3
    window = np.empty((len(voices), width), dtype=np.float32)
    for row, (v, s) in enumerate(zip(voices, first.tolist())):
        part = v.note.data[s:s + width]
        # a voice of a slower channel may end within the widest window: it never reads that far
        if v.loop_gain == 1.0:
            window[row, :len(part)] = part
        else:
            np.multiply(part, np.float32(v.loop_gain), out=window[row, :len(part)])
    return window, pos - first - phases[which, begin], begin


def _advance(voices: list[Voice], phases: np.ndarray, which: np.ndarray, begin: np.ndarray, release_len: int,
             shaped_from: int) -> None:
    """Each voice read on by the block, as render_block moves it: its reading, and its start, release and fade."""
    n = phases.shape[1] - 1
    moved = (phases[which, n] - phases[which, begin]).tolist()
    for v, distance in zip(voices[:shaped_from], moved[:shaped_from]):  # nothing but their reading moves on
        v.pos += distance
    for v, distance in zip(voices[shaped_from:], moved[shaped_from:]):
        v.pos += distance
        v.env.advance(n, release_len)


def read_bank(voices: list[Voice], phases: np.ndarray, which: np.ndarray, release_len: int,
              shaped_from: int) -> np.ndarray:
    """The voices' samples over the block [voices, n], voice r reading at phases[which[r]] (each a
    channel's reading advance at each sample of the block and one past it, see Voice.render_block),
    with their envelopes; advances each voice as render_block does.

    The voices from row `shaped_from` on are the shaped() ones, and only they."""
    n = phases.shape[1] - 1
    count = len(voices)
    window, base, begin = _windows(voices, phases, which)
    width = window.shape[1]
    p = base[:, None] + phases[which, :n]
    if begin.any():
        np.maximum(p, 0.0, out=p)  # before a voice starts: silenced by its envelope
    i = p.astype(np.int64)
    frac = np.subtract(p, i, out=p).astype(np.float32)
    i += (np.arange(count) * width)[:, None]  # into the flattened window
    flat = window.ravel()
    seg = flat[i]
    i += 1
    rise = flat[i]
    rise -= seg
    rise *= frac
    seg += rise
    if shaped_from < count:
        seg[shaped_from:] *= bank_gains([v.env for v in voices[shaped_from:]], n, release_len)
    _advance(voices, phases, which, begin, release_len, shaped_from)
    return seg


def sum_bank(voices: list[Voice], phases: np.ndarray, which: np.ndarray, rows: np.ndarray, channels: int,
             release_len: int, shaped_from: int) -> np.ndarray:
    """The bank voices summed by channel [channels, n]: voice r reads at phases[which[r]] (as read_bank) into row
    rows[r]; within the plain rows (before shaped_from) and within the shaped ones, a channel's are consecutive.
    Compiled once load_kernel() has run, else numpy: the same figures either way."""
    n = phases.shape[1] - 1
    sums = np.zeros((channels, n), dtype=np.float32)
    if not voices:
        return sums
    if _kernel is None:
        if AUTOLOAD and len(voices) >= KERNEL_FROM:
            load_kernel_in_background()
        seg = read_bank(voices, phases, which, release_len, shaped_from)
        for part in (slice(0, shaped_from), slice(shaped_from, len(rows))):
            part_rows = rows[part]
            if len(part_rows):  # a channel's rows are consecutive within each part
                starts = np.flatnonzero(np.r_[True, part_rows[1:] != part_rows[:-1]])
                sums[part_rows[starts]] += np.add.reduceat(seg[part], starts, axis=0)
        return sums
    window, base, begin = _windows(voices, phases, which)
    envelopes = [v.env for v in voices[shaped_from:]]
    released = np.zeros(len(voices), dtype=np.bool_)
    since = np.zeros(len(voices), dtype=np.int64)
    fading = np.zeros(len(voices), dtype=np.bool_)
    fade_len = np.ones(len(voices))
    fade_start = np.zeros(len(voices))
    for r, e in enumerate(envelopes, start=shaped_from):
        if e.released:
            released[r] = True
            since[r] = e.release_at if e.release_at >= 0 else -e.release_from
        if e.kill_left is not None:
            fading[r] = True
            fade_len[r] = e.kill_len
            fade_start[r] = e.kill_from if e.kill_from is not None else e.kill_left - e.kill_len
    _kernel(window, phases, which, begin, base, bool(begin.any()), rows, shaped_from, released, since, fading,
            fade_len, fade_start, begin, release_curve(release_len), sums)
    _advance(voices, phases, which, begin, release_len, shaped_from)
    return sums
