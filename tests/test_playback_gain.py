"""A preset plays at a synth's level: the engine scales by the preset's playback gain, and a preset trained on
SoundFont notes gets the gain at which the engine plays those very notes as loud as FluidSynth plays them."""
import dataclasses
import json
import shutil
import subprocess
import wave

import mido
import numpy as np
import pytest
from engine_fixtures import SinePreset, make_preset

from singsynth.preset import PresetError, load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.train.data import read_note_wav
from singsynth.train.export import FLUIDSYNTH_GAIN, playback_gain

RATE = 44_100


def mono(preset, seconds: float, hold: float = 3.0) -> np.ndarray:
    """Middle C struck at 0 and let go at `hold` on channel 1 at its default controllers, as a mono mix."""
    engine = make_engine(preset, sample_rate=RATE, cache=NoteCache())
    events = {0: [(0, mido.Message("note_on", note=60, velocity=127))],
              int(hold * RATE) // 1024: [(int(hold * RATE) % 1024, mido.Message("note_off", note=60))]}
    blocks = [engine.process(events.get(b, []), 1024) for b in range(int(seconds * RATE) // 1024 + 1)]
    return np.concatenate(blocks).mean(axis=1)


def rms(x: np.ndarray, t0: float, t1: float) -> float:
    return float(np.sqrt(np.mean(x[int(t0 * RATE):int(t1 * RATE)].astype(np.float64) ** 2)))


@pytest.fixture(scope="module")
def sines(tiny_preset):
    return SinePreset.wrap(tiny_preset)


def test_the_engine_plays_at_the_presets_playback_gain(sines):
    quieter = dataclasses.replace(sines, playback_gain=0.25)
    a, b = mono(sines, 2.0), mono(quieter, 2.0)
    assert rms(a, 0.1, 1.9) > 0.05
    np.testing.assert_allclose(b, 0.25 * a, atol=1e-6)


@pytest.mark.parametrize("value", ['"loud"', "0", "-1", "NaN", "true"])
def test_a_bad_playback_gain_is_refused_in_one_line(tmp_path, value):
    folder = make_preset(tmp_path / "p")
    meta = (folder / "preset.json").read_text()
    (folder / "preset.json").write_text(meta.replace('"output_gain"', f'"playback_gain": {value}, "output_gain"'))
    with pytest.raises(PresetError, match='"playback_gain" is .*give a finite number above 0'):
        load_preset(folder)


def test_playback_gain_follows_the_datas_synth_gain(tmp_path):
    assert playback_gain(tmp_path) == 1.0  # no render.json: NSynth, played as it is
    (tmp_path / "render.json").write_text("{not json")
    assert playback_gain(tmp_path) == 1.0
    (tmp_path / "render.json").write_text(json.dumps({"settings": {"synth_gain": 1.0}}))
    at_one = playback_gain(tmp_path)
    (tmp_path / "render.json").write_text(json.dumps({"settings": {"synth_gain": 0.5}}))
    assert playback_gain(tmp_path) == pytest.approx(2 * at_one)
    # volume 100 (square law) and a centred equal-power pan, undone: FluidSynth's 0.2 over what they leave
    assert at_one == pytest.approx(FLUIDSYNTH_GAIN / ((100 / 127) ** 2 * np.sqrt(0.5)))


class DataNotePreset(SinePreset):
    """Test double of a model that plays its training note exactly: the calibration is what is tested."""
    note: np.ndarray | None = None

    def _notes(self, weights, pitch, velocity) -> np.ndarray:
        return np.tile(self.note, (len(np.atleast_1d(pitch)), 1))


def test_a_soundfont_note_plays_as_loud_as_fluidsynth_plays_it(rendered_dataset, soundfont, tmp_path):
    if shutil.which("fluidsynth") is None:
        pytest.skip("the fluidsynth program is not installed (Debian package fluidsynth)")
    note = read_note_wav(next((rendered_dataset / "audio").glob("*acoustic_grand_piano-060-127.wav"))) / 32768
    preset = DataNotePreset.wrap(load_preset(make_preset(tmp_path / "p")))
    preset.note = note.astype(np.float32)
    preset.playback_gain = playback_gain(rendered_dataset)
    ours = mono(preset, 4.5)

    midi = mido.MidiFile()
    track = mido.MidiTrack()
    ticks = midi.ticks_per_beat * 2  # 120 bpm: a beat is 0.5 s
    track += [mido.Message("program_change", program=0, time=0), mido.Message("note_on", note=60, velocity=127),
              mido.Message("note_off", note=60, time=3 * ticks), mido.MetaMessage("end_of_track", time=3 * ticks)]
    midi.tracks.append(track)
    midi.save(tmp_path / "c4.mid")
    subprocess.run(["fluidsynth", "-ni", "-R", "0", "-C", "0", "-r", str(RATE), "-F", str(tmp_path / "ref.wav"),
                    str(soundfont), str(tmp_path / "c4.mid")], check=True, capture_output=True, timeout=120)
    with wave.open(str(tmp_path / "ref.wav"), "rb") as f:
        ref = np.frombuffer(f.readframes(f.getnframes()), "<i2").reshape(-1, 2).mean(axis=1) / 32768
    # the held part: before the engine's loop and either release; the model's 16 kHz note has no partial above
    # 8 kHz, which FluidSynth's 44.1 kHz render keeps, hence the 1 dB
    level = 20 * np.log10(rms(ours, 0.05, 2.8) / rms(ref, 0.05, 2.8))
    assert abs(level) < 1.0, level
