"""A voice's own pitch movement on top of its channel's rate: an offset, a portamento glide, the vibrato LFO.

- The offset: a key played from the nearest note the model learnt reads that note faster or slower, as a
  sampler does; a legato key change moves it.
- The glide (portamento) falls linearly in cents to 0, as FluidSynth's does; its length is rounded to
  FluidSynth's 64-sample blocks.
- The vibrato LFO is SoundFont 2.01's: a triangle starting at 0 and rising, after a delay from the note-on,
  at a depth (its peak in cents) set per channel (controllers.py), so a change of depth moves sounding
  notes as well. Like FluidSynth's, it moves once every 64 samples (of the output, counted from frame 0): a
  chord's vibrato then costs a few small array operations a block.
Everything is a function of the absolute frame, so the result does not depend on how blocks split it.
"""
from __future__ import annotations

import numpy as np

LFO_HZ = 8.176  # SoundFont 2.01 default freqVibLFO (0 absolute cents), as FluidSynth plays it
LFO_DELAY = 2.0 ** (-12000 / 1200)  # seconds: default delayVibLFO, -12000 timecents
FLUID_BLOCK = 64  # FluidSynth counts a glide's length, and steps its LFOs, in blocks of this many samples


def lfo(born: np.ndarray, hz: np.ndarray, delay: np.ndarray, steps: np.ndarray, sample_rate: int) -> np.ndarray:
    """The vibrato LFO [voices, steps] at the start of each of these 64-sample steps (absolute step numbers) for
    voices that started at frames `born` [voices, 1], at `hz` after `delay` seconds (each [voices, 1])."""
    x = 4.0 * hz * ((steps * FLUID_BLOCK - born) / sample_rate - delay)
    return np.where(x > 0, 1.0 - np.abs(np.mod(x + 1.0, 4.0) - 2.0), 0.0)  # 0, up to 1, down to -1, ...


def lfo_steps(frame: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The 64-sample steps frames [frame, frame + n) fall in, and each frame's index among them."""
    first, last = frame // FLUID_BLOCK, (frame + n - 1) // FLUID_BLOCK
    return np.arange(first, last + 1), (frame + np.arange(n)) // FLUID_BLOCK - first


def glide_samples(ms: int, sample_rate: int) -> int:
    """A glide's length: FluidSynth's count of 64-sample blocks for `ms` milliseconds, in samples."""
    return int(sample_rate * 0.001 * ms / FLUID_BLOCK + 0.5) * FLUID_BLOCK


class Stepped:
    """A channel value that changes at offsets within the block being made (the vibrato depth)."""
    __slots__ = ("value", "block_value", "events")

    def __init__(self, value: float = 0.0):
        self.value = self.block_value = value
        self.events: list[tuple[int, float]] = []

    def set(self, at: int, value: float) -> None:
        if value == self.value and not self.events:
            return
        if not self.events:
            self.block_value = self.value
        self.value = value
        self.events.append((at, value))

    def curve(self, n: int) -> float | np.ndarray:
        """The value over the next n samples: a number when steady, else [n]; the block's changes are used up."""
        if not self.events:
            return self.value
        out = np.empty(n, dtype=np.float64)
        at, value = 0, self.block_value
        for offset, new in self.events:
            out[at:offset] = value
            at, value = offset, new
        out[at:] = value
        self.events.clear()
        return out


class Pitch:
    """One voice's pitch movement: segments (from frame, offset cents, glide cents, glide samples), each in
    force from its frame on; the LFO counts from the voice's first frame."""
    __slots__ = ("born", "segments", "lfo_hz", "lfo_delay")

    def __init__(self, born: int, cents: float = 0.0, glide: float = 0.0, glide_len: int = 0,
                 lfo_hz: float = LFO_HZ, lfo_delay: float = LFO_DELAY):
        self.born = born  # absolute frame of the voice's first sample
        self.segments = [(born, cents, glide if glide_len else 0.0, glide_len)]
        self.lfo_hz, self.lfo_delay = lfo_hz, lfo_delay

    def _glide_at(self, frame: int) -> tuple[float, float, int]:
        """The segment in force at `frame`: its offset, the glide still to go, and the samples it has left."""
        start, cents, glide, length = next((s for s in reversed(self.segments) if s[0] <= frame), self.segments[0])
        left = length - max(frame - start, 0)  # before the voice starts: all of its first glide
        return cents, (glide * left / length if left > 0 else 0.0), max(left, 0)

    def offset(self, frame: int) -> float:
        """The offset in cents at `frame`, the glide aside."""
        return self._glide_at(frame)[0]

    def move(self, frame: int, cents: float, glide: float = 0.0, glide_len: int = 0) -> None:
        """From `frame` on, the offset is `cents`; with glide_len, `glide` cents more (on top of a glide
        under way) fall to 0 over glide_len samples, as FluidSynth adds a new portamento to one under way;
        without, a glide under way goes on."""
        _, now, left = self._glide_at(frame)
        if glide_len:
            now, left = now + glide, glide_len
        self.segments = [s for s in self.segments if s[0] < frame] + [(frame, cents, now, left)]

    def steady(self, frame: int, n: int) -> bool:
        """Whether the offset is 0 with no glide over frames [frame, frame + n)."""
        return all(c == 0 and (g == 0 or s + k <= frame) for s, c, g, k in self.segments if s < frame + n) \
            and self._glide_at(frame)[1] == 0

    def cents(self, frame: int, n: int, depth: float | np.ndarray, sample_rate: int) -> np.ndarray | None:
        """The offset, glide and vibrato in cents over frames [frame, frame + n) [n]; None: 0 all along.
        Segments before the block that no longer count are dropped."""
        if self.plain(frame) and not isinstance(depth, np.ndarray) and depth == 0 and self.segments[0][1] == 0:
            return None  # most voices: quick
        self._trim(frame)
        vibrato = np.any(depth) if isinstance(depth, np.ndarray) else depth != 0
        if not vibrato and self.steady(frame, n):
            return None
        t = frame + np.arange(n, dtype=np.int64)
        out = np.zeros(n, dtype=np.float64)
        for i, (start, cents, glide, length) in enumerate(self.segments):
            end = self.segments[i + 1][0] if i + 1 < len(self.segments) else frame + n
            m = (t >= start) & (t < end)
            out[m] = cents
            if glide and length:
                out[m] += glide * np.maximum(1.0 - (t[m] - start) / length, 0.0)
        if vibrato:
            steps, at = lfo_steps(frame, n)
            wave = lfo(np.array([[self.born]]), np.array([[self.lfo_hz]]), np.array([[self.lfo_delay]]), steps,
                       sample_rate)
            out += depth * wave[0, at]
        return out

    def _trim(self, frame: int) -> None:
        """Drop the segments superseded before `frame`."""
        while len(self.segments) > 1 and self.segments[1][0] <= frame:
            self.segments.pop(0)

    def plain(self, frame: int) -> bool:
        """One offset from `frame` on, no glide: the offset and the LFO say all (moving_phases reads such voices
        together)."""
        self._trim(frame)
        start, _, glide, length = self.segments[0]
        return len(self.segments) == 1 and (glide == 0 or start + length <= frame)


def moving_phases(pitches: list[Pitch], frame: int, n: int, depth: float | np.ndarray, sample_rate: int,
                  channel_phase: np.ndarray | None) -> dict[int, np.ndarray]:
    """The reading advance [n + 1] of each of one channel's voices that moves on its own over frames
    [frame, frame + n), by its index in `pitches`: the same figures as voice_phase(Pitch.cents())."""
    return channels_moving_phases([(pitches, depth, channel_phase)], frame, n, sample_rate)[0]


def channels_moving_phases(channels: list[tuple[list[Pitch], float | np.ndarray, np.ndarray | None]], frame: int,
                           n: int, sample_rate: int) -> list[dict[int, np.ndarray]]:
    """moving_phases() for many channels at once, each given as (its voices' pitches, its vibrato depth, its
    reading advance): every plain voice of every channel with a steady depth in one array, so a block costs a few
    array operations however many channels move (each figure made by the same operations as one channel alone)."""
    plain, others, rows = [], [], []  # plain: (channel, voice); others: (channel, voice) and its row of cents
    swept = []  # (channel, voice) of plain voices on channels whose depth changes within the block
    for c, (pitches, depth, _) in enumerate(channels):
        sweeping = isinstance(depth, np.ndarray)
        vibrato = bool(np.any(depth)) if sweeping else depth != 0
        for k, p in enumerate(pitches):
            if p.plain(frame):
                if vibrato or p.segments[0][1] != 0:
                    (swept if sweeping else plain).append((c, k))
            else:
                row = p.cents(frame, n, depth, sample_rate)
                if row is not None:
                    others.append((c, k))
                    rows.append(row)
    order = plain + swept + others
    found: list[dict[int, np.ndarray]] = [{} for _ in channels]
    if not order:
        return found
    rates = np.empty((len(order), n + 1), dtype=np.float64)  # then summed into the advances
    rates[:, 0] = 0.0
    if plain or swept:
        steps, at = lfo_steps(frame, n)
        both = plain + swept
        voices = [channels[c][0][k] for c, k in both]
        offsets = np.array([p.segments[0][1] for p in voices], dtype=np.float64)[:, None]
        params = np.array([(p.born, p.lfo_hz, p.lfo_delay) for p in voices], dtype=np.float64)
        wave = lfo(params[:, :1], params[:, 1:2], params[:, 2:], steps, sample_rate)  # [voices, steps]
        if plain:  # the few steps' rates, then spread over the samples; 0 x the wave where a channel has no vibrato
            depths = np.array([channels[c][1] for c, _ in plain], dtype=np.float64)[:, None]
            rates[:len(plain), 1:] = np.exp2((offsets[:len(plain)] + depths * wave[:len(plain)]) / 1200.0)[:, at]
        for r, (c, _) in enumerate(swept, start=len(plain)):
            rates[r, 1:] = np.exp2((offsets[r] + channels[c][1] * wave[r, at]) / 1200.0)
    if rows:
        rates[len(plain) + len(swept):, 1:] = np.exp2(np.stack(rows) / 1200.0)
    moved = [r for r, (c, _) in enumerate(order) if channels[c][2] is not None]
    if moved:
        bends = {c: np.diff(channels[c][2]) for c in {order[r][0] for r in moved}}
        if len(moved) == len(order):
            rates[:, 1:] *= np.stack([bends[order[r][0]] for r in moved])
        else:
            rates[moved, 1:] *= np.stack([bends[order[r][0]] for r in moved])
    phases = np.cumsum(rates, axis=1, out=rates)
    for r, (c, k) in enumerate(order):
        found[c][k] = phases[r]
    return found


def voice_phase(cents: np.ndarray, channel_phase: np.ndarray | None) -> np.ndarray:
    """A voice's reading advance at each sample of the block and one past it, from its channel's (None:
    rate 1) and its own movement in cents [n]."""
    n = len(cents)
    rates = np.empty(n + 1, dtype=np.float64)
    rates[0] = 0.0
    rates[1:] = np.exp2(cents / 1200.0)
    if channel_phase is not None:
        rates[1:] *= np.diff(channel_phase)
    return np.cumsum(rates, out=rates)
