"""Voices read alone (Voice.render_block) and together (bank.read_bank) must sound and end the same."""
import copy

import numpy as np
import pytest

from singsynth.cache import Note
from singsynth.bank import read_bank, shaped
from singsynth.voice import Voice, crossfade, loop_points

LENGTH = 48000
LOOP = loop_points(LENGTH)
RELEASE = 3000


def note(rng) -> Note:
    n = Note(rng.standard_normal(LENGTH).astype(np.float32))
    n.xfade = crossfade(n.data, LOOP)
    return n


def voices(rng, block: int) -> list[Voice]:
    """Voices in every state a block can find them in, each with its own events in the block."""
    made = []
    for serial in range(40):
        v = Voice(note(rng), channel=0, key=60, one_shot=serial % 9 == 0, serial=serial)
        v.pos = float(rng.uniform(0, LOOP[1] - LOOP[2] - 2 * block))
        state = serial % 6
        if state == 1:
            v.release_at = int(rng.integers(0, RELEASE))  # released in an earlier block
        elif state == 2:
            v.release(int(rng.integers(0, block)))  # released in this block
        elif state == 3:
            v.kill(200, int(rng.integers(0, block)))  # stolen in this block
        elif state == 4:
            v.kill(200)
            v.kill_left, v.kill_from = int(rng.integers(1, 200)), None  # stolen in an earlier block
        elif state == 5:
            v.pos, v.start_at = 0.0, int(rng.integers(1, block))  # started in this block
            if serial % 4 == 1:
                v.release(int(rng.integers(v.start_at, block)))
        made.append(v)
    return made


def bent_phase(rng, block: int) -> np.ndarray:
    """A channel's reading advance over a block whose bend changes within it."""
    rates = np.repeat(2.0 ** (rng.uniform(-2, 2, 4) / 12), block // 4)
    return np.concatenate([[0.0], np.cumsum(rates)])


@pytest.mark.parametrize("seed, release", [(0, RELEASE), (1, RELEASE), (2, RELEASE), (3, 10), (4, 1)])
def test_a_bank_of_voices_on_two_channels_sounds_as_each_voice_alone(seed, release):
    rng = np.random.default_rng(seed)
    block = 256
    phases = np.stack([bent_phase(rng, block), bent_phase(rng, block)])  # two channels, bent differently
    made = voices(rng, block)
    channel = rng.integers(0, 2, len(made))
    # the bank's order: voices without an envelope first
    order = sorted(range(len(made)), key=lambda r: shaped(made[r]))
    bank, which = [made[r] for r in order], channel[order]
    alone = copy.deepcopy(bank)
    assert all(v.plain(float(phases[c, block]), LOOP) for v, c in zip(bank, which))
    together = read_bank(bank, phases, which, release, sum(not shaped(v) for v in bank))
    each = np.zeros_like(together)
    for row, (v, c) in enumerate(zip(alone, which)):
        v.render_block(each[row], phases[c], LOOP, release)
    np.testing.assert_allclose(together, each, atol=2e-5)
    assert np.abs(each).max() > 1
    for a, b in zip(bank, alone):
        assert (a.pos, a.release_at, a.kill_left, a.finished, a.start_at) == \
            pytest.approx((b.pos, b.release_at, b.kill_left, b.finished, b.start_at))
        assert a.release_from is None and a.kill_from is None


def test_voices_reaching_the_loop_or_a_streaming_end_are_not_plain():
    rng = np.random.default_rng(0)
    v = Voice(note(rng), 0, 60, False, 1)
    v.pos = LOOP[1] - LOOP[2] - 100.0  # the crossfade starts within the block
    assert not v.plain(256.0, LOOP)
    streaming = Note(np.zeros(LENGTH, dtype=np.float32), ready=1000)
    w = Voice(streaming, 0, 60, False, 2)
    w.pos = 900.0
    assert not w.plain(256.0, LOOP) and w.plain(50.0, LOOP)
