"""Note cache: velocity steps, LRU bound in bytes, disk cache warm start, damaged files ignored, a note
read back from disk looping as it did when generated."""
import dataclasses

import mido
import numpy as np
import pytest
from engine_fixtures import SinePreset, make_preset

from singsynth.model.sustain_loop import crossfade, loop_fall
from singsynth.preset import load_preset
from singsynth.synth.cache import Note, NoteCache, preset_hash, quantize_velocity, step_velocity
from singsynth.synth.engine import Engine, make_engine
from singsynth.synth.note_supply import NoteSupply


@pytest.fixture(scope="module")
def preset(tiny_preset):
    return tiny_preset



class SaggingSine(SinePreset):
    """The sine test double, sinking 3 dB a second: an organ note from a model that sags."""

    def _notes(self, weights, pitch, velocity):
        notes = super()._notes(weights, pitch, velocity)
        return notes * (10 ** (-3 * np.arange(notes.shape[1]) / self.sample_rate / 20)).astype(np.float32)

def note(samples: int) -> Note:
    return Note(np.zeros(samples, dtype=np.float32))


def key(pitch: int):
    return ((1.0, 0.0), pitch, 5)


def test_velocities_share_steps_and_the_ends_are_exact():
    steps = [quantize_velocity(v, 16) for v in range(1, 128)]
    assert steps[0] == 0 and steps[-1] == 15 and steps == sorted(steps) and len(set(steps)) == 16
    assert step_velocity(0, 16) == 1 and step_velocity(15, 16) == 127
    for v in range(1, 128):  # the generated velocity is within half a step of the played one
        assert abs(step_velocity(quantize_velocity(v, 16), 16) - v) <= 126 / 15 / 2 + 1e-9


def test_memory_stays_under_its_byte_bound_evicting_least_recently_used():
    cache = NoteCache(max_bytes=3 * 4000)
    for pitch in range(3):
        cache.put(key(pitch), note(1000))
    assert cache.get(key(0)) is not None  # 0 is now the most recently used
    cache.put(key(3), note(1000))
    assert key(1) not in cache and all(key(p) in cache for p in (0, 2, 3))
    assert cache.nbytes == 12000 <= cache.max_bytes
    cache.put(key(4), note(100_000))  # larger than the whole cache: not kept
    assert key(4) not in cache and cache.nbytes <= cache.max_bytes
    assert (cache.hits, cache.misses) == (1, 0)


def _render(engine: Engine) -> np.ndarray:
    events = [(0, mido.Message("note_on", note=60 + i, velocity=30 + 20 * i)) for i in range(4)]
    events.append((0, mido.Message("note_on", channel=9, note=38, velocity=90)))
    return np.concatenate([engine.process(events if i == 0 else [], 4096) for i in range(4)])


def test_disk_cache_makes_a_second_run_start_warm_and_identical(preset, tmp_path):
    first = make_engine(preset, 44100, cache=NoteCache.for_preset(preset, 44100, root=tmp_path))
    cold = _render(first)
    assert first.stats["generated"] == 5
    # stored at the preset's rate, in a folder a person can tell: the preset's name and the start of its hash, and as
    # played at 44.1 kHz beside them
    folder = tmp_path / f"{preset.name}-{preset_hash(preset)[:12]}"
    assert len(list((folder / str(preset.sample_rate)).glob("*.npy"))) == 5
    assert len(list((folder / "played-44100").glob("*.npy"))) == 5 and len(list(tmp_path.rglob("*.npy"))) == 10
    second = make_engine(preset, 44100, cache=NoteCache.for_preset(preset, 44100, root=tmp_path))
    warm = _render(second)
    assert second.stats["generated"] == 0 and second.stats["disk_hits"] == 5
    np.testing.assert_array_equal(warm, cold)


def test_notes_cached_at_one_rate_play_warm_at_any_other(preset, tmp_path):
    _render(make_engine(preset, 44100, cache=NoteCache.for_preset(preset, 44100, root=tmp_path)))
    for rate in (48000, 22050):
        other = make_engine(preset, rate, cache=NoteCache.for_preset(preset, rate, root=tmp_path))
        out = _render(other)
        assert other.stats["generated"] == 0 and other.stats["disk_hits"] == 5 and np.abs(out).max() > 0.01
        fresh = make_engine(preset, rate, cache=NoteCache())  # the same notes generated for this rate
        np.testing.assert_array_equal(out, _render(fresh))
        again = make_engine(preset, rate, cache=NoteCache.for_preset(preset, rate, root=tmp_path))
        np.testing.assert_array_equal(_render(again), out)  # read back as played at this rate: the same
    assert sorted(p.name for p in next(tmp_path.iterdir()).iterdir()) == [
        "16000", "played-22050", "played-44100", "played-48000"]


def test_a_note_read_back_from_disk_gets_its_loop_decay_and_crossfade_made_again(preset, tmp_path):
    cache = NoteCache.for_preset(preset, 16000, root=tmp_path)
    supply = NoteSupply(preset, cache, 16000)
    t = np.arange(supply.note_len) / 16000
    fading = (0.3 * np.sin(2 * np.pi * 220 * t) * 10 ** (-12 * t / 20)).astype(np.float32)  # -12 dB a second
    cache.save(key(60), fading)  # only the samples go to disk
    cache.clear()
    note = supply.cached(key(60))
    assert cache.disk_hits == 1 and note.done
    loop_seconds = (supply.loop[1] - supply.loop[0]) / 16000
    assert note.loop_decay == pytest.approx(10 ** (-12 * loop_seconds / 20), rel=0.05)
    np.testing.assert_array_equal(note.xfade, crossfade(note.data, supply.loop, note.loop_decay))



def test_a_note_of_an_instrument_that_sustains_holds_its_loop_steady(preset, tmp_path):
    """The model's organ may sag where the organ it learnt holds (calibration.py marks which sustain): held,
    it holds steady; a blend holds steady only if all of its instruments sustain."""
    first, *rest = preset.instruments
    sustaining = dataclasses.replace(preset, instruments=[dataclasses.replace(first, sustains=True), *rest])
    cache = NoteCache.for_preset(sustaining, 16000, root=tmp_path)
    supply = NoteSupply(sustaining, cache, 16000)
    t = np.arange(supply.note_len) / 16000
    fading = (0.3 * np.sin(2 * np.pi * 220 * t) * 10 ** (-3 * t / 20)).astype(np.float32)  # -3 dB a second
    blend = ((0.5, 0.5), 60, 5)
    for k in (key(60), blend):
        cache.save(k, fading)
    cache.clear()
    assert supply.cached(key(60)).loop_decay == 1.0
    assert supply.cached(blend).loop_decay < 0.9


def test_a_sustaining_instruments_new_note_is_levelled_once_and_read_back_the_same(tmp_path):
    """Generated, the note of an instrument that sustains gets a level loop; saved so, it comes back from disk
    sample for sample (not levelled twice), and the cache of a preset without the mark is another."""
    base = load_preset(make_preset(tmp_path / "p"))
    marked = [dataclasses.replace(i, sustains=not i.drums) for i in base.instruments]
    sagging = SaggingSine.wrap(base, marked)
    cold_supply = NoteSupply(sagging, NoteCache.for_preset(sagging, 16000, root=tmp_path), 16000)
    cold = cold_supply.generate([key(60)])[key(60)]
    assert abs(loop_fall(cold.data, cold_supply.loop)) < 0.1 and cold.loop_decay == 1.0
    warm_supply = NoteSupply(sagging, NoteCache.for_preset(sagging, 16000, root=tmp_path), 16000)
    warm = warm_supply.cached(key(60))
    np.testing.assert_array_equal(warm.data, cold.data)
    np.testing.assert_array_equal(warm.xfade, cold.xfade)
    plain = SaggingSine.wrap(base)
    assert preset_hash(plain) != preset_hash(sagging)
    note = NoteSupply(plain, NoteCache.for_preset(plain, 16000, root=tmp_path), 16000).generate(
        [key(60)])[key(60)]
    assert loop_fall(note.data, cold_supply.loop) > 1.0 and note.loop_decay < 1.0

def test_damaged_or_pickled_cache_files_are_ignored_and_rewritten(preset, tmp_path):
    make_engine(preset, 16000, cache=NoteCache.for_preset(preset, 16000, root=tmp_path)).process(
        [(0, mido.Message("note_on", note=60, velocity=100)), (0, mido.Message("note_on", note=62, velocity=100))],
        64)
    first, second = sorted(tmp_path.rglob("*.npy"))
    first.write_bytes(b"\x93NUMPY garbage")
    np.save(second, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    engine = make_engine(preset, 16000, cache=NoteCache.for_preset(preset, 16000, root=tmp_path))
    engine.process([(0, mido.Message("note_on", note=60, velocity=100)),
                    (0, mido.Message("note_on", note=62, velocity=100))], 64)
    assert engine.stats["generated"] == 2 and engine.stats["disk_hits"] == 0
    assert np.load(first, allow_pickle=False).dtype == np.float32  # the samples as the model made them
    assert np.load(second, allow_pickle=False).dtype == np.float32


def test_preset_hash_changes_with_the_weights(tmp_path):
    a = load_preset(make_preset(tmp_path / "a", seed=0))
    b = load_preset(make_preset(tmp_path / "b", seed=1))
    assert preset_hash(a) != preset_hash(b)
    assert preset_hash(a) == preset_hash(load_preset(tmp_path / "a"))
