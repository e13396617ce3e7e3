"""Live generation in a worker process (synth/worker.py) on a real tiny preset: notes arrive, and a worker that
dies is started again while the live path plays on."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from engine_fixtures import make_preset, on

from singsynth.preset import load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_live_engine

RATE = 48000
BLOCK = 256


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return load_preset(make_preset(tmp_path_factory.mktemp("worker") / "tiny"), lazy=True)


def play_until(engine, condition, seconds: float = 120.0) -> list[np.ndarray]:
    """Blocks played until `condition()` (a hang guard, not a timing assertion)."""
    blocks, end = [], time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        blocks.append(engine.process([], BLOCK))
        time.sleep(0.005)
    return blocks


def test_a_killed_worker_is_started_again_and_its_notes_arrive_while_a_stand_in_plays(preset, tmp_path):
    live = make_live_engine(preset, sample_rate=RATE, instrument="violin", worker=True,
                            cache=NoteCache(disk_dir=tmp_path))
    try:
        generator = live.supply.generator
        assert live.supply.wait_ready(120)
        first = generator.pid
        live.process([(0, on(67))], BLOCK)
        play_until(live, lambda: live.stats["pending"] == 0)
        assert live.stats["generated"] == 1
        assert preset._model is None, "the model is built in the worker, not in the player's process"
        os.kill(first, signal.SIGKILL)
        heard = [live.process([(0, on(71))], BLOCK)]  # cold: a stand-in (67) sounds meanwhile
        assert live.stats["stood_in"] == 1
        heard += play_until(live, lambda: live.stats["replaced"] == 1)
        play_until(live, lambda: live.stats["pending"] == 0)
        assert generator.restarts == 1 and generator.pid != first
        assert live.stats["generated"] == 2 and live.stats["pending"] == 0
        # the live path played on: every block from the note-on to the crossfade has sound
        assert min(np.abs(block).max() for block in heard) > 0
        own = [v for v in live.voices if not v.killed and v.key == 71]
        assert len(own) == 1 and own[0].note.done and np.abs(own[0].note.data).max() > 0
    finally:
        live.close()
    assert not generator._process.is_alive()


def test_a_note_from_the_worker_equals_the_note_streamed_in_this_process(preset):
    notes = []
    for worker in (True, False):
        engine = make_live_engine(preset, sample_rate=RATE, instrument="flute", worker=worker,
                                  cache=NoteCache())
        try:
            engine.process([(0, on(72, 90))], BLOCK)
            play_until(engine, lambda: engine.stats["pending"] == 0)
            key = engine.planner.plan(0, 0, 0, 72, 90).key
            notes.append(engine.cache.get(key))
        finally:
            engine.close()
    in_worker, here = notes
    assert in_worker.done and here.done and np.abs(here.data).max() > 0
    np.testing.assert_array_equal(in_worker.data, here.data)
    np.testing.assert_array_equal(in_worker.xfade, here.xfade)
    assert in_worker.loop_decay == here.loop_decay
