"""Live: notes' first chunks made ahead (note_starts.py) on a real tiny preset, then played."""
from __future__ import annotations

import time

import mido
import numpy as np
import pytest

from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_live_engine
from singsynth.synth.instruments import one_hot
from singsynth.synth.note_starts import NoteStarts
from singsynth.synth.live_supply import LiveSupply
from singsynth.synth.note_supply import NoteSupply
from singsynth.synth.plan import NotePlan


@pytest.fixture(scope="module")
def preset(tiny_preset):
    # float32 throughout: the tests compare whole notes with streamed ones, which are float32 (model/precision.py)
    preset = tiny_preset
    preset.full_precision = True
    return preset


def wait_for(condition, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.002)


def test_a_note_started_ahead_sounds_at_once_and_equals_the_note_generated_whole(preset):
    keys = [(one_hot(0, 3), 64, 12), (one_hot(1, 3), 57, 3)]
    live = LiveSupply(preset, NoteCache(), 48_000, process=False)
    opened = []  # the streams opened from nothing once the starts are made: none
    try:
        live.start_ahead(keys)
        wait_for(lambda: len(live.generator.starts) == 2)
        live.generator.preset = SpyPreset(preset, opened)
        notes = [live.note(NotePlan(k, False)) for k in keys]
        # the first chunk was made ahead: there is sound as soon as the generation thread has taken the key
        wait_for(lambda: all(n.ready > 0 for n in notes), seconds=1.0)
        wait_for(lambda: all(n.done for n in notes))
        assert len(live.generator.starts) == 0, "a start is used once"
        assert not opened, "the notes were generated from nothing, not from their starts"
    finally:
        live.close()
    whole = NoteSupply(preset, NoteCache(), 48_000).generate(keys)
    for key, note in zip(keys, notes):
        expected = whole[key].data
        assert np.abs(expected).max() > 1e-3
        # both at the cache's float16 precision: a last-bit difference of the model's float32 may round apart
        assert np.abs(note.data - expected).max() <= 2e-3 * np.abs(expected).max()


class NoThread:
    def wake(self) -> None:
        pass


class SpyPreset:
    """The preset, with each open_stream() call noted."""

    def __init__(self, preset, opened: list):
        self._preset, self._opened = preset, opened

    def __getattr__(self, name):
        return getattr(self._preset, name)

    def open_stream(self, *args):
        self._opened.append(args)
        return self._preset.open_stream(*args)


def test_the_engine_starts_ahead_the_channels_programs_and_a_new_program(preset, monkeypatch):
    engine = make_live_engine(preset)
    try:
        # the keys' order as wanted: no generation thread yet to make any meanwhile
        monkeypatch.setattr(engine.supply.generator, "_generation_thread", lambda: NoThread())
        engine.start_ahead()
        starts = engine.supply.generator.starts
        flute, violin, drums = (one_hot(i, 3) for i in range(3))
        wanted = set(starts.next_keys(10_000))
        # program 0 (not in this preset) plays the violin; channel 10 the kit
        assert (violin, 60, 0) in wanted and (drums, 36, 15) in wanted and (flute, 72, 0) not in wanted
        assert starts.next_keys(1) == [(violin, 60, 12)]  # middle C at a firm touch first
        engine.process([(0, mido.Message("program_change", channel=0, program=73))], 256)
        assert starts.next_keys(1)[0] == (flute, 60, 12)  # the new program's notes go first
        before = starts.waiting
        engine.process([(0, mido.Message("program_change", channel=0, program=74))], 256)  # a flute again
        assert starts.waiting == before
        monkeypatch.undo()
        engine.supply.start_ahead([(flute, 60, 12)])  # starts the generation thread: it makes them all
        wait_for(lambda: starts.waiting == 0, seconds=120)
        assert len(starts) > 0
    finally:
        engine.close()


def test_a_flood_of_program_changes_and_mod_wheel_lists_each_programs_notes_once(preset, monkeypatch):
    """Without --morph the mod wheel (the morph controller) does not move a timbre: program changes under a storm of
    CC1, on every channel, list each program's notes once (on the drum channel, the kit once whatever the program)."""
    engine = make_live_engine(preset)
    try:
        monkeypatch.setattr(engine.supply.generator, "_generation_thread", lambda: NoThread())
        engine.start_ahead()
        listed = []
        keys = engine.planner.channel_keys
        monkeypatch.setattr(engine.planner, "channel_keys", lambda *a: listed.append(a) or keys(*a))
        events = [(k % 256, mido.Message("control_change", channel=k % 16, control=1, value=k % 128))
                  for k in range(0, 400, 2)]
        events += [(k % 256, mido.Message("program_change", channel=k % 16, program=(k // 16) % 3 + 72))
                   for k in range(1, 400, 2)]
        for start in range(0, len(events), 40):
            engine.process(sorted(events[start:start + 40], key=lambda e: e[0]), 256)
        programs = {(a[0] == 9, a[1]) for a in listed}
        assert len(listed) == len(programs) and len(listed) <= 4
    finally:
        engine.close()


def test_starts_are_bounded_and_the_least_recently_wanted_go_first():
    starts = NoteStarts(max_starts=3)
    keys = [((1.0,), p, 0) for p in range(5)]
    starts.want(keys[:3])
    starts.want(keys[3:])  # wanted later: made first, and kept
    assert starts.next_keys(5) == [keys[3], keys[4], keys[0]]
    starts.put(keys[3:], np.zeros((2, 4), dtype=np.float32), ["a", "b"])
    starts.put(keys[:1], np.zeros((1, 4), dtype=np.float32), ["c"])
    assert len(starts) == 3 and starts.waiting == 0
    starts.want(keys[1:2])
    starts.put(keys[1:2], np.zeros((1, 4), dtype=np.float32), ["d"])
    assert len(starts) == 3 and starts.take(keys[3]) is None  # the oldest made went
    assert starts.take(keys[1])[1] == "d" and starts.take(keys[1]) is None


class BrokenStream:
    step, done = 0, False

    def first_chunk_steps(self, frames: int) -> int:
        return frames

    def chunk(self, steps: int):
        raise RuntimeError("the model failed")


class FailingPreset(SpyPreset):
    def open_stream(self, *args):
        return BrokenStream()


def test_a_note_whose_generation_fails_is_silent_and_not_cached(preset, tmp_path):
    live = LiveSupply(preset, NoteCache(disk_dir=tmp_path), 48_000, process=False)
    live.generator.preset = FailingPreset(preset, [])
    try:
        key = (one_hot(0, 3), 64, 12)
        note = live.note(NotePlan(key, False))
        wait_for(lambda: note.done)
        assert not note.data.any() and note.ready == len(note.data)
        assert not live.cache.stored(key) and live.pending == 0  # generated again when next played
    finally:
        live.close()
