"""Calibration against the notes a model learnt: level corrections stored per instrument and velocity (per key for
a kit), applied to every note a preset plays and refused in one line when damaged; and which instruments sustain."""
import json

import numpy as np
import pytest
import torch

from singsynth.cli import main
from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, PresetError, load_preset, save_preset
from singsynth.preset.levels import Levels, note_gains
from singsynth.synth.cache import preset_hash
from singsynth.train.calibration import (DRUM_KEY_LIMIT_DB, LIMIT_DB, Heard, _levels, calibration_notes,
                                         loudest_window_energy, measure_levels)
from singsynth.train.data import NSynthData
from singsynth.train.eval_notes import held_out_pairs

PIANO = Levels(((25, -2.0), (127, 4.0)))
KIT = Levels(((25, 6.0), (127, 6.0)), keys=((36, ((25, 10.0), (127, 12.0))),))


def test_a_curve_is_interpolated_between_velocities_and_held_beyond_them():
    assert PIANO.db(60, 25) == -2.0 and PIANO.db(60, 127) == 4.0
    assert PIANO.db(60, 76) == pytest.approx(1.0)
    assert PIANO.db(60, 1) == -2.0 and PIANO.db(60, 200) == 4.0
    assert KIT.db(36, 76) == pytest.approx(11.0) and KIT.db(38, 76) == 6.0  # a key without figures: the kit's
    assert Levels().db(60, 100) == 0.0 and not Levels()


def test_an_octaves_correction_adds_to_the_velocitys():
    levels = Levels(((25, 0.0), (127, 4.0)), registers=((42, -2.0), (66, 2.0)))
    assert levels.db(42, 127) == 2.0 and levels.db(54, 25) == pytest.approx(0.0) and levels.db(90, 127) == 6.0
    assert Levels.from_dict(json.loads(json.dumps(levels.to_dict()))) == levels
def test_levels_survive_the_preset_file():
    assert Levels.from_dict(json.loads(json.dumps(KIT.to_dict()))) == KIT
    assert Levels().to_dict() == {}


def test_a_blend_plays_at_the_blend_of_its_instruments_gains():
    weights = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    gains = note_gains([PIANO, Levels()], weights, [60, 60, 60], [127, 127, 127])
    assert gains == pytest.approx([10 ** 0.2, 1.0, (10 ** 0.2 + 1) / 2])
    assert (note_gains([Levels(), Levels()], weights, [60] * 3, [127] * 3) == 1).all()


def _preset(folder, levels=(Levels(), Levels())):
    torch.manual_seed(0)
    model = SING(get_config("sing-unittest", n_instruments=2))
    instruments = [Instrument(0, "Piano", "piano", 0, levels=levels[0]),
                   Instrument(1, "Kit", "kit", None, drums=True, pitch_range=(35, 81), levels=levels[1])]
    return load_preset(save_preset(folder, model, instruments, {"name": "p"}))


def test_notes_play_at_their_corrected_level(tmp_path):
    bare = _preset(tmp_path / "bare")
    levelled = _preset(tmp_path / "levelled", (PIANO, KIT))
    weights = bare.instrument_weights([0, 0, 1, 1])
    pitch, velocity = [60, 60, 36, 38], [25, 127, 127, 76]
    ratio = levelled.generate(weights, pitch, velocity) / bare.generate(weights, pitch, velocity)
    expected = [10 ** (db / 20) for db in (-2.0, 4.0, 12.0, 6.0)]
    assert np.nanmedian(ratio, axis=1) == pytest.approx(expected, rel=1e-5)
    levelled.full_precision = True  # as streamed chunks are made (model/precision.py)
    streamed = np.concatenate(list(levelled.stream(weights, pitch, velocity)), axis=1)
    assert np.allclose(streamed, levelled.generate(weights, pitch, velocity), atol=1e-5)


def test_cached_notes_follow_the_levels(tmp_path):
    assert preset_hash(_preset(tmp_path / "a")) != preset_hash(_preset(tmp_path / "b", (PIANO, KIT)))
    assert preset_hash(_preset(tmp_path / "c", (PIANO, KIT))) == preset_hash(_preset(tmp_path / "d", (PIANO, KIT)))


@pytest.mark.parametrize("field, value, words", [
    ("level_db", {"100": 99.0}, "level_db at velocity 100 is 99.0"),
    ("level_db", {"loud": 1.0}, "velocity 'loud' is not a MIDI number"),
    ("level_db", [1.0], "level_db is not an object"),
    ("key_level_db", {"200": {"100": 1.0}}, "key '200' is not a MIDI number"),
    ("key_level_db", {"36": {"100": float("nan")}}, "is nan"),
])
def test_damaged_levels_are_refused_in_one_line(tmp_path, field, value, words):
    folder = _preset(tmp_path / "p").path
    meta = json.loads((folder / "preset.json").read_text())
    meta["instruments"][1][field] = value
    (folder / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="bad \"instruments\" list") as error:
        load_preset(folder)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_the_loudest_window_is_found():
    note = np.zeros((1, 16_000 * 4))
    note[0, 16_000:16_000 + 3_200] = 0.5  # 200 ms at 0.5: inside one 400 ms window
    assert loudest_window_energy(note, 16_000) == pytest.approx([0.25 * 3_200])


def test_calibration_brings_each_velocity_to_its_notes_loudness(synthetic_data, tmp_path):
    """Trained briefly, the model is far from its data's level; after calibration its notes at each velocity are
    as loud as the truth's, unless the correction reached its limit."""
    assert main(["train", "--data", str(synthetic_data), "--out", str(tmp_path / "p"), "--config", "sing-unittest",
                 "--decoder", "harmonic", "--epochs", "0,0,1", "--checkpoint", str(tmp_path / "ck"),
                 "--quiet"]) == 0
    preset = load_preset(tmp_path / "p")
    assert all(i.levels.curve for i in preset.instruments)  # training measured them
    assert all(i.sustains for i in preset.instruments)  # the synthetic notes hold steady until 3 s
    data = NSynthData(synthetic_data)
    data.hold_out(held_out_pairs(preset))
    indices = calibration_notes(data)
    notes = [data.notes[i] for i in indices]
    assert {n.velocity for n in notes} == {50, 100}
    truth = loudest_window_energy(data.load_audio(indices) / 32768.0, preset.sample_rate)
    played = loudest_window_energy(preset.generate(preset.instrument_weights([n.instrument for n in notes]),
                                                   [n.pitch for n in notes], [n.velocity for n in notes]),
                                   preset.sample_rate)
    for inst in preset.instruments:
        for velocity, correction in inst.levels.curve:
            group = [k for k, n in enumerate(notes) if n.instrument == inst.index and n.velocity == velocity]
            db = 10 * np.log10(truth[group].sum() / played[group].sum())
            assert abs(correction) >= 12.0 or abs(db) < 0.05, (inst.name, velocity, correction, db)
        # the octaves only shape the range: where the curve stopped at its limit, they do not carry it further
        assert abs(np.mean([db for _, db in inst.levels.registers] or [0.0])) < 0.5




class ShapedData(NSynthData):
    """The synthetic notes, with instrument 1's multiplied by an envelope over time (seconds)."""
    envelope = staticmethod(lambda t: np.ones_like(t))

    def load_audio(self, indices, progress=False):
        audio = super().load_audio(indices).astype(np.float64)
        shape = self.envelope(np.arange(audio.shape[1]) / 16_000)
        for row, index in enumerate(indices):
            if self.notes[index].instrument == 1:
                audio[row] *= shape
        return audio.astype(np.int16)


@pytest.mark.parametrize("envelope", [
    lambda t: 10 ** (-6 * t / 20),  # falls 6 dB a second: a decaying note
    lambda t: np.where(t < 0.5, 1.0, 1e-4),  # dies away in half a second to a flat -80 dB: not held either
])
def test_an_instrument_whose_notes_fade_or_die_away_does_not_sustain(synthetic_data, tmp_path, envelope):
    data = type("Shaped", (ShapedData,), {"envelope": staticmethod(envelope)})(synthetic_data)
    torch.manual_seed(0)
    model = SING(get_config("sing-unittest", n_instruments=2))
    instruments = [Instrument(k, d.name, d.id, None) for k, d in enumerate(data.instruments)]
    preset = load_preset(save_preset(tmp_path / "p", model, instruments, {"name": "p"}))
    measured = measure_levels(preset, data, calibration_notes(data))
    assert [i.sustains for i in measured] == [True, False]


def test_a_drum_key_far_too_quiet_is_raised_past_the_melodic_limit():
    """A kit's quiet key (high percussion learnt 18 dB under its source) is brought to its level; a melodic
    instrument stops at LIMIT_DB, and no key goes past DRUM_KEY_LIMIT_DB."""
    notes = [Heard(70, 100, 1.0, 10 ** -1.8, False), Heard(36, 100, 1.0, 1.0, False), Heard(75, 100, 1.0, 1e-4, False)]
    keys = dict(_levels(notes, drums=True).keys)
    assert keys[70] == ((100, 18.0),) and keys[36] == ((100, 0.0),)
    assert keys[75] == ((100, DRUM_KEY_LIMIT_DB),)
    assert _levels(notes[:1], drums=False).curve == ((100, LIMIT_DB),)
