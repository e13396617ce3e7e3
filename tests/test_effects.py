"""The reverb (Freeverb) and the chorus on their own: decay time against the published comb equations, stereo
decorrelation, stability at every setting, exact silence after a tail, and the same output for any block size."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from singsynth.synth.effects import ChorusSettings, Effects, EffectsConfig, ReverbSettings
from singsynth.synth.effects.chorus import Chorus
from singsynth.synth.effects.kernels import GRID
from singsynth.synth.effects.reverb import (COMBS, FIXED_GAIN, OFFSET_ROOM, SCALE_ROOM, SCALE_WET, STEREO_SPREAD,
                                            Reverb)

RATE = 48000


def impulse_response(settings: ReverbSettings, seconds: float, threshold: float = 0.0) -> np.ndarray:
    reverb = Reverb(settings, RATE, threshold)
    x = np.zeros(int(seconds * RATE), np.float32)
    x[0] = 1.0
    out = np.zeros((len(x), 2), np.float32)
    reverb.process(x, out)
    return out


def rt60(out: np.ndarray) -> float:
    """Schroeder's backward-integrated energy decay, its -5 to -35 dB slope extrapolated to 60 dB (T30)."""
    energy = (out.astype(np.float64) ** 2).sum(axis=1)
    edc = 10 * np.log10(np.cumsum(energy[::-1])[::-1] / energy.sum() + 1e-300)
    return (np.argmax(edc < -35) - np.argmax(edc < -5)) / RATE * 2


@pytest.mark.parametrize("room", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_the_decay_time_follows_the_combs_feedback(room):
    """Undamped, a comb of delay D and feedback g decays 60 dB in D * 60 / -20 log10(g) samples: the reverb's
    decay lies between that of its mean comb and that of its longest (the right bank's, 23 samples longer)."""
    g = room * SCALE_ROOM + OFFSET_ROOM
    delays = np.array(COMBS) * RATE / 44100
    per_sample = 60 / (-20 * np.log10(g)) / RATE
    measured = rt60(impulse_response(ReverbSettings(room, 0.0, 1.0, 1.0), 25.0))
    assert delays.mean() * per_sample < measured < (delays.max() + STEREO_SPREAD) * per_sample


def test_a_larger_room_decays_longer_and_damping_shortens_it():
    times = [rt60(impulse_response(ReverbSettings(room, 0.0, 1.0, 1.0), 25.0)) for room in (0.0, 0.3, 0.6, 0.9)]
    assert all(a < b for a, b in zip(times, times[1:]))
    assert rt60(impulse_response(ReverbSettings(0.5, 1.0, 1.0, 1.0), 10.0)) < 0.9 * times[1] * 2


def test_the_two_sides_are_decorrelated_at_full_width_and_equal_at_none():
    wide = impulse_response(ReverbSettings(0.5, 0.2, 1.0, 1.0), 3.0)[RATE // 20:]
    narrow = impulse_response(ReverbSettings(0.5, 0.2, 0.0, 1.0), 3.0)[RATE // 20:]
    rho = np.corrcoef(wide[:, 0], wide[:, 1])[0, 1]
    assert abs(rho) < 0.1
    assert np.array_equal(narrow[:, 0], narrow[:, 1])


def test_the_chorus_sides_differ_and_its_delay_sweeps():
    rng = np.random.default_rng(0)
    x = np.repeat(rng.standard_normal((RATE * 2, 1)).astype(np.float32) * 0.1, 2, axis=1)  # the same on both sides
    out = np.zeros_like(x)
    Chorus(ChorusSettings(), RATE).process(x, out)
    assert abs(np.corrcoef(out[:, 0], out[:, 1])[0, 1]) < 0.95
    # one voice, a sine's delay: a click comes back later and later as the sine rises
    x = np.zeros((RATE, 2), np.float32)
    x[::4800] = 1.0
    out = np.zeros_like(x)
    settings = ChorusSettings(voices=1, rate=0.5, depth=20.0, level=1.0)
    chorus = Chorus(settings, RATE)
    chorus.process(x, out)
    late = [int(np.argmax(np.abs(out[i:i + 4800, 0]))) for i in range(0, RATE // 2, 4800)]
    for i, heard in zip(range(0, RATE // 2, 4800), late):
        # the click at frame i is read at the frame t where t - delay(t) = i
        t = float(i)
        for _ in range(20):
            t = i + chorus.center + chorus.depth * np.sin(2 * np.pi * 0.5 * t / RATE)
        assert abs(heard - (t - i)) <= 1.5


@pytest.mark.parametrize("room,damp,width,level", list(itertools.product((0.0, 1.0), (0.0, 1.0), (0.0, 1.0),
                                                                           (0.0, 1.0))))
def test_the_reverb_is_stable_and_falls_silent_at_every_setting(room, damp, width, level):
    rng = np.random.default_rng(1)
    reverb = Reverb(ReverbSettings(room, damp, width, level), RATE)
    loud = np.clip(rng.standard_normal(RATE * 2) * 4, -8, 8).astype(np.float32)  # both sides at full scale, and more
    out = np.zeros((len(loud), 2), np.float32)
    reverb.process(loud, out)
    # bounded input, bounded output: |y| <= max|x| * the impulse response's L1 norm, at most the input gain times
    # 8 combs of 1 / (1 - g) (a unit-DC lowpass in each loop) times 4 allpasses of 1 + (1 + 0.5), times the wet gains
    g = room * SCALE_ROOM + OFFSET_ROOM
    bound = 8 * FIXED_GAIN * 8 / (1 - g) * 2.5 ** 4 * level * SCALE_WET
    assert np.isfinite(out).all() and np.abs(out).max() <= bound
    silence = np.zeros(RATE * 40, np.float32)  # longer than the longest tail (room 1: RT60 12 s)
    tail = np.zeros((len(silence), 2), np.float32)
    reverb.process(silence, tail)
    assert reverb.silent and not reverb.combs.any() and not reverb.allpasses.any()
    assert not tail[-GRID:].any()


@pytest.mark.parametrize("voices,rate,depth,level", [(1, 0.1, 0.0, 10.0), (99, 5.0, 21.0, 10.0), (3, 0.3, 8.0, 2.0)])
def test_the_chorus_is_bounded_at_its_extremes(voices, rate, depth, level):
    x = np.ones((RATE, 2), np.float32)
    x[1::2] = -1
    out = np.zeros_like(x)
    chorus = Chorus(ChorusSettings(voices, rate, depth, level), RATE)
    chorus.process(x, out)
    assert np.isfinite(out).all() and np.abs(out).max() <= level * 1.0001
    chorus.process(np.zeros((chorus.size, 2), np.float32), np.zeros((chorus.size, 2), np.float32))
    tail = np.zeros((1000, 2), np.float32)
    chorus.process(np.zeros((1000, 2), np.float32), tail)
    assert chorus.silent and not tail.any()


def test_a_tail_ends_in_exact_zeros_never_denormals():
    """Below -80 dB the state is cut to zeros on a fixed grid: no value ever sinks to the denormal range
    (where a float costs up to 100 times as much to multiply), and the silence after it is exactly zero."""
    reverb = Reverb(ReverbSettings(1.0, 0.0, 1.0, 1.0), RATE, threshold=1e-4)
    x = np.zeros(RATE * 60, np.float32)
    x[0] = 1.0
    tiny = np.finfo(np.float32).tiny
    out = np.zeros((len(x), 2), np.float32)
    for start in range(0, len(x), RATE):
        reverb.process(x[start:start + RATE], out[start:start + RATE])
        state = np.abs(np.concatenate([reverb.combs.ravel(), reverb.allpasses.ravel(), reverb.comb_lp]))
        assert not ((state > 0) & (state < tiny)).any()
    sounding = np.flatnonzero(out.any(axis=1))
    assert reverb.silent and len(sounding) and sounding[-1] < len(x) - RATE
    assert np.abs(out[sounding[-1] - GRID:sounding[-1] + 1]).max() < 1e-4  # cut once below -80 dB for a stretch


def drive(effects: Effects, n: int, block: int) -> np.ndarray:
    """Two channels' steady and ramping sends, send changes at odd offsets, then silence, in blocks of `block`."""
    rng = np.random.default_rng(2)
    signal = rng.standard_normal((n // 2, 2)).astype(np.float32) * 0.2
    changes = {0: (0, 0, 127), 1000: (1, 1, 64), 7777: (0, 0, 20), 9001: (0, 1, 127), 15000: (1, 0, 90)}
    out = np.zeros((n, 2), np.float32)
    pan = np.linspace(0, 1, n, dtype=np.float32)  # channel 0's gains sweep from left to right
    for start in range(0, n, block):
        end = min(start + block, n)
        for at, (channel, which, value) in changes.items():
            if start <= at < end:
                effects.set_cc(channel, which, value, at - start)
        if start < len(signal):
            part = np.zeros((end - start, 2), np.float32)
            part[:min(end, len(signal)) - start] = signal[start:min(end, len(signal))]
            ramp = pan[start:end]
            effects.send(0, part[:, 0], np.stack([ramp, 1 - ramp], axis=1))
            effects.send_steady([1], part[:, 1][None, :], np.array([[0.3, 0.7]], np.float32))
        effects.process(out[start:end])
    return out


@pytest.mark.parametrize("block", [1, 64, 65, 8192, 8193])
def test_the_reverb_and_chorus_sound_the_same_in_any_block_size(block):
    """Bit for bit: sound, then silence long enough for the tail to be cut, then sound again."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((RATE * 3, 2)).astype(np.float32) * 0.3
    x[RATE // 2:RATE * 2] = 0
    outs = []
    for size in (len(x), block):
        reverb, chorus = Reverb(ReverbSettings(0.3, 0.5, 0.7, 0.9), RATE), Chorus(ChorusSettings(), RATE)
        out = np.zeros_like(x)
        for start in range(0, len(x), size):
            part = x[start:start + size]
            reverb.process(part.sum(axis=1), out[start:start + size])
            chorus.process(part, out[start:start + size])
        outs.append(out)
    assert np.abs(outs[0][RATE * 2 - GRID:RATE * 2]).max() == 0  # the tail was cut before the sound came back
    assert np.array_equal(outs[0], outs[1])


def test_the_send_buses_sound_the_same_in_any_block_size():
    """Send changes at any offset, steady and ramping gains; the buses sum channels with BLAS, whose rounding
    depends on which channels change within a block: within 1e-6, as the engine's own mix."""
    n = RATE // 2
    config = EffectsConfig(ReverbSettings(0.5, 0.3, 0.8, 0.9), ChorusSettings(4, 1.0, 6.0, 1.5))
    reference = drive(Effects(config, RATE), n, n)
    assert np.abs(reference).max() > 0.01
    for block in (1, 64, 65, 8192, 8193):
        assert np.abs(drive(Effects(config, RATE), n, block) - reference).max() < 1e-6, block


def test_without_sends_the_effects_add_nothing():
    effects = Effects(EffectsConfig(), RATE)
    out = np.full((4096, 2), 0.25, np.float32)
    effects.send(0, np.ones(4096, np.float32), np.ones((4096, 2), np.float32))
    effects.send_steady([1, 2], np.ones((2, 4096), np.float32), np.ones((2, 2), np.float32))
    effects.process(out)
    assert (out == 0.25).all() and effects.idle


@pytest.mark.parametrize("make", [lambda: ReverbSettings(room=1.5), lambda: ReverbSettings(damp=float("nan")),
                                  lambda: ReverbSettings(level=-0.1), lambda: ChorusSettings(voices=0),
                                  lambda: ChorusSettings(rate=float("inf")), lambda: ChorusSettings(depth=22.0),
                                  lambda: ChorusSettings(voices=2.5), lambda: EffectsConfig(reverb_send=128)])
def test_settings_out_of_range_are_refused(make):
    with pytest.raises(ValueError, match="out of range|not a"):
        make()
