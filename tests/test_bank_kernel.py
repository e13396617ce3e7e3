"""The compiled bank (bank_kernel.py) sums every bank voice into its channel to numpy's figures, bit for bit, so a
render that starts with numpy and goes on compiled is the render that numpy alone makes."""
import copy

import numpy as np
import pytest

from singsynth.synth import bank
from singsynth.synth.bank import shaped, sum_bank
from singsynth.synth.bank_kernel import bank_sums

from test_voice import RELEASE, bent_phase, voices


def by_channel(rng, block: int, channels: int):
    """Voices in every state, dealt over `channels` channels (each reading at its own bent phase) in the mixer's
    order: the plain ones, then the shaped ones, each part by channel."""
    made = voices(rng, block)
    channel = rng.integers(0, channels, len(made))
    order = sorted(range(len(made)), key=lambda r: (shaped(made[r]), channel[r]))
    which = np.array([channel[r] for r in order], dtype=np.int64)
    return [made[r] for r in order], which


@pytest.mark.parametrize("seed, block, release", [(0, 256, RELEASE), (1, 64, RELEASE), (2, 257, 10), (3, 3, 1),
                                                  (4, 1024, RELEASE)])
def test_compiled_bank_equals_numpys_to_the_bit(seed, block, release, monkeypatch):
    rng = np.random.default_rng(seed)
    channels = 3
    phases = np.stack([bent_phase(rng, block) if block % 4 == 0 else np.arange(block + 1) * 1.01
                       for _ in range(channels)])
    made, which = by_channel(rng, block, channels)
    rows = which.copy()
    plain = sum(not shaped(v) for v in made)
    other = copy.deepcopy(made)
    monkeypatch.setattr(bank, "_kernel", None)
    with_numpy = sum_bank(made, phases, which, rows, channels, release, plain)
    monkeypatch.setattr(bank, "_kernel", bank_sums)
    compiled = sum_bank(other, phases, which, rows, channels, release, plain)
    assert np.abs(with_numpy).max() > 1
    np.testing.assert_array_equal(compiled, with_numpy)
    for a, b in zip(made, other):  # and the voices move on alike
        assert (a.pos, a.env.release_at, a.env.kill_left, a.finished, a.start_at) == \
            (b.pos, b.env.release_at, b.env.kill_left, b.finished, b.start_at)


def test_its_python_twin_gives_the_same_figures():
    """The kernel's own source, run as plain Python (numba's py_func), agrees: what is compiled is what is read."""
    rng = np.random.default_rng(5)
    phases = np.stack([bent_phase(rng, 64) for _ in range(2)])
    made, which = by_channel(rng, 64, 2)
    plain = sum(not shaped(v) for v in made)
    window, base, begin = bank._windows(made, phases, which)
    args = dict(released=np.array([v.env.released for v in made]), since=np.array(
        [v.env.release_at if v.env.release_at >= 0 else -(v.env.release_from or 0) for v in made]),
        fading=np.array([v.env.kill_left is not None for v in made]))
    fade_len = np.array([float(v.env.kill_len) for v in made])
    fade_start = np.array([float(v.env.kill_from if v.env.kill_from is not None else
                                 (v.env.kill_left or 0) - v.env.kill_len) for v in made])
    out = [np.zeros((2, 64), np.float32) for _ in range(2)]
    for kernel, sums in zip((bank_sums, bank_sums.py_func), out):
        kernel(window, phases, which, begin, base, bool(begin.any()), which, plain, args["released"],
               args["since"], args["fading"], fade_len, fade_start, begin,
               bank.release_curve(RELEASE), sums)
    np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize("voices", [1, 2, 8, 9, 16, 17, 129, 136, 300])
def test_a_channels_voices_add_up_as_numpys_reduceat_adds_them(voices):
    """numpy sums a run of rows in a fixed order of its own (pairwise beyond 8); the kernel follows it, so that a
    channel of many voices sums to the same bits (the order is not numpy's promise: this test says if it moves)."""
    from singsynth.synth.bank_kernel import _pairwise
    rows = np.random.default_rng(voices).standard_normal((voices, 7)).astype(np.float32) * 1e3
    want = np.add.reduceat(rows, [0], axis=0)[0]
    got = [rows[0, k] + (_pairwise(rows, 1, voices - 1, k) if voices > 1 else np.float32(0)) for k in range(7)]
    np.testing.assert_array_equal(np.array(got, dtype=np.float32), want)


def test_an_engine_plays_the_same_with_either_bank_and_in_any_block_size(tmp_path, monkeypatch):
    """Dense music whose voices mostly read at their own rates (vibrato on every channel, bends, releases, a pedal,
    steals at a low polyphony): the compiled bank's output is numpy's to the bit, and blocks of any size agree."""
    import mido
    from engine_fixtures import cc, off, on, sine_preset

    from singsynth.synth.cache import NoteCache
    from singsynth.synth.engine import make_engine
    from singsynth.synth.schedule import Schedule, play_through

    preset = sine_preset(tmp_path / "sines")
    rng = np.random.default_rng(11)
    timeline = [(0.0, cc(1, 100, c)) for c in range(4)] + [(0.0, cc(64, 127, 2)), (0.6, cc(64, 0, 2))]
    for _ in range(90):
        t, c, key = float(rng.uniform(0, 0.8)), int(rng.integers(0, 4)), int(rng.integers(48, 84))
        timeline += [(t, on(key, int(rng.integers(30, 127)), c)), (t + float(rng.uniform(0.05, 0.5)), off(key, c))]
    timeline += [(float(t), mido.Message("pitchwheel", channel=1, pitch=int(rng.integers(-8192, 8192))))
                 for t in rng.uniform(0, 1.0, 40)]

    def render(block: int) -> np.ndarray:
        eng = make_engine(preset, sample_rate=16000, polyphony=48, cache=NoteCache(), master_gain=0.05)
        out, total = [], int(1.5 * 16000)
        play_through(eng, Schedule(timeline, 16000, block, frames=total), out.append)
        return np.concatenate(out)[:total]

    monkeypatch.setattr(bank, "KERNEL_FROM", 10 ** 9)  # numpy all along: nothing loads the kernel meanwhile
    monkeypatch.setattr(bank, "_kernel", None)
    with_numpy = render(256)
    rows = []  # voices in each compiled bank: most of the music goes through it
    monkeypatch.setattr(bank, "_kernel", lambda window, *rest: (rows.append(len(window)), bank_sums(window, *rest)))
    compiled = [render(block) for block in (256, 4096, 7)]
    assert np.abs(with_numpy).max() > 0.01 and max(rows) >= 16
    np.testing.assert_array_equal(compiled[0], with_numpy)
    for other in compiled[1:]:
        np.testing.assert_allclose(other, compiled[0], atol=1e-6)
