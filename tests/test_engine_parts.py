"""The engine's parts on their own: a channel's curves (channels.py), the voice pool (voices.py), the limiter
(mixer.py)."""
from __future__ import annotations

import numpy as np

from singsynth.synth.cache import Note
from singsynth.synth.channels import Channel, gain_changed, gain_curve, phase, rate_changed
from singsynth.synth.mixer import LIMIT_CEILING, LIMIT_THRESHOLD, LIMITER_CHUNK, Limiter
from singsynth.synth.voice import Voice
from singsynth.synth.voices import VoicePool


def fresh_channel() -> Channel:
    ch = Channel()
    ch.gains = ch.aim = ch.target()
    return ch


def test_a_bend_within_the_block_reads_at_each_rate_from_its_offset():
    ch = fresh_channel()
    assert phase(ch, 8) is None  # rate 1 all along
    ch.bend = 8191
    rate_changed(ch, 3, 440.0)
    curve = phase(ch, 8)
    up = ch.rate()
    expected = np.concatenate([[0.0], np.cumsum([1.0] * 3 + [up] * 5)])
    np.testing.assert_allclose(curve, expected)
    assert up == 2 ** ((8191 / 8192 * 2) / 12)
    np.testing.assert_allclose(phase(ch, 4), up * np.arange(5))  # the next block reads at the new rate


def test_a_gain_change_ramps_the_same_whatever_the_blocks():
    curves = []
    for block in (1, 64, 65, 1000):
        ch = fresh_channel()
        ch.volume = 20
        gain_changed(ch, 0)
        parts, left = [], 1000
        while left:
            n = min(block, left)
            part = gain_curve(ch, n, 240)
            parts.append(np.broadcast_to(part, (n, 2)))
            left -= n
        curves.append(np.concatenate(parts))
    for curve in curves[1:]:
        np.testing.assert_allclose(curve, curves[0], atol=1e-6)
    start, aim = Channel().target(), fresh_channel()
    aim.volume = 20
    np.testing.assert_allclose(curves[0][239], aim.target(), atol=1e-6)  # reaches the aim after the ramp
    np.testing.assert_allclose(curves[0][119], (start + aim.target()) / 2, atol=1e-2)  # linear on the way


def note() -> Note:
    return Note(np.ones(64, dtype=np.float32))


def test_the_pool_steals_the_longest_released_voice_else_the_oldest_and_bounds_the_fading():
    pool = VoicePool(polyphony=2, fast_fade=4)
    a, b = (Voice(note(), 0, key, False, pool.next_serial()) for key in (60, 62))
    for v in (a, b):
        pool.make_room(2, 0)
        pool.add(v)
    pool.release(b, 0)
    pool.make_room(2, 0)  # at the limit: b, released, goes before a, older
    assert b.killed and not a.killed and list(pool.alive) == [a] and list(pool.fading) == [b]
    c = Voice(note(), 0, 64, False, pool.next_serial())
    pool.add(c)
    pool.make_room(2, 0)  # no voice released: the oldest
    assert a.killed and list(pool.alive) == [c]
    d = Voice(note(), 0, 65, False, pool.next_serial())
    pool.add(d)
    pool.make_room(2, 0)
    assert len(pool.fading) <= 2 and b not in pool.voices[0], "at most `polyphony` fading: the most faded cut"
    assert c.killed and list(pool.alive) == [d]


def test_a_voice_replaced_fades_out_and_its_successor_takes_its_key():
    pool = VoicePool(polyphony=4, fast_fade=4)
    stand = Voice(note(), 3, 60, False, pool.next_serial())
    pool.add(stand)
    own = Voice(note(), 3, 60, False, pool.next_serial())
    pool.replace(stand, own, 32)
    assert stand.killed and stand.env.kill_len == 32
    assert pool.unreleased[3] == {60: [own]} and list(pool.alive) == [own]


def test_the_limiter_leaves_quiet_blocks_alone_and_is_the_same_in_long_blocks_and_short():
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal((4096, 2)) * 0.1).astype(np.float32)
    out = quiet.copy()
    Limiter(48000, 1.0).process(out)
    np.testing.assert_array_equal(out, quiet)
    loud = (rng.standard_normal((8 * LIMITER_CHUNK, 2)) * 2).astype(np.float32)
    whole = loud.copy()
    Limiter(48000, 1.0).process(whole)
    limiter, parts = Limiter(48000, 1.0), []
    for start in range(0, len(loud), LIMITER_CHUNK):
        part = loud[start:start + LIMITER_CHUNK].copy()
        limiter.process(part)
        parts.append(part)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert np.abs(whole).max() < LIMIT_CEILING and np.abs(whole).max() > LIMIT_THRESHOLD
