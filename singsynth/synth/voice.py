"""One sounding note: reading a Note at a rate, its sustain loop, release envelope and quick fade.

A melodic voice loops while it sounds (model/sustain_loop.py): reading past the loop end jumps back to its start,
and the voice's loop_gain takes one pass's decay at each jump back, so a held note decays on smoothly.
The release is an exponential fade reaching -60 dB after `release_len` samples, ending exactly at 0.
Reading at a rate other than 1 (pitch bend, tuning) interpolates linearly between samples; at rate 1
the samples are read exactly. One-shot voices (drums) ignore note-off and play the note to its end.
"""
from __future__ import annotations

import functools

import numpy as np

from ..model.sustain_loop import Loop
from .cache import Note
from .envelope import Envelope

SILENT_GAIN = 1e-6  # a loop gain below this (-120 dB) is silence: 0, so that samples never turn denormal


def next_pass(gain: float, decay: float) -> float:
    """A looping voice's gain once reading has jumped back to the loop start: one more pass's decay."""
    gain *= decay
    return gain if gain >= SILENT_GAIN else 0.0


def read_looped(data: np.ndarray, xfade: np.ndarray, start: int, n: int, loop: Loop, gain: float = 1.0,
                decay: float = 1.0) -> tuple[np.ndarray, int, float]:
    """n samples of a looping note read from `start` at rate 1, where reading stops, and the loop gain
    there: the note up to the crossfade, then the crossfade, then back to the loop start, where the gain
    (starting at `gain`) takes one pass's `decay`, from that sample on."""
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
        if gain != 1.0:
            seg[filled:filled + take] *= np.float32(gain)
        filled += take
        pos += take
        if pos >= l1:
            pos = l0
            gain = next_pass(gain, decay)
    return seg, pos, gain


@functools.lru_cache(maxsize=64)
def steps(rate: float, count: int) -> np.ndarray:
    """The reading advance at each of count + 1 samples at a steady rate: rate * (0, 1, ..., count)."""
    table = rate * np.arange(count + 1, dtype=np.float64)
    table.flags.writeable = False
    return table


class Voice:
    """One sounding note: reads its Note at a rate, loops it, and fades out on release or theft.

    Events reach a voice at an offset within the block being made (start, release, kill, cut), and
    render_block() applies each at its own offset: the rest of its channel is not split there.
    """

    __slots__ = ("note", "channel", "key", "one_shot", "serial", "held", "sustained", "pos", "loop_gain", "env",
                 "pitch", "release_len", "rise_left", "rise_len")

    def __init__(self, note: Note, channel: int, key: int, one_shot: bool, serial: int, start_at: int = 0):
        self.note, self.channel, self.key, self.one_shot, self.serial = note, channel, key, one_shot, serial
        self.held = not one_shot
        self.sustained = False
        self.pos = 0.0
        self.loop_gain = 1.0  # the note's loop decay once for each jump back to the loop start so far
        self.env = Envelope(start_at)
        self.pitch = None  # its own pitch movement (modulation.Pitch), set by the engine
        self.release_len: int | None = None  # its instrument's release in samples; None: the engine's
        self.rise_left = 0  # samples of its fade-in still to go (taking over from a stand-in: stand_in.py)
        self.rise_len = 1

    def rise(self, samples: int) -> None:
        """Fade in linearly over `samples` from its first sample."""
        self.rise_left = self.rise_len = max(int(samples), 1)

    def _rising(self, count: int) -> np.ndarray:
        """The fade-in's gains over the next `count` samples (1 past its end)."""
        gains = np.ones(count, dtype=np.float32)
        k = min(count, self.rise_left)
        done = self.rise_len - self.rise_left
        gains[:k] = np.arange(done + 1, done + k + 1, dtype=np.float32) / np.float32(self.rise_len)
        self.rise_left -= k
        return gains

    @property
    def finished(self) -> bool:
        return self.env.finished

    @finished.setter
    def finished(self, value: bool) -> None:
        self.env.finished = value

    @property
    def start_at(self) -> int:
        """Offset in the block being made where the voice starts (0 once it has sounded)."""
        return self.env.start_at

    @property
    def releasing(self) -> bool:
        return self.one_shot or self.env.released

    @property
    def killed(self) -> bool:
        """Fading out quickly (stolen or silenced)."""
        return self.env.killed

    def release(self, at: int = 0, one_shot_too: bool = False) -> None:
        """Note-off at offset `at` of the block: start the release there. One-shot (drum) voices ignore it
        unless `one_shot_too` (all notes off)."""
        if one_shot_too or not self.one_shot:
            self.env.release(at)
        self.held = self.sustained = False

    def kill(self, samples: int, at: int = 0) -> bool:
        """Fade out over `samples` from offset `at` of the block; False if already fading."""
        return self.env.kill(samples, at)

    def cut(self, at: int) -> None:
        """Stop dead at offset `at` of the block (a voice already faded out by a theft)."""
        self.env.cut(at)

    def render_block(self, out: np.ndarray, phase: np.ndarray | None, loop: Loop, release_len: int) -> None:
        """Add this voice's part of the block into out (mono), its own events applied at their offsets.

        phase: the reading advance at each sample of the block and one past it (len(out) + 1), the
        channel's rate (bend, tuning) summed; None: rate 1 all along."""
        env = self.env
        if not env.has_marks():
            self.render(out, phase, loop, release_len)
            return
        begin = env.start_at
        n = len(out)
        for end in env.marks() + [n]:
            end = min(max(end, begin), n)
            if end > begin and not env.finished:
                part = None if phase is None else phase[begin:end + 1] - phase[begin]
                self.render(out[begin:end], part, loop, release_len)
            begin = end
            env.passed(end)
        env.start_at = 0

    def plain(self, advance: float, loop: Loop) -> bool:
        """Whether this block reads the note between samples up to `advance` far with nothing in the way:
        no loop crossfade or jump, no end of what has arrived, no cut (a bank's voices, bank.py)."""
        if self.finished or self.env.cut_at is not None or self.rise_left:
            return False
        limit = self._read_end(loop)
        if not self.one_shot:
            limit = min(limit, loop[1] - loop[2])  # a looping voice stops short of the crossfade
        return self.pos + advance + 2 < limit

    def _read_end(self, loop: Loop) -> int:
        """Where reading must stop: the loop end (looping), else the end of what has arrived, and for a
        melodic note without its crossfade yet, the crossfade's start."""
        note, _, l1, x = self.note, *loop
        if self.one_shot:
            return len(note.data) if note.done else note.ready
        return l1 if note.xfade is not None else min(note.ready, l1 - x)

    def render(self, out: np.ndarray, phase: np.ndarray | None, loop: Loop, release_len: int) -> None:
        """Add this voice's next len(out) samples into out (mono), reading at `phase` (see render_block)."""
        n = len(out)
        note, data = self.note, self.note.data
        l0, l1, x = loop
        start = int(self.pos)
        # at rate 1 with nothing in the way (no loop crossfade, no end of what has arrived): the samples as they are
        bound = min(note.ready, len(data) if self.one_shot else l1 - x)
        if phase is None and start == self.pos and start + n < bound:
            seg = data[start:start + n]
            if self.loop_gain != 1.0:
                seg = seg * np.float32(self.loop_gain)
            if self.rise_left:
                seg = seg * self._rising(n)
            self.pos += n
            if self.env.release_at < 0 and self.env.kill_left is None:  # held, as most voices are: no envelope
                out += seg
                return
            count = n
        else:
            looping = not self.one_shot and note.xfade is not None
            limit = self._read_end(loop)
            if phase is None and start == self.pos and looping:  # the same samples as below, by slices
                seg, end, self.loop_gain = read_looped(data, note.xfade, start, n, loop, self.loop_gain,
                                                       note.loop_decay)
                count = n
                self.pos = float(end)
            elif not looping and self.pos + 1 >= limit:  # nothing readable yet (streaming) or any more (ended)
                seg, count = data[:0], 0
            else:
                seg, count = self._interpolate(phase if phase is not None else steps(1.0, n), n, limit, looping, loop)
            if self.rise_left and count:
                seg = seg[:count] * self._rising(count)
        if count < n and self.one_shot and note.done:
            self.finished = True  # played to its end
        fading = self.env.fading
        if fading and count == 0:
            self.finished = True
        if count == 0:
            self.env.wait(n, release_len)
            return
        env = self.env.gains(count, release_len)
        if count < n:
            self.env.wait(n - count, release_len)
        if env is None:
            out[:count] += seg
        else:
            out[:count] += seg * env

    def _interpolate(self, phase: np.ndarray, n: int, limit: int, looping: bool, loop: Loop) -> tuple[np.ndarray, int]:
        """Up to n samples read between samples (linear interpolation) at positions pos + phase, and how
        many could be read (fewer when the note has not arrived that far, or has ended); at the loop gain,
        which steps at each jump back to the loop start."""
        data = self.note.data
        l0, l1, x = loop
        p = self.pos + phase[:n]
        last = p[-1]
        wrapped = looping and last >= l1
        if wrapped:
            passes = np.where(p >= l1, (p - l0) // (l1 - l0), 0).astype(np.int64)  # jumps back before each sample
            p = np.where(p >= l1, l0 + np.mod(p - l0, l1 - l0), p)
        i = p.astype(np.int64)
        j = i + 1
        jump = None  # the samples whose right neighbour is past a jump back: one more pass of the decay
        if looping:
            count = n
            if wrapped or last + 1 >= l1:
                jump = j == l1
                j[jump] = l0
        elif last + 1 < limit:  # floor(p) + 1 < limit everywhere: all readable
            count = n
        else:
            count = int(np.searchsorted(j, limit))
            i, j = i[:count], j[:count]
        a, b = data[i], data[j]
        if looping and (wrapped or last + 1 >= l1 - x):  # some positions read the crossfade
            xf, edge = self.note.xfade, l1 - x
            m = i >= edge
            a[m] = xf[i[m] - edge]
            m = j >= edge
            b[m] = xf[j[m] - edge]
        if jump is not None and self.note.loop_decay != 1.0:
            b[jump] *= np.float32(self.note.loop_decay)
        seg = a + (b - a) * (p[:count] - i).astype(np.float32)
        end = self.pos + float(phase[count])
        turns = int((end - l0) // (l1 - l0)) if looping and end >= l1 else 0
        gains = self._loop_gains(turns)
        if wrapped and gains[-1] != gains[0]:
            seg *= np.array(gains, dtype=np.float32)[passes]
        elif gains[0] != 1.0:
            seg *= np.float32(gains[0])
        self.loop_gain = gains[-1]
        self.pos = l0 + (end - l0) % (l1 - l0) if turns else end
        return seg, count

    def _loop_gains(self, passes: int) -> list[float]:
        """The loop gain now, then after each of the next `passes` jumps back to the loop start."""
        gains = [self.loop_gain]
        for _ in range(passes):
            gains.append(next_pass(gains[-1], self.note.loop_decay))
        return gains
