"""A voice's envelope: silent before its start, its release after note-off, its quick fade when stolen, its cut.

Events land at offsets within the block being made (`start_at`, `release_from`, `kill_from`, `cut_at`);
the state they leave spans blocks (`release_at`, `kill_left`). One voice applies its envelope through
gains() and passed(); a bank of voices through bank_gains() and advance(), to the same figures.
"""
from __future__ import annotations

import functools
import math

import numpy as np

RELEASE_FLOOR = 1e-3  # -60 dB at the end of the release


def release_tau(release_len: int) -> float:
    """The release's time constant in samples: exp(-release_len / tau) is RELEASE_FLOOR."""
    return release_len / math.log(1 / RELEASE_FLOOR)


# Instruments release at their own source's rate, per key and velocity range: a flood or a full GM song
# meets dozens of release lengths at once, and a table missed costs a few ms to make (a whole block's time
# live). 128 tables of a 1 s release at 48 kHz hold 25 MB.
@functools.lru_cache(maxsize=128)
def release_curve(release_len: int) -> np.ndarray:
    """The release's gain at each sample since note-off, 0 .. release_len (float32): an exponential fall to
    RELEASE_FLOOR at release_len, less the floor and rescaled, so it starts at 1 and ends at exactly 0.
    Every voice reads its release from this one table, whatever the block length."""
    tau = release_tau(release_len)
    fall = np.exp(-np.arange(release_len + 1) / tau) / (1 - RELEASE_FLOOR) - RELEASE_FLOOR / (1 - RELEASE_FLOOR)
    curve = np.maximum(fall, 0.0).astype(np.float32)
    curve[-1] = 0.0  # exp(-ln 1000) is the floor only to within rounding
    curve.flags.writeable = False
    return curve


def release_gains(since: int, count: int, release_len: int) -> np.ndarray:
    """The release's gains for `count` samples from `since` samples after note-off (0 past its end)."""
    part = release_curve(release_len)[since:since + count]
    if len(part) < count:
        part = np.concatenate([part, np.zeros(count - len(part), dtype=np.float32)])
    return part


@functools.lru_cache(maxsize=64)
def ramp_table(count: int) -> np.ndarray:
    """1, 2, ..., count as float32."""
    table = np.arange(1, count + 1, dtype=np.float32)
    table.flags.writeable = False
    return table


class Envelope:
    __slots__ = ("start_at", "release_at", "release_from", "kill_left", "kill_len", "kill_from", "cut_at", "finished")

    def __init__(self, start_at: int = 0):
        self.start_at = start_at  # offset in the block being made where the voice starts
        self.release_at = -1  # samples since the release started; -1 while held
        self.release_from: int | None = None  # offset in the block being made where the release starts
        self.kill_left: int | None = None  # samples of the quick fade still to go; None: not fading
        self.kill_len = 1
        self.kill_from: int | None = None  # offset in the block being made where the quick fade starts
        self.cut_at: int | None = None  # offset in the block being made where the voice stops dead
        self.finished = False

    @property
    def released(self) -> bool:
        return self.release_at >= 0 or self.release_from is not None

    @property
    def killed(self) -> bool:
        return self.kill_left is not None

    @property
    def fading(self) -> bool:
        """Fading out from an earlier block (or from the start of this part of the block)."""
        return self.kill_left is not None and self.kill_from is None

    def shaped(self) -> bool:
        """Whether the envelope changes the voice this block: it starts, is released or fades."""
        return bool(self.start_at) or self.release_at >= 0 or self.release_from is not None or self.kill_left is not None

    def has_marks(self) -> bool:
        """Whether an event lands within the block being made."""
        return bool(self.start_at) or self.release_from is not None or self.kill_from is not None \
            or self.cut_at is not None

    def release(self, at: int) -> None:
        if self.release_at < 0 and self.release_from is None:
            self.release_from = at

    def kill(self, samples: int, at: int) -> bool:
        """Fade out over `samples` from offset `at`; False if already fading."""
        if self.kill_left is not None:
            return False
        self.kill_left = self.kill_len = max(samples, 1)
        self.kill_from = at
        return True

    def cut(self, at: int) -> None:
        self.cut_at = at if self.cut_at is None else min(self.cut_at, at)

    def marks(self) -> list[int]:
        """The offsets in this block where the envelope changes, in order."""
        return sorted(m for m in (self.release_from, self.kill_from, self.cut_at) if m is not None)

    def passed(self, end: int) -> None:
        """The block has been made up to offset `end`: the events before it take effect."""
        if self.release_from is not None and self.release_from <= end:
            self.release_from = None
            if self.release_at < 0:
                self.release_at = 0
        if self.kill_from is not None and self.kill_from <= end:
            self.kill_from = None
        if self.cut_at is not None and self.cut_at <= end:
            self.cut_at = None
            self.finished = True

    def wait(self, samples: int, release_len: int) -> None:
        """Samples the voice could not read (its note is still streaming in): a release runs on regardless,
        so a key let go before its note arrived is not heard long after."""
        if self.release_at >= 0 and not self.finished:
            self.release_at += samples
            if self.release_at >= release_len:
                self.finished = True

    def gains(self, count: int, release_len: int) -> np.ndarray | None:
        """The gains of one voice's next `count` samples (its release and quick fade, both under way), and
        both moved on by `count`; None: 1 all along."""
        env = None
        fading = self.fading
        if self.release_at >= 0:
            env = release_gains(self.release_at, count, release_len)
            self.release_at += count
            if self.release_at >= release_len:
                self.finished = True
        if fading:
            k = np.maximum((self.kill_left - ramp_table(count)) * np.float32(1 / self.kill_len), 0.0)
            env = k if env is None else env * k
            self.kill_left -= count
            if self.kill_left <= 0:
                self.finished = True
        return env

    def advance(self, n: int, release_len: int) -> None:
        """A bank's voice after a block of n samples: its start, release and fade moved on as gains() and
        passed() move them for a voice made alone."""
        self.start_at = 0
        if self.release_from is not None:
            self.release_at, self.release_from = max(self.release_at, 0) + n - self.release_from, None
        elif self.release_at >= 0:
            self.release_at += n
        if self.release_at >= release_len:
            self.finished = True
        if self.kill_left is not None:
            self.kill_left -= n - (self.kill_from or 0)
            self.kill_from = None
            if self.kill_left <= 0:
                self.finished = True


def bank_gains(envelopes: list[Envelope], n: int, release_len: int) -> np.ndarray:
    """The gains [voices, n] these envelopes give their voices over a block: silence before a start, the
    release and the quick fade, each from its own offset (negative: an earlier block).

    Releases are read from release_curve(), as a voice made alone reads them.
    A fade (L - 1 - k + s) / L exceeds 1 before its offset s, so clipping at 1 starts it there."""
    k = ramp_table(n) - np.float32(1)  # 0, 1, ..., n - 1
    env = np.ones((len(envelopes), n), dtype=np.float32)
    # samples since note-off at each sample of the block; negative before a release that starts within it
    since = [(r, e.release_at if e.release_at >= 0 else -e.release_from) for r, e in enumerate(envelopes)
             if e.released]
    if since:
        rows = [r for r, _ in since]
        at = np.array([t for _, t in since], dtype=np.int64)[:, None] + np.arange(n, dtype=np.int64)
        env[rows] = np.where(at >= 0, release_curve(release_len)[np.clip(at, 0, release_len)], np.float32(1.0))
    fading = [r for r, e in enumerate(envelopes) if e.kill_left is not None]
    if fading:
        length = np.array([envelopes[r].kill_len for r in fading], dtype=np.float64)
        start = np.array([envelopes[r].kill_from if envelopes[r].kill_from is not None
                          else envelopes[r].kill_left - envelopes[r].kill_len for r in fading], dtype=np.float64)
        inv = (1.0 / length).astype(np.float32)
        fade = ((length - 1 + start) * inv).astype(np.float32)[:, None] - inv[:, None] * k[None, :]
        np.maximum(fade, 0.0, out=fade)
        np.minimum(fade, 1.0, out=fade)
        env[fading] *= fade
    late = np.array([e.start_at for e in envelopes])
    if late.any():
        env *= k[None, :] >= late[:, None]
    return env
