"""singsynth note: one note written as render writes it in a song (rate, channels, release, effects, format),
its instrument name checked before the model is read."""
from __future__ import annotations

import mido
import numpy as np
import pytest

from singsynth.cli import main
from singsynth.io.wav import read_wav
from singsynth.preset import Preset


def one_note_file(path, pitch: int, velocity: int, beats: int):
    """A type 0 file of one note held `beats` beats (0.5 s each at the default tempo), ending at its note-off."""
    song = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack([mido.Message("note_on", note=pitch, velocity=velocity, time=0),
                            mido.Message("note_off", note=pitch, time=480 * beats),
                            mido.MetaMessage("end_of_track", time=0)])
    song.tracks.append(track)
    song.save(path)
    return path


@pytest.mark.parametrize("options", [[], ["--rate", "22050", "--24-bit", "--reverb-send", "90"]],
                         ids=["defaults", "22050-24bit-reverb"])
def test_note_writes_what_render_writes_for_that_note(tiny_preset_dir, tmp_path, options):
    common = ["--preset", str(tiny_preset_dir), "--instrument", "violin", "--no-disk-cache", *options]
    assert main(["note", "--pitch", "67", "--velocity", "90", "--duration", "1.5", "-o", str(tmp_path / "note.wav"),
                 *common]) == 0
    song = one_note_file(tmp_path / "one.mid", 67, 90, beats=3)
    assert main(["render", str(song), "-o", str(tmp_path / "song.wav"), "--quiet", *common]) == 0
    assert (tmp_path / "note.wav").read_bytes() == (tmp_path / "song.wav").read_bytes()
    rate, audio = read_wav(tmp_path / "note.wav")
    assert rate == (22050 if options else 48000) and audio.shape[1] == 2 and len(audio) > 1.5 * rate
    assert abs(audio).max() > 0.01


def test_a_bad_name_is_refused_before_the_model_is_read(tiny_preset_dir, tmp_path, capsys, monkeypatch):
    def no_model(self):
        raise AssertionError("the model was read for a name that is not there")
    monkeypatch.setattr(Preset, "load_model", no_model)
    assert main(["note", "--preset", str(tiny_preset_dir), "--instrument", "kazooxyz", "-o",
                 str(tmp_path / "n.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no instrument 'kazooxyz'" in err[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("options, message", [(["--duration", "0"], "--duration 0: give the seconds"),
                                              (["--duration", "nan"], "--duration nan"),
                                              (["--rate", "1000"], "sample rate 1000 is out of range"),
                                              ([], "--instrument: give the instrument to play")])
def test_bad_note_options_are_one_line(tiny_preset_dir, tmp_path, capsys, options, message):
    instrument = [] if not options else ["--instrument", "flute"]
    assert main(["note", "--preset", str(tiny_preset_dir), *instrument, "-o", str(tmp_path / "n.wav"),
                 *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix, option, subtype", [(".wav", [], "PCM_16"), (".wav", ["--24-bit"], "PCM_24"),
                                                     (".wav", ["--float"], "FLOAT"), (".flac", [], "PCM_16"),
                                                     (".flac", ["--24-bit"], "PCM_24")])
def test_sample_formats(tiny_preset_dir, tmp_path, suffix, option, subtype):
    soundfile = pytest.importorskip("soundfile")
    out = tmp_path / f"n{suffix}"
    assert main(["note", "--preset", str(tiny_preset_dir), "--instrument", "flute", "--pitch", "72", "--duration",
                 "0.5", "--no-disk-cache", "--rate", "16000", *option, "-o", str(out)]) == 0
    info = soundfile.info(str(out))
    assert info.subtype == subtype and info.samplerate == 16000 and info.channels == 2
    reference = tmp_path / "float.wav"
    main(["note", "--preset", str(tiny_preset_dir), "--instrument", "flute", "--pitch", "72", "--duration", "0.5",
          "--no-disk-cache", "--rate", "16000", "--float", "-o", str(reference)])
    exact, _ = soundfile.read(str(reference), dtype="float64")
    got, _ = soundfile.read(str(out), dtype="float64")
    step = {"PCM_16": 2 ** -15, "PCM_24": 2 ** -23, "FLOAT": 0}[subtype]
    assert got.shape == exact.shape and np.abs(got - exact).max() <= step
