"""Presets at 48 kHz beside SING's 16 kHz: a render at the preset's own rate plays its notes as they are made (a clean
start included), other rates resample them, and presets saved before the model knew its rate still load as 16 kHz."""
import json

import mido
import numpy as np
import pytest
import soxr
import torch
from engine_fixtures import INSTRUMENTS, make_preset

from singsynth.cli import main
from singsynth.io.wav import read_wav
from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import load_preset, save_preset
from singsynth.train.attacks import step_and_rise


@pytest.fixture(scope="module")
def preset48(tmp_path_factory):
    torch.manual_seed(0)
    model = SING(get_config("sing-unittest48", n_instruments=len(INSTRUMENTS)))
    with torch.no_grad():
        model.decoder.controls.bias[0] = 3.0  # loud from the first frame: only the rise keeps the start clean
    folder = tmp_path_factory.mktemp("rates") / "tiny48"
    return save_preset(folder, model, list(INSTRUMENTS), {"name": "tiny48", "license": "MIT"})


@pytest.fixture(scope="module")
def one_note(tmp_path_factory):
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.Message("program_change", program=73),
                            mido.Message("note_on", note=69, velocity=100, time=480),  # at 0.5 s
                            mido.Message("note_off", note=69, velocity=0, time=960)])
    song.tracks.append(track)
    path = tmp_path_factory.mktemp("midi") / "one.mid"
    song.save(path)
    return path


def render(preset, midi, out, rate):
    assert main(["render", str(midi), "-o", str(out), "--preset", str(preset), "--rate", str(rate), "--float",
                 "--no-disk-cache", "--quiet"]) == 0
    got, audio = read_wav(out)
    assert got == rate
    return audio.sum(axis=1)


def band_db(x, rate, lo, hi):
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    hz = np.fft.rfftfreq(len(x), 1 / rate)
    return 10 * np.log10(spectrum[(hz >= lo) & (hz < hi)].sum() + 1e-20)


def test_a_48_khz_preset_says_its_rate_and_starts_its_notes_cleanly(preset48, one_note, tmp_path):
    assert load_preset(preset48).sample_rate == 48_000
    assert json.loads((preset48 / "preset.json").read_text())["model"]["sample_rate"] == 48_000
    audio = render(preset48, one_note, tmp_path / "48.wav", 48_000)
    assert not audio[:24_000].any()  # nothing before the note-on at 0.5 s
    assert audio[24_000] == 0.0  # the note's own first sample is silence
    step, _ = step_and_rise(audio[24_000:24_000 + 48_000], 48_000)
    assert step <= 0.05


def test_other_rates_resample_a_48_khz_preset(preset48, one_note, tmp_path):
    """44.1 kHz keeps the band below 20 kHz, 16 kHz the band below 7 kHz, each as the 48 kHz render has it."""
    full = render(preset48, one_note, tmp_path / "48.wav", 48_000)[24_000:72_000]
    for rate, top in ((44_100, 19_000), (16_000, 7_000)):
        audio = render(preset48, one_note, tmp_path / f"{rate}.wav", rate)
        start = rate // 2
        part = audio[start:start + rate]
        reference = soxr.resample(full, 48_000, rate)[:rate]
        for lo, hi in ((0, 2000), (2000, top)):
            assert abs(band_db(part, rate, lo, hi) - band_db(reference, rate, lo, hi)) < 1.0, (rate, lo, hi)


def test_a_preset_saved_before_models_knew_their_rate_loads_as_16_khz(tmp_path, one_note):
    folder = make_preset(tmp_path / "old")
    meta = json.loads((folder / "preset.json").read_text())
    del meta["model"]["sample_rate"]
    (folder / "preset.json").write_text(json.dumps(meta))
    preset = load_preset(folder)
    assert preset.sample_rate == 16_000 and preset.config.sample_rate == 16_000
    audio = render(folder, one_note, tmp_path / "old.wav", 48_000)
    assert np.abs(audio[24_000:]).max() > 0
    assert load_preset("default").config.sample_rate == 16_000  # the shipped 16 kHz default, saved the old way
