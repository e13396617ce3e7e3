"""One plan per note: planned once when its message is read, its sound looked up once, counted once; and a
file's notes asked for ahead of the playhead, in its order."""
from __future__ import annotations

import logging

import mido
import pytest
from engine_fixtures import make_preset, off, on, sine_preset

from singsynth.cli import main
from singsynth.synth.ahead import PlayAhead
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.plan import NotePlan, plan_events, planned_keys
from singsynth.synth.planner import NotePlanner

RATE = 16000


@pytest.fixture(scope="module")
def sines(tmp_path_factory):
    return sine_preset(tmp_path_factory.mktemp("sine"))


def program(number, channel=0):
    return mido.Message("program_change", channel=channel, program=number)


def test_events_are_planned_from_the_channels_as_each_event_finds_them(sines):
    planner = NotePlanner(sines, None, None, 1, 16)
    events = [(0, on(60)), (1, program(73)), (2, on(60)), (3, on(40, channel=9)), (4, off(60)),
              (5, mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01])), (6, on(62))]
    programs = [0] * 16
    planned = plan_events(planner, events, programs, [0] * 16, 1)
    plans = [p for _, _, p in planned]
    assert plans[1] is None and plans[4] is None and plans[5] is None
    violin, flute = plans[0].timbre, plans[2].timbre
    assert violin != flute and plans[6].timbre == violin  # program 0 plays the violin; the reset brings it back
    assert plans[3].one_shot and not plans[0].one_shot
    assert programs[0] == 0, "the lists follow the events"
    assert planned_keys(planned) == [plans[0].key, plans[2].key, plans[3].key, plans[6].key]
    assert isinstance(plans[0], NotePlan) and plans[0] is planner.plan(0, 0, 0, 60, 100)


def test_a_block_asks_the_cache_once_for_each_note_it_plays(sines):
    cache = NoteCache()
    engine = make_engine(sines, sample_rate=RATE, instrument="flute", cache=cache)
    engine.process([(0, on(60)), (10, on(60)), (20, on(64))], 256)
    assert cache.hits + cache.misses == 2 and engine.stats["generated"] == 2
    assert engine.stats["from_cache"] == 0
    engine.process([(0, on(60))], 256)
    assert cache.hits == 1 and engine.stats["from_cache"] == 0, "a note made in this run is not counted again"


def test_render_counts_each_note_once(tmp_path, caplog):
    preset = make_preset(tmp_path / "tiny")
    song = tmp_path / "one.mid"
    track = mido.MidiTrack([on(60), mido.Message("note_off", note=60, time=240)])
    mido.MidiFile(tracks=[track]).save(song)
    caplog.set_level(logging.INFO)
    args = ["render", str(song), "--preset", str(preset), "--cache-dir", str(tmp_path / "cache"), "--quiet",
            "--rate", "16000"]
    for name in ("a.wav", "b.wav"):
        assert main([*args, "-o", str(tmp_path / name)]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote")]
    assert "1 notes generated, 0 from the cache" in lines[0]
    assert "0 notes generated, 1 from the cache" in lines[1]


class Asked:
    """A live supply's prefetch, noted; refuses once `room` notes are asked for."""

    def __init__(self, room: int):
        self.room, self.asked = room, []

    def prefetch(self, plan) -> bool:
        if len(self.asked) >= self.room:
            return False
        self.asked.append(plan.key[1])
        return True


def test_a_files_notes_are_asked_for_ahead_of_the_playhead_in_file_order(sines):
    engine = make_engine(sines, sample_rate=RATE, instrument="flute")
    second = RATE  # frames
    timed = [(0, on(60)), (0, on(64)), (2 * second, on(67)), (3 * second, on(60)), (9 * second, on(72))]
    ahead = PlayAhead(engine, timed, horizon=5.0)
    engine.supply = asked = Asked(room=2)
    ahead.supply = asked
    ahead.advance(0)
    assert asked.asked == [60, 64], "the generator is full: the rest wait"
    asked.room = 10
    ahead.advance(256)
    assert asked.asked == [60, 64, 67], "each note once; the one 9 s away not yet"
    ahead.advance(4 * second + 256)
    assert asked.asked == [60, 64, 67, 72]
