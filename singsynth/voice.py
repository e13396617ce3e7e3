"""One sounding note: reading a Note at a rate, its sustain loop, release envelope and quick fade.

A melodic voice loops while it sounds: reading past 2.9 s (72.5 % of the note) jumps back to 1.5 s
(37.5 %); the 50 ms (1.25 %) before the loop end are an equal-power crossfade (cos/sin) from the note
into the 50 ms before the loop start (crossfade(), stored with the note), so the jump is seamless.
The release is an exponential fade reaching -60 dB after `release_len` samples, ending exactly at 0.
Reading at a rate other than 1 (pitch bend, tuning) interpolates linearly between samples; at rate 1
the samples are read exactly. One-shot voices (drums) ignore note-off and play the note to its end.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .cache import Note

LOOP_START, LOOP_END, LOOP_XFADE = 0.375, 0.725, 0.0125  # fractions of the note: 1.5 s, 2.9 s, 50 ms
RELEASE_FLOOR = 1e-3  # -60 dB at the end of the release

Loop = tuple[int, int, int]  # (loop start, loop end, crossfade length) in samples


def loop_points(note_len: int) -> Loop:
    """The loop of a note of note_len samples."""
    return int(note_len * LOOP_START), int(note_len * LOOP_END), max(int(note_len * LOOP_XFADE), 1)


def crossfade(data: np.ndarray, loop: Loop) -> np.ndarray:
    """The samples that replace the `x` before the loop end: the note fading into what precedes the loop start."""
    l0, l1, x = loop
    fade = (np.arange(x, dtype=np.float64) + 0.5) / x * (math.pi / 2)
    return (data[l1 - x:l1] * np.cos(fade) + data[l0 - x:l0] * np.sin(fade)).astype(np.float32)


def read_looped(data: np.ndarray, xfade: np.ndarray, start: int, n: int, loop: Loop) -> tuple[np.ndarray, int]:
    """n samples of a looping note read from `start` at rate 1, and where reading stops: the note up
    to the crossfade, then the crossfade, then back to the loop start."""
    l0, l1, x = loop
    edge = l1 - x
    seg = np.empty(n, dtype=np.float32)
    filled, pos = 0, start
    while filled < n:
        if pos < edge:
            take = min(n - filled, edge - pos)
            seg[filled:filled + take] = data[pos:pos + take]
        else:
            take = min(n - filled, l1 - pos)
            seg[filled:filled + take] = xfade[pos - edge:pos - edge + take]
        filled += take
        pos += take
        if pos >= l1:
            pos = l0
    return seg, pos


@functools.lru_cache(maxsize=64)
def _decay(count: int, release_len: int) -> tuple[np.ndarray, float]:
    """exp(-k / tau) for k < count (float32), and tau: the release reaches RELEASE_FLOOR at release_len."""
    tau = release_len / math.log(1 / RELEASE_FLOOR)
    table = np.exp(-np.arange(count) / tau).astype(np.float32)
    table.flags.writeable = False
    return table, tau


@functools.lru_cache(maxsize=64)
def _ramp(count: int) -> np.ndarray:
    """1, 2, ..., count as float32."""
    table = np.arange(1, count + 1, dtype=np.float32)
    table.flags.writeable = False
    return table


class Voice:
    """One sounding note: reads its Note at a rate, loops it, and fades out on release or theft."""

    __slots__ = ("note", "channel", "key", "one_shot", "serial", "held", "sustained", "pos", "release_at",
                 "kill_left", "kill_len", "finished")

    def __init__(self, note: Note, channel: int, key: int, one_shot: bool, serial: int):
        self.note, self.channel, self.key, self.one_shot, self.serial = note, channel, key, one_shot, serial
        self.held = not one_shot
        self.sustained = False
        self.pos = 0.0
        self.release_at = -1  # samples since the release started; -1 while held
        self.kill_left: int | None = None
        self.kill_len = 1
        self.finished = False

    @property
    def releasing(self) -> bool:
        return self.one_shot or self.release_at >= 0

    @property
    def killed(self) -> bool:
        """Fading out quickly (stolen or silenced)."""
        return self.kill_left is not None

    def release(self, one_shot_too: bool = False) -> None:
        """Note-off: start the release. One-shot (drum) voices ignore it unless `one_shot_too` (all notes off)."""
        if (one_shot_too or not self.one_shot) and self.release_at < 0:
            self.release_at = 0
        self.held = self.sustained = False

    def kill(self, samples: int) -> None:
        if self.kill_left is None:
            self.kill_left = self.kill_len = max(samples, 1)

    def _wait(self, samples: int, release_len: int) -> None:
        """Samples not readable yet (the note is still streaming in): a release runs on regardless, so a
        key let go before its note arrived is not heard long after."""
        if self.release_at >= 0 and not self.finished:
            self.release_at += samples
            if self.release_at >= release_len:
                self.finished = True

    def render(self, out: np.ndarray, rate: float, loop: Loop, release_len: int) -> None:
        """Add this voice's next len(out) samples into out (mono)."""
        n = len(out)
        note, data = self.note, self.note.data
        length = len(data)
        l0, l1, x = loop
        looping = not self.one_shot and note.xfade is not None
        if self.one_shot:
            limit = length if note.done else note.ready
        else:
            limit = l1 if looping else min(note.ready, l1 - x)
        start = int(self.pos)
        if rate == 1.0 and start == self.pos and start + n < min(limit, length if self.one_shot else l1 - x):
            seg = data[start:start + n]
            count = n
            self.pos += n
        elif rate == 1.0 and start == self.pos and looping:  # the same samples as below, by slices
            seg, end = read_looped(data, note.xfade, start, n, loop)
            count = n
            self.pos = float(end)
        else:
            p = self.pos + rate * np.arange(n)
            if looping:
                p = np.where(p >= l1, l0 + np.mod(p - l0, l1 - l0), p)
            i = p.astype(np.int64)
            j = i + 1
            if looping:
                j[j == l1] = l0
                count = n
            else:
                count = int(np.searchsorted(j, limit))
            i, j = i[:count], j[:count]
            a, b = data[i], data[j]
            if looping:
                xf, edge = note.xfade, l1 - x
                m = i >= edge
                a[m] = xf[i[m] - edge]
                m = j >= edge
                b[m] = xf[j[m] - edge]
            seg = a + (b - a) * (p[:count] - i).astype(np.float32)
            self.pos += rate * count
            if looping and self.pos >= l1:
                self.pos = l0 + (self.pos - l0) % (l1 - l0)
        if count < n and self.one_shot and note.done:
            self.finished = True  # played to its end
        if self.kill_left is not None and count == 0:
            self.finished = True
        if count == 0:
            self._wait(n, release_len)
            return
        env = None
        if self.release_at >= 0:
            # exp(-(t0 + k) / tau) = exp(-t0 / tau) * decay[k]: one table per block length, not an exp per sample
            decay, tau = _decay(count, release_len)
            scale = math.exp(-self.release_at / tau) / (1 - RELEASE_FLOOR)
            env = np.maximum(decay * np.float32(scale) - np.float32(RELEASE_FLOOR / (1 - RELEASE_FLOOR)), 0.0)
            self.release_at += count
            if self.release_at >= release_len:
                self.finished = True
        if self.kill_left is not None:
            k = np.maximum((self.kill_left - _ramp(count)) * np.float32(1 / self.kill_len), 0.0)
            env = k if env is None else env * k
            self.kill_left -= count
            if self.kill_left <= 0:
                self.finished = True
        if count < n:
            self._wait(n - count, release_len)
        if env is None:
            out[:count] += seg
        else:
            out[:count] += seg * env
