"""The send buses: every channel's post-fader, panned signal, times its reverb and chorus sends, into one stereo
reverb and one stereo chorus, whose outputs return into the mix before the limiter (General MIDI level 2,
GS and XG devices, FluidSynth)."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ...gm import CC
from .chorus import Chorus
from .reverb import Reverb
from .settings import EffectsConfig

if TYPE_CHECKING:
    import mido

# FluidSynth's default modulators (SoundFont 2.01, 8.4.8 and 8.4.9): CC91 and CC93 at 127 add 20 % to the reverb
# and chorus sends (generators 16 and 15, in 0.1 %), on top of the instrument's own; the sum is capped at 100 %
CC_SEND_SCALE = 0.2
REVERB, CHORUS = 0, 1
SILENCE_DB = -80.0  # the reverb's tail is rendered down to this level below full scale, then cut to zeros


class Effects:
    """One block at a time: set_cc / reset / set_instrument at frame offsets (sample-accurate, as gains are),
    send / send_steady while the channels are mixed, then process(out) adds the reverb and the chorus to out.

    instrument_sends: [instruments, 2] each instrument's own (reverb, chorus) send, 0..1 (the SoundFont's
    generators 16 and 15 over 1000); a timbre (weights over instruments) sends their weighted sum.
    With every send 0 nothing is added and out stays bit for bit the dry mix."""

    def __init__(self, config: EffectsConfig, sample_rate: int, instrument_sends: np.ndarray | None = None,
                 master_gain: float = 1.0, channels: int = 16):
        self.config = config
        self.sample_rate = sample_rate
        self._inst_table = (np.asarray(instrument_sends, dtype=np.float64) if instrument_sends is not None
                            else None)
        self._start = np.array([config.reverb_send, config.chorus_send], dtype=np.float64)
        self._cc = np.tile(self._start, (channels, 1))  # each channel's CC91, CC93
        self._inst = np.zeros((channels, 2))  # each channel's instrument's sends
        self._timbres: dict[tuple, np.ndarray] = {}
        self._timbre: list[tuple | None] = [None] * channels  # the timbre each channel's sends were last set for
        # an effect that is off sends nothing: its column of the levels stays 0
        self._on = np.array([config.reverb is not None, config.chorus is not None], dtype=np.float64)
        self._level = [self._levels(c) for c in range(channels)]  # current (reverb, chorus) send fractions
        self._levels_now = np.array(self._level)  # the same, [channels, 2], and whether each sends at all
        self._sending = self._levels_now.any(axis=1).tolist()
        self._events: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(channels)]
        self._block_level: list[np.ndarray | None] = [None] * channels
        self._bus: np.ndarray | None = None  # [n, 4] this block's sends: reverb L, R, chorus L, R
        # the tail's threshold before the master gain, which the limiter applies after the effects
        threshold = 10 ** (SILENCE_DB / 20) / max(master_gain, 1e-9)
        self._fade_left = self._fade_len = 0  # silence(): frames of the fade still to play, and its length
        self.reverb = Reverb(config.reverb, sample_rate, threshold) if config.reverb is not None else None
        self.chorus = Chorus(config.chorus, sample_rate) if config.chorus is not None else None

    # -- channel state, at the engine's current offset --

    def set_cc(self, channel: int, which: int, value: int, at: int) -> None:
        """CC91 (which=REVERB) or CC93 (which=CHORUS) = value at frame offset `at`."""
        self._cc[channel, which] = value
        self._changed(channel, at)

    def reset(self, channel: int, at: int) -> None:
        """Reset all controllers: the sends go back to where every channel starts."""
        self._cc[channel] = self._start
        self._changed(channel, at)

    def set_instrument(self, channel: int, timbre: Sequence[float], at: int) -> None:
        """The channel plays this timbre from `at`: its instrument's own sends apply (a no-op without any)."""
        if self._inst_table is None:
            return
        timbre = timbre if isinstance(timbre, tuple) else tuple(timbre)
        if timbre == self._timbre[channel]:  # a channel's note-ons mostly play the timbre of the one before
            return
        self._timbre[channel] = timbre
        sends = self._timbres.get(timbre)
        if sends is None:
            sends = self._timbres[timbre] = np.asarray(timbre, dtype=np.float64) @ self._inst_table
        if not np.array_equal(sends, self._inst[channel]):
            self._inst[channel] = sends
            self._changed(channel, at)

    def silence(self, frames: int) -> None:
        """All sound off: fade the effects' output out over the next `frames` frames, then clear them."""
        if not self.idle:
            self._fade_left = self._fade_len = max(int(frames), 1)

    def needed(self, messages: Iterable[mido.Message]) -> bool:
        """Whether playing these messages can send anything to an effect that is on."""
        if not self.config.on:
            return False
        if (self._start * self._on).any() or self._inst_table is not None:
            return True
        controls = {c for c, on in zip((CC.REVERB, CC.CHORUS), self._on) if on}
        return any(m.type == "control_change" and m.control in controls and m.value for m in messages)

    def prepare_in_background(self) -> threading.Thread:
        """prepare() in a thread of its own: numba's import and the kernels' loading (about 0.5 s) overlap the
        notes' generation or reading; the first block that needs a kernel waits for it."""
        thread = threading.Thread(target=self.prepare, name="effects-compile", daemon=True)
        thread.start()
        return thread

    def prepare(self) -> None:
        """Compile (or load the compiled) kernels now, not at the first send: live, before the audio starts."""
        out = np.zeros((1, 2), dtype=np.float32)
        for fx in (Reverb(self.config.reverb, self.sample_rate) if self.config.reverb else None,
                   Chorus(self.config.chorus, self.sample_rate) if self.config.chorus else None):
            if fx is not None:
                fx.process(np.ones(1, np.float32) if isinstance(fx, Reverb) else np.ones((1, 2), np.float32), out)

    def _levels(self, channel: int) -> np.ndarray:
        return np.minimum(self._cc[channel] / 127 * CC_SEND_SCALE + self._inst[channel], 1.0) * self._on

    def _changed(self, channel: int, at: int) -> None:
        level = self._levels(channel)
        if np.array_equal(level, self._level[channel]):  # a send set to what it was (a reset, a repeated CC)
            return
        if not self._events[channel]:
            self._block_level[channel] = self._level[channel]
        self._level[channel] = self._levels_now[channel] = level
        self._sending[channel] = bool(level.any())
        self._events[channel].append((at, level))

    def _curve(self, channel: int, n: int) -> np.ndarray:
        """The channel's (reverb, chorus) sends over the block: [2] when steady, else [n, 2] stepping at each
        change's offset."""
        events = self._events[channel]
        if not events:
            return self._level[channel]
        curve = np.empty((n, 2))
        at, level = 0, self._block_level[channel]
        for offset, new in events:
            curve[at:offset] = level
            at, level = max(at, min(offset, n)), new
        curve[at:] = level
        return curve

    # -- the mix --

    def _buses(self, n: int) -> np.ndarray:
        if self._bus is None:
            self._bus = np.zeros((n, 4), dtype=np.float32)
        return self._bus

    def send(self, channel: int, signal: np.ndarray, gains: np.ndarray) -> None:
        """A channel's voices summed over the block, float32 [n], and its [left, right] gains, [2] or [n, 2]:
        the panned signal times each send, every coefficient (gain times send) rounded once, as send_steady's."""
        curve = self._curve(channel, len(signal))
        if not curve.any():
            return
        coef = curve[..., :, None] * gains.astype(np.float64)[..., None, :]  # [(n,) send, side]
        self._buses(len(signal))[:] += signal[:, None] * coef.reshape(-1, 4).astype(np.float32)

    def send_steady(self, channels: Sequence[int], sums: np.ndarray, gains: np.ndarray) -> None:
        """Channels mixed with steady gains: their voices' sums [rows, n] and [left, right] gains [rows, 2]; those
        whose sends hold still too go through one product."""
        n = sums.shape[1]
        changing = [row for row, channel in enumerate(channels) if self._events[channel]]
        for row in changing:
            self.send(channels[row], sums[row], gains[row])
        rows = [row for row, channel in enumerate(channels) if self._sending[channel] and not self._events[channel]]
        if not rows:
            return
        every = len(rows) == len(channels)
        levels = self._levels_now[list(channels) if every else [channels[row] for row in rows]]
        g = (gains if every else gains[rows]).astype(np.float64)
        coef = (levels[:, :, None] * g[:, None, :]).reshape(len(levels), 4).astype(np.float32)  # [rows, 4]
        self._buses(n)[:] += np.dot((sums if every else sums[rows]).T, coef)

    def process(self, out: np.ndarray) -> None:
        """End of the block: add the reverb and the chorus of what was sent (and of their tails) to out [n, 2]."""
        for events in self._events:
            events.clear()
        bus, self._bus = self._bus, None
        n = len(out)
        if bus is None:
            if self.idle:  # nothing sent, nothing sounding: only the effects' clocks move on
                for fx in (self.reverb, self.chorus):
                    if fx is not None:
                        fx.skip(n)
                return
            bus = np.zeros((n, 4), dtype=np.float32)
        wet = out if not self._fade_left else np.zeros_like(out)
        if self.reverb is not None:
            self.reverb.process(bus[:, 0] + bus[:, 1], wet)
        if self.chorus is not None:
            self.chorus.process(np.ascontiguousarray(bus[:, 2:4]), wet)
        if self._fade_left:
            k = min(n, self._fade_left)
            wet[:k] *= ((self._fade_left - np.arange(k)) / self._fade_len).astype(np.float32)[:, None]
            wet[k:] = 0
            out += wet
            self._fade_left -= k
            if not self._fade_left:
                for fx in (self.reverb, self.chorus):
                    if fx is not None:
                        fx.clear()

    @property
    def idle(self) -> bool:
        """Nothing sounding in either effect: with no input, they add exact zeros."""
        return ((self.reverb is None or self.reverb.silent) and (self.chorus is None or self.chorus.silent)
                and self._bus is None)
