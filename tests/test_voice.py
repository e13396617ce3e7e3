"""Voices read alone (Voice.render_block) and together (bank.read_bank) must sound and end the same;
a held note loops on past its end, decaying on as it decayed (loop_decay) or holding steady."""
import copy

import numpy as np
import pytest

from singsynth.model.sustain_loop import crossfade, level_loop, loop_decay, loop_fall, loop_points
from singsynth.synth.bank import read_bank, shaped
from singsynth.synth.cache import Note
from singsynth.synth.voice import Voice

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
            v.env.release_at = int(rng.integers(0, RELEASE))  # released in an earlier block
        elif state == 2:
            v.release(int(rng.integers(0, block)))  # released in this block
        elif state == 3:
            v.kill(200, int(rng.integers(0, block)))  # stolen in this block
        elif state == 4:
            v.kill(200)
            v.env.kill_left, v.env.kill_from = int(rng.integers(1, 200)), None  # stolen in an earlier block
        elif state == 5:
            v.pos, v.env.start_at = 0.0, int(rng.integers(1, block))  # started in this block
            if serial % 4 == 1:
                v.release(int(rng.integers(v.start_at, block)))
        if serial % 4 == 3:
            v.loop_gain = float(rng.uniform(0.05, 0.9))  # looped a few times already: a decaying note
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
        assert (a.pos, a.env.release_at, a.env.kill_left, a.finished, a.start_at) == \
            pytest.approx((b.pos, b.env.release_at, b.env.kill_left, b.finished, b.start_at))
        assert a.env.release_from is None and a.env.kill_from is None


def test_voices_reaching_the_loop_or_a_streaming_end_are_not_plain():
    rng = np.random.default_rng(0)
    v = Voice(note(rng), 0, 60, False, 1)
    v.pos = LOOP[1] - LOOP[2] - 100.0  # the crossfade starts within the block
    assert not v.plain(256.0, LOOP)
    streaming = Note(np.zeros(LENGTH, dtype=np.float32), ready=1000)
    w = Voice(streaming, 0, 60, False, 2)
    w.pos = 900.0
    assert not w.plain(256.0, LOOP) and w.plain(50.0, LOOP)


# Held notes: 4 s notes at 16 kHz, their loop 1.4 s long (1.5 s to 2.9 s)
HELD_RATE = 16000
HELD_LOOP = loop_points(4 * HELD_RATE)
HELD_BLOCK = 256


def held_note(db_per_second: float, pitch: int = 60, partials: int = 4, phase: float = 0.25) -> Note:
    """A harmonic note whose level changes steadily by db_per_second (SING's 10 ms attack), with its
    loop's decay and crossfade as the note supply makes them.

    Each partial is nudged (by under 0.4 Hz) to a whole number of periods plus `phase` over the loop, so
    that the two ends the crossfade joins meet in a known phase: a quarter (quadrature), 0 (in phase) or a
    half (opposite)."""
    l0, l1, _ = HELD_LOOP
    loop_seconds = (l1 - l0) / HELD_RATE
    t = np.arange(4 * HELD_RATE) / HELD_RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    periods = [np.floor(k * f0 * loop_seconds) + phase for k in range(1, partials + 1)]
    tone = sum(np.sin(2 * np.pi * n / loop_seconds * t) / k for k, n in enumerate(periods, 1))
    level = np.minimum(t / 0.01, 1) * 10 ** (db_per_second * t / 20)
    data = (0.2 * tone * level).astype(np.float32)
    made = Note(data)
    made.loop_decay = loop_decay(data, HELD_LOOP)
    made.xfade = crossfade(data, HELD_LOOP, made.loop_decay)
    return made


def hold(made: Note, seconds: float, rate: float = 1.0, bank: bool = False, block: int = HELD_BLOCK) -> np.ndarray:
    """A key held on the note for `seconds`, read at `rate` block by block as the engine reads it: alone,
    or with `bank`, in a bank in every block the voice reads plainly."""
    v = Voice(made, channel=0, key=60, one_shot=False, serial=1)
    phase = None if rate == 1.0 else rate * np.arange(block + 1, dtype=np.float64)
    out = np.zeros(int(seconds * HELD_RATE), dtype=np.float32)
    for start in range(0, len(out), block):
        buf = out[start:start + block]
        part = None if phase is None else phase[:len(buf) + 1]
        if bank and part is not None and v.plain(float(part[-1]), HELD_LOOP):
            buf += read_bank([v], part[None, :], np.zeros(1, dtype=np.int64), RELEASE, 1)[0]
        else:
            v.render_block(buf, part, HELD_LOOP, RELEASE)
    return out


def levels(out: np.ndarray, t0: float, t1: float, window: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The level in dB of each `window` from t0 to t1, and the windows' centres in seconds."""
    width, first = round(window * HELD_RATE), round(t0 * HELD_RATE)
    count = (round(t1 * HELD_RATE) - first) // width
    windows = out[first:first + count * width].astype(np.float64).reshape(count, width)
    return 10 * np.log10(np.mean(windows ** 2, axis=1)), t0 + (np.arange(count) + 0.5) * window


def assert_decays_on(out: np.ndarray, rate: float = 1.0) -> None:
    """No pulse at the loop (never 0.5 dB up from one window to the next) and at 8 s the level the
    decay of the note's first 2.9 s foretells, within 2 dB."""
    level, _ = levels(out, 1.0, 10.0)
    rises = np.diff(level)
    assert rises.max() < 0.5, f"swells by {rises.max():.1f} dB at {1.0 + 0.05 * (rises.argmax() + 1):.2f} s"
    before, centres = levels(out, 0.5, 2.9 / rate)  # the note as generated, before any loop
    slope, offset = np.polyfit(centres, before, 1)
    at8, _ = levels(out, 8.0, 8.05)
    assert at8[0] == pytest.approx(slope * 8.025 + offset, abs=2.0)


def assert_holds_steady(out: np.ndarray) -> None:
    level, _ = levels(out, 1.0, 10.0)
    at2, _ = levels(out, 2.0, 2.05)
    assert np.abs(level - at2[0]).max() < 0.5


def test_the_loop_decay_is_what_one_pass_of_the_loop_loses():
    loop_seconds = (HELD_LOOP[1] - HELD_LOOP[0]) / HELD_RATE
    assert held_note(-12.0).loop_decay == pytest.approx(10 ** (-12 * loop_seconds / 20), rel=0.02)
    assert held_note(-3.0).loop_decay == pytest.approx(10 ** (-3 * loop_seconds / 20), rel=0.02)
    assert held_note(0.0).loop_decay == 1.0
    assert held_note(-0.5).loop_decay == 1.0  # 0.7 dB over the loop: steady
    assert held_note(+3.0).loop_decay == 1.0  # swelling strings are held, not swollen on
    silent = np.zeros(4 * HELD_RATE, dtype=np.float32)
    assert loop_decay(silent, HELD_LOOP) == 1.0
    assert loop_decay(held_note(-12.0).data[:HELD_LOOP[1] - 1], HELD_LOOP) == 1.0  # too short to hold the loop
    fading = np.geomspace(1, 1e-3, 12).astype(np.float32)
    assert loop_decay(fading, loop_points(12)) == 1.0  # too few samples over the loop to measure a decay


def test_a_decaying_note_held_long_decays_on_without_pulsing():
    out = hold(held_note(-12.0), 10.0)
    assert_decays_on(out)


def test_a_steady_note_held_long_holds_its_level():
    assert_holds_steady(hold(held_note(0.0), 10.0))


@pytest.mark.parametrize("bank", [False, True])
def test_a_bent_decaying_note_decays_on_read_between_samples_alone_or_in_a_bank(bank):
    rate = 2 ** (1 / 12)
    out = hold(held_note(-12.0), 10.0, rate=rate, bank=bank)
    assert_decays_on(out, rate)
    assert_holds_steady(hold(held_note(0.0), 10.0, rate=rate, bank=bank))


def unrolled(made: Note, samples: int) -> np.ndarray:
    """The note's loop laid end to end, each pass at one more pass's decay: what a held key reads."""
    l0, l1, x = HELD_LOOP
    spliced = made.data.astype(np.float64)
    spliced[l1 - x:l1] = made.xfade
    at = np.arange(samples)
    passes = np.where(at >= l1, (at - l0) // (l1 - l0), 0)
    return spliced[np.where(at >= l1, l0 + (at - l0) % (l1 - l0), at)] * made.loop_decay ** passes


@pytest.mark.parametrize("rate", [1.0, 2 ** (1 / 12), 2 ** (-0.3 / 12)])
@pytest.mark.parametrize("block", [HELD_BLOCK, 7, 6 * HELD_RATE])  # the last holds every jump back in one block
def test_a_held_note_reads_its_loop_unrolled_at_the_decay_of_each_pass(rate, block):
    made = held_note(-12.0)
    out = hold(made, 6.0, rate=rate, block=block, bank=rate != 1.0)
    positions = rate * np.arange(len(out))
    expected = np.interp(positions, np.arange(int(positions[-1]) + 2), unrolled(made, int(positions[-1]) + 2))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("db_per_second", [-1.2, +0.8, -3.0])
def test_a_sustaining_notes_loop_is_made_level_from_its_start_on(db_per_second):
    """An organ note that sags (or swells) over the loop: levelled, a pass ends as loud as the next begins, the
    note before the loop is untouched, and the gain reached at the loop end holds after it."""
    n = 64_000
    t = np.arange(n) / 16_000
    data = (0.3 * np.sin(2 * np.pi * 220 * t) * 10 ** (db_per_second * t / 20)).astype(np.float32)
    loop = loop_points(n)
    assert abs(loop_fall(data, loop)) > 1.0
    levelled = level_loop(data, loop)
    assert abs(loop_fall(levelled, loop)) < 0.05
    np.testing.assert_array_equal(levelled[:loop[0]], data[:loop[0]])
    after = levelled[loop[1]:] / np.where(data[loop[1]:] == 0, 1, data[loop[1]:])
    gain = 10 ** (-db_per_second * (loop[1] - loop[0]) / 16_000 / 20)
    assert np.median(after[data[loop[1]:] != 0]) == pytest.approx(gain, rel=1e-3)


def test_levelling_stops_at_its_limit():
    n = 64_000
    t = np.arange(n) / 16_000
    data = (0.3 * np.sin(2 * np.pi * 220 * t) * 10 ** (-20 * t / 20)).astype(np.float32)  # 28 dB over the loop
    loop = loop_points(n)
    assert loop_fall(level_loop(data, loop), loop) == pytest.approx(loop_fall(data, loop) - 6.0, abs=0.1)


@pytest.mark.parametrize("phase", [0.0, 0.1, 0.25, 0.4])
def test_the_loop_joins_without_a_swell_or_a_dip_whatever_the_phase_its_ends_meet_in(phase):
    """Ends in phase summed by an equal-power fade would swell by 3 dB at each pass; nearly opposite ones
    would dip. A held steady note stays within 0.5 dB through the joins."""
    level, _ = levels(hold(held_note(0.0, phase=phase), 6.0), 1.0, 6.0)
    assert level.max() - level.min() < 0.5, (phase, level.max() - level.min())


def test_the_release_falls_exponentially_to_minus_60_db_and_ends_at_zero():
    from singsynth.synth.envelope import release_curve, release_gains
    curve = release_curve(48_000)
    assert curve[0] == 1.0 and curve[-1] == 0.0
    assert np.all(np.diff(curve) <= 0)
    # half way an exponential to -60 dB is at -30 dB, less the floor (-60 dB) taken off and rescaled
    assert curve[24_000] == pytest.approx((10 ** -1.5 - 1e-3) / (1 - 1e-3), rel=1e-5)
    # read from anywhere, and past the end as silence
    assert np.array_equal(release_gains(100, 50, 48_000), curve[100:150])
    tail = release_gains(47_990, 20, 48_000)
    assert np.array_equal(tail[:11], curve[47_990:]) and not tail[11:].any()
