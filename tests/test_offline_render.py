"""render_file (every note made first, then mixed in OFFLINE_BLOCK-frame blocks) sounds as the block loop
(BLOCK-frame blocks, as the live path and the tests play): the same length, every sample within 1e-6."""
from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
from engine_fixtures import THIRD_PARTY_MIDI, gm_timeline

from singsynth.gm import CC
from singsynth.io.midi import read_midi
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.schedule import BLOCK, OFFLINE_BLOCK, Schedule, play_through, render_file

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.mid"


def cc(t, channel, control, value):
    return (t, mido.Message("control_change", channel=channel, control=control, value=value))


def note(t, channel, key, velocity, length):
    return [(t, mido.Message("note_on", channel=channel, note=key, velocity=velocity)),
            (t + length, mido.Message("note_off", channel=channel, note=key))]


def everything() -> list:
    """Bends (with a bend range change), the sustain pedal, volume, expression and pan changes, program
    changes mid-file, drums, a key struck again while it sounds, and a chord at the end."""
    events = [(0.0, mido.Message("program_change", channel=0, program=73)),
              (0.0, mido.Message("program_change", channel=1, program=40))]
    events += note(0.0, 0, 72, 100, 1.3) + note(0.1, 1, 60, 80, 2.5)
    events += [(0.4 + i * 0.01, mido.Message("pitchwheel", channel=1, pitch=int(8191 * np.sin(i / 7))))
               for i in range(120)]
    events += [cc(0.5, 1, CC.RPN, 0), cc(0.5, 1, CC.RPN_FINE, 0), cc(0.5, 1, CC.DATA_ENTRY, 12)]
    events += [cc(0.6, 0, CC.SUSTAIN, 127)] + note(0.7, 0, 74, 90, 0.2) + note(0.9, 0, 76, 70, 0.2)
    events += [cc(1.6, 0, CC.SUSTAIN, 0), cc(1.0, 0, CC.VOLUME, 60), cc(1.2, 0, CC.EXPRESSION, 90),
               cc(1.4, 0, CC.PAN, 10), cc(1.5, 1, CC.PAN, 120)]
    events += [(1.8, mido.Message("program_change", channel=0, program=40))] + note(1.9, 0, 67, 110, 0.8)
    events += note(2.0, 0, 67, 60, 0.5)  # struck again while it sounds
    for i, key in enumerate((36, 38, 42, 46, 49, 36, 38, 42)):
        events += note(0.25 * i, 9, key, 70 + 7 * i, 0.1)
    events += [m for key in (60, 64, 67, 72) for m in note(3.0, 0, key, 127, 0.6)]
    return sorted(events, key=lambda e: e[0])


def loud() -> list:
    """Enough loud voices at once that the limiter engages."""
    events = [(0.0, mido.Message("program_change", channel=c, program=40)) for c in range(4)]
    for c in range(4):
        for i, key in enumerate(range(55, 85, 3)):
            events += note(0.05 * i, c, key + c, 127, 1.5)
    return sorted(events, key=lambda e: e[0])


@pytest.fixture(scope="module")
def preset(tiny_preset):
    return tiny_preset


def both(preset, events, gain: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    cache = NoteCache()  # shared: both play the same notes
    make_engine(preset, cache=cache).preload(events)
    loop, offline = [], []
    play_through(make_engine(preset, cache=cache, master_gain=gain), Schedule(events, 48000, BLOCK), loop.append)
    frames = render_file(make_engine(preset, cache=cache, master_gain=gain), events, offline.append)
    offline = np.concatenate(offline)
    assert frames == len(offline)
    return np.concatenate(loop), offline


@pytest.mark.parametrize("name", ["everything", "gm", "demo", *[p.name for p in THIRD_PARTY_MIDI]])
def test_offline_render_matches_the_block_loop(preset, name):
    events = everything() if name == "everything" else gm_timeline() if name == "gm" else read_midi(
        DEMO if name == "demo" else THIRD_PARTY_MIDI[0].parent / name)
    loop, offline = both(preset, events)
    assert loop.shape == offline.shape
    assert np.abs(loop).max() > 0.01
    assert np.abs(loop - offline).max() < 1e-6


def test_offline_render_limits_as_the_block_loop(preset):
    loop, offline = both(preset, loud(), gain=8.0)
    assert np.abs(loop).max() > 0.95  # the limiter held it
    assert loop.shape == offline.shape
    assert np.abs(loop - offline).max() < 1e-6


def test_a_file_ends_its_tail_after_the_last_sound_whatever_the_block(preset):
    events = note(0.0, 0, 72, 100, 0.3)
    for block in (256, BLOCK, OFFLINE_BLOCK):
        out = []
        play_through(make_engine(preset), Schedule(events, 48000, block), out.append)
        out = np.concatenate(out)
        last = int(np.flatnonzero(out.any(axis=1))[-1])
        assert len(out) == last + 1 + int(0.25 * 48000), block


def test_a_render_without_a_disk_cache_makes_each_note_once_even_past_the_memory_cache(preset):
    events = [m for i, key in enumerate(range(60, 72)) for m in note(0.3 * i, 0, key, 100, 0.2)]
    note_bytes = make_engine(preset).supply.note_len * 4
    engine = make_engine(preset, cache=NoteCache(max_bytes=int(4.5 * note_bytes)))  # holds 4 of the 12 notes
    render_file(engine, sorted(events, key=lambda e: e[0]), lambda block: None)
    assert engine.stats["generated"] == 12
