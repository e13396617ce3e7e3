"""Mixing a block: every channel's voices read (alone or in one bank), placed in the stereo field and sent to the
effects; then the master gain and the limiter."""
from __future__ import annotations

import math

import numpy as np

from ..model.sustain_loop import Loop
from .bank import sum_bank
from .channels import Channel, gain_curve
from .channels import phase as channel_phase
from .effects import Effects
from .modulation import channels_moving_phases, voice_phase
from .voice import Voice, steps
from .voices import VoicePool

LIMIT_THRESHOLD = 10 ** (-3 / 20)
LIMIT_CEILING = 0.999
LIMITER_RELEASE = 0.25
# The limiter's gain steps once every this many frames in blocks that are a multiple of it, however long:
# a render in long blocks is limited exactly as in 1024-frame blocks. Shorter blocks (live) step once a block.
LIMITER_CHUNK = 1024


class Mixer:
    def __init__(self, sample_rate: int, release_len: int, ramp: int, effects: Effects):
        """release_len: the release of voices without one of their own; ramp: samples a gain change ramps over."""
        self.sample_rate = sample_rate
        self.release_len = release_len
        self.ramp = ramp
        self.effects = effects
        self._frame = 0  # absolute frame at the start of the block being mixed: voices' LFOs and glides count from it
        # render: before a channel is mixed, reach(voices, own advances, channel advance, release) makes the notes
        # generated short hold what the block reads (BlockingSupply.reach); None: every note is whole
        self.reach = None

    def mix(self, out: np.ndarray, channels: list[Channel], pool: VoicePool, frame: int, loop: Loop) -> None:
        """Render every channel's voices over the block, each event at its own offset, into out.

        Voices take their own events (start, release, fades) at their offsets, and a channel's bends and
        gain changes are per-sample curves, so a block with many events costs no more than one render
        per voice. On bent channels, the voices that read plainly this block (most of them) are read
        together in one bank whatever their channel (bank.py), and so are voices with their own pitch
        movement (vibrato, glide, a key read from the nearest learnt note), each at its own reading advance;
        the others (at the loop crossfade, at the end of what has arrived, cut, released at their own
        instrument's rate) and those at rate 1 are read alone."""
        n = len(out)
        self._frame = frame
        mixed = []  # (channel, its phase, its gain curve, its voices read alone with their phases, its vibrato depth)
        phases = []
        # the bank: voices without an envelope this block, then those with one, each part by channel
        steady, steady_rows, changing, changing_rows = [], [], [], []
        playing = []  # (channel, its phase, its gain curve, its vibrato depth): the channels with voices to mix
        for channel in range(16):
            ch = channels[channel]
            phase = channel_phase(ch, n)
            gains = gain_curve(ch, n, self.ramp)
            depth = ch.vibrato.curve(n)
            if pool.voices[channel] or pool.cut[channel]:
                playing.append((channel, phase, gains, depth))
        # every channel's voices that move on their own, in one go (modulation.py)
        owns = channels_moving_phases([([v.pitch for v in pool.voices[channel]], depth, phase)
                                       for channel, phase, _, depth in playing], self._frame, n, self.sample_rate)
        for (channel, phase, gains, depth), own in zip(playing, owns):
            voices = pool.voices[channel]
            row = len(mixed)
            read = len(phases)  # the channel's reading advance; a voice with its own pitch movement has its own
            phases.append(phase if phase is not None else steps(1.0, n))
            advance = float(phases[read][n])
            if self.reach is not None:  # notes generated short reach as far as this block reads them (note_length.py)
                self.reach(voices, own, phases[read], self.release_len)
            alone = []  # (voice, its reading advance)
            for k, v in enumerate(voices):
                mine = own.get(k)
                has_envelope = v.env.shaped()
                if mine is not None and v.plain(float(mine[n]), loop) and (v.release_len is None or not has_envelope):
                    (changing if has_envelope else steady).append(v)
                    (changing_rows if has_envelope else steady_rows).append((row, len(phases)))
                    phases.append(mine)
                elif mine is not None or (v.release_len is not None and has_envelope):  # its own pitch or release
                    alone.append((v, phase if mine is None else mine))
                # at rate 1 a voice reads its samples exactly: alone, by slices, is quicker
                elif phase is None or not v.plain(advance, loop):
                    alone.append((v, phase))
                elif has_envelope:
                    changing.append(v)
                    changing_rows.append((row, read))
                else:
                    steady.append(v)
                    steady_rows.append((row, read))
            mixed.append((channel, phase, gains, alone, depth))
        if not mixed:
            return
        sums = self._bank_sums(len(mixed), n, phases, steady, steady_rows, changing, changing_rows)
        steady_gains = []  # the rows of channels whose gains hold still over the block, and those gains
        for row, ((channel, phase, gains, alone, depth), buf) in enumerate(zip(mixed, sums)):
            for v, own in alone:
                v.render_block(buf, own, loop, v.release_len or self.release_len)
            cut = pool.cut[channel]
            for v in cut:
                v.render_block(buf, self._own_phase(v, phase, depth, n), loop, v.release_len or self.release_len)
            cut.clear()
            pool.drop_finished(channel)
            if gains.ndim == 1:
                steady_gains.append((row, gains))
            else:
                out += buf[:, None] * gains
                self.effects.send(channel, buf, gains)
        if steady_gains:
            # one product places every steady channel in the stereo field; per channel, a [n] x [2] broadcast
            # runs numpy's inner loop two samples at a time, ten times slower
            rows, gains = zip(*steady_gains)
            steady = sums if len(rows) == len(sums) else sums[list(rows)]
            out += np.dot(steady.T, np.stack(gains))
            self.effects.send_steady([mixed[row][0] for row in rows], steady, np.stack(gains))

    def _own_phase(self, v: Voice, phase: np.ndarray | None, depth: float | np.ndarray, n: int) -> np.ndarray | None:
        """A voice's reading advance over the block: its channel's (`phase`), or with its own pitch movement
        (modulation.py) where it has one."""
        cents = v.pitch.cents(self._frame, n, depth, self.sample_rate) if v.pitch is not None else None
        return phase if cents is None else voice_phase(cents, phase)

    def _bank_sums(self, channels: int, n: int, phases: list[np.ndarray], steady: list[Voice], steady_rows: list,
                   changing: list[Voice], changing_rows: list) -> np.ndarray:
        """Each mixed channel's bank voices summed [channels, n]: the steady voices, then those with an
        envelope this block, each part ordered by channel; each voice's rows are (its channel's index among
        the mixed, the index in phases of the reading advance it reads at)."""
        if not steady and not changing:
            return np.zeros((channels, n), dtype=np.float32)
        both = np.array(steady_rows + changing_rows, dtype=np.int64).reshape(-1, 2)
        return sum_bank(steady + changing, np.stack(phases), both[:, 1], both[:, 0], channels, self.release_len,
                        len(steady))


class Limiter:
    """The master gain, then a peak limiter: down at once, back up over LIMITER_RELEASE, a soft clip above
    LIMIT_THRESHOLD."""

    def __init__(self, sample_rate: int, master_gain: float):
        self.sample_rate = sample_rate
        self.master_gain = master_gain
        self.gain = 1.0

    def _gains(self, peaks: list[float], size: int) -> list[float]:
        """The limiter's gain now, then at the end of each chunk of `size` frames with these peaks: down at once
        to what keeps a peak at 1, back up towards 1 over LIMITER_RELEASE."""
        recover = 1 - math.exp(-size / (LIMITER_RELEASE * self.sample_rate))
        gains = [self.gain]
        for peak in peaks:
            g0 = gains[-1]
            target = min(1.0, 1.0 / peak) if peak > 0 else 1.0
            gains.append(target if target < g0 else g0 + (target - g0) * recover)
        self.gain = gains[-1]
        return gains

    def process(self, out: np.ndarray) -> None:
        """Scale the block by the master gain and limit it in place: |x| < 1."""
        n = len(out)
        if not n:
            return
        out *= self.master_gain
        size = LIMITER_CHUNK if n % LIMITER_CHUNK == 0 else n
        chunks = out.reshape(n // size, size, 2)
        peaks = np.abs(chunks).max(axis=(1, 2))
        if self.gain != 1.0 or peaks.max() > 1.0:  # else nothing to limit, nothing to recover from
            gains = self._gains(peaks.tolist(), size)
            starts, ends = np.array(gains[:-1]), np.array(gains[1:])
            if not (np.all(starts == 1.0) and np.all(ends == 1.0)):
                ramp = np.arange(size, dtype=np.float64) / max(size - 1, 1)  # each chunk from its start to its end
                chunks *= (starts[:, None] + (ends - starts)[:, None] * ramp).astype(np.float32)[:, :, None]
        mag = np.abs(out)
        over = mag > LIMIT_THRESHOLD
        if over.any():
            span = LIMIT_CEILING - LIMIT_THRESHOLD
            out[over] = np.sign(out[over]) * (LIMIT_THRESHOLD + span * np.tanh((mag[over] - LIMIT_THRESHOLD) / span))
