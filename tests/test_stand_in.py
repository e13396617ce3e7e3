"""Live: a cold note played at once from a ready note of its timbre, then crossfaded into its own sound."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from engine_fixtures import midi_hz, on, sine_preset

from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_live_engine
from singsynth.synth.plan import NotePlan

RATE = 16000
BLOCK = 256


@pytest.fixture
def gated(tmp_path):
    """The sine test double, whose streams open only while `gate` is set."""
    preset = sine_preset(tmp_path / "sine")
    gate = threading.Event()
    gate.set()
    opened = preset.open_stream

    def open_stream(*args):
        gate.wait(60)
        return opened(*args)
    preset.open_stream = open_stream
    return preset, gate


def wait_until(engine, condition, seconds: float = 60.0) -> list[np.ndarray]:
    """Blocks played until `condition()` (a hang guard, not a timing assertion)."""
    blocks, end = [], time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        blocks.append(engine.process([], BLOCK))
        time.sleep(0.002)
    return blocks


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * RATE / len(x))


def test_a_cold_note_sounds_at_once_from_a_stand_in_then_from_its_own_note(gated):
    preset, gate = gated
    live = make_live_engine(preset, sample_rate=RATE, instrument="flute", cache=NoteCache())
    try:
        live.process([(0, on(60))], BLOCK)
        wait_until(live, lambda: live.stats["pending"] == 0)  # note 60 is ready: it can stand in
        live.all_sound_off()
        wait_until(live, lambda: not live.voices)
        gate.clear()  # the model is busy: note 64 cannot arrive
        first = live.process([(0, on(64))], BLOCK)
        assert live.stats["stood_in"] == 1 and len(live.voices) == 1
        assert live.voices[0].note is live.cache.get(live.planner.plan(0, 0, 0, 60, 100).key)
        held = [first] + [live.process([], BLOCK) for _ in range(40)]
        assert np.abs(first).max() > 0.05, "the stand-in sounds in the block of its note-on"
        sound = np.concatenate(held)[:, 0]
        assert abs(peak_hz(sound[BLOCK * 8:]) - midi_hz(64)) < 15, "read at the key's pitch"
        gate.set()
        plan = live.planner.plan(0, 0, 0, 64, 100)
        after = wait_until(live, lambda: live.stats["replaced"] == 1)
        after += [live.process([], BLOCK) for _ in range(20)]
        sounding = [v for v in live.voices if not v.killed]
        assert len(sounding) == 1 and sounding[0].note is live.cache.get(plan.key)
        assert len(live.voices) == 1, "the stand-in faded out"
        # the stand-in and its own note read the same sine in phase: no dip, no jump through the crossfade
        level = np.abs(np.concatenate(held[20:] + after)[:, 0])
        windows = level[:len(level) // 128 * 128].reshape(-1, 128).max(axis=1)
        assert windows.min() > 0.8 * windows.max()
    finally:
        gate.set()
        live.close()


def test_the_stand_in_is_the_nearest_ready_note_and_scaled_to_the_velocity(gated):
    preset, _ = gated
    live = make_live_engine(preset, sample_rate=RATE, instrument="flute", cache=NoteCache())
    try:
        supply = live.supply
        assert supply.stand_in(live.planner.plan(0, 0, 0, 64, 100), 100) is None, "nothing ready: no stand-in"
        for key in (60, 72):
            live.process([(0, on(key, 64))], BLOCK)
        wait_until(live, lambda: live.stats["pending"] == 0)
        plan = live.planner.plan(0, 0, 0, 70, 127)
        note, key, gain = supply.stand_in(plan, 127)
        assert key[1] == 72 and key[0] == plan.timbre
        steps = live.cache.velocity_steps
        assert gain == pytest.approx((1 + plan.step * 126 / (steps - 1)) / (1 + key[2] * 126 / (steps - 1)))
        assert isinstance(plan, NotePlan)
    finally:
        live.close()


def test_a_stand_in_released_before_its_note_arrives_plays_its_release_out(gated):
    preset, gate = gated
    live = make_live_engine(preset, sample_rate=RATE, instrument="flute", cache=NoteCache())
    try:
        live.process([(0, on(60))], BLOCK)
        wait_until(live, lambda: live.stats["pending"] == 0)
        live.process([(0, on(60, 0))], BLOCK)
        gate.clear()
        live.process([(0, on(62))], BLOCK)
        live.process([(0, on(62, 0))], BLOCK)  # note-off (a note-on at velocity 0)
        gate.set()
        wait_until(live, lambda: live.stats["pending"] == 0)
        wait_until(live, lambda: live.idle)
        assert live.stats["stood_in"] == 1 and live.stats["replaced"] == 0
    finally:
        gate.set()
        live.close()
