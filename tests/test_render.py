"""singsynth render and instruments: real MIDI files to WAV, warm disk cache, one-line errors, no partial files."""
import json
import logging

import pytest
from engine_fixtures import THIRD_PARTY_MIDI

from singsynth.cli import main
from singsynth.io import wav
from singsynth.io.midi import read_midi
from singsynth.io.wav import read_wav
from singsynth.synth import schedule

DEMO = THIRD_PARTY_MIDI[0].parents[3] / "examples" / "demo.mid"


@pytest.fixture(scope="module")
def preset_dir(tiny_preset_dir):
    return tiny_preset_dir


def run(*argv) -> int:
    return main([str(a) for a in argv])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("midi", THIRD_PARTY_MIDI[:2] + [DEMO], ids=lambda p: p.name)
def test_render_writes_the_whole_file_and_never_clips(preset_dir, tmp_path, midi):
    out = tmp_path / "out.wav"
    assert run("render", midi, "-o", out, "--preset", preset_dir, "--no-disk-cache", "--quiet", "--rate", 22050) == 0
    rate, audio = read_wav(out)
    last = read_midi(midi)[-1][0]
    assert rate == 22050 and audio.shape[1] == 2
    assert last < len(audio) / rate < last + 6.0  # to the end of the last release, plus a short tail
    assert 0 < abs(audio).max() < 1.0
    assert abs(audio[-int(0.2 * rate):]).max() == 0  # the tail is silence: every note ended
    assert not [p for p in tmp_path.iterdir() if p.name != "out.wav"]  # no temporary file left
    assert out.stat().st_mode & 0o044  # an ordinary file others may read, not the temporary file's 0600


def test_pitch_bend_file_renders_as_float_wav_with_preload(preset_dir, tmp_path):
    out = tmp_path / "bend.wav"
    assert run("render", THIRD_PARTY_MIDI[2], "-o", out, "--preset", preset_dir, "--no-disk-cache", "--quiet",
               "--rate", 16000, "--float", "--preload", "--instrument", "violin") == 0
    rate, audio = read_wav(out)
    assert rate == 16000 and audio.dtype.name == "float32" and 0 < abs(audio).max() < 1.0


def test_second_render_starts_warm_from_the_disk_cache(preset_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    args = ["render", THIRD_PARTY_MIDI[0], "--preset", preset_dir, "--cache-dir", tmp_path / "cache", "--quiet",
            "--rate", 16000]
    assert run(*args, "-o", tmp_path / "a.wav") == 0
    assert run(*args, "-o", tmp_path / "b.wav") == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote")]
    assert " 0 notes generated" not in lines[0] and " 0 notes generated" in lines[1]
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_bad_midi_file_is_one_line_and_exit_2(preset_dir, tmp_path, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    assert run("render", bad, "-o", tmp_path / "o.wav", "--preset", preset_dir) == 2
    line = one_error_line(capsys)
    assert "bad.mid" in line and "not a valid MIDI file" in line
    assert not (tmp_path / "o.wav").exists()


def test_unknown_instrument_names_the_close_ones(preset_dir, tmp_path, capsys):
    assert run("render", THIRD_PARTY_MIDI[0], "-o", tmp_path / "o.wav", "--preset", preset_dir,
               "--instrument", "fluet", "--no-disk-cache") == 2
    line = one_error_line(capsys)
    assert "close: Flute (see: singsynth instruments)" in line


@pytest.mark.parametrize("output, match", [("o.mp3", "unknown audio file type"), ("nowhere/o.wav", "does not exist")])
def test_bad_output_is_refused_before_rendering(preset_dir, tmp_path, capsys, output, match):
    assert run("render", THIRD_PARTY_MIDI[0], "-o", tmp_path / output, "--preset", preset_dir) == 2
    assert match in one_error_line(capsys)


def test_flac_without_soundfile_says_what_to_install(preset_dir, tmp_path, capsys):
    try:
        import soundfile  # noqa: F401
        pytest.skip("soundfile is installed: FLAC works")
    except (ImportError, OSError):
        pass
    assert run("render", THIRD_PARTY_MIDI[0], "-o", tmp_path / "o.flac", "--preset", preset_dir) == 2
    assert "pip install soundfile" in one_error_line(capsys)


def test_interrupted_render_leaves_no_file(preset_dir, tmp_path, monkeypatch):
    def interrupted(engine, events, write, **kwargs):
        write(engine.process([], 1024))
        raise KeyboardInterrupt
    monkeypatch.setattr(schedule, "render_file", interrupted)
    assert run("render", THIRD_PARTY_MIDI[0], "-o", tmp_path / "o.wav", "--preset", preset_dir,
               "--no-disk-cache", "--quiet") == 130
    assert list(tmp_path.iterdir()) == []


def test_instruments_lists_gm_programs_and_ranges(preset_dir, capsys):
    assert run("instruments", "--preset", preset_dir) == 0
    text = capsys.readouterr().out
    flute = next(line for line in text.splitlines() if "GM  73" in line)
    assert flute.count("Flute") == 1 and "pitches 60-96" in flute and "channel 10" in text  # its GM name said once
    assert run("instruments", "--preset", preset_dir, "--json") == 0
    rows = json.loads(capsys.readouterr().out)["instruments"]
    assert [(r["name"], r["gm_program"], r["pitch_range"]) for r in rows][:2] == [("Flute", 73, [60, 96]),
                                                                                 ("Violin", 40, [55, 103])]


def test_wav_past_4_gib_is_refused_before_rendering(preset_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(wav, "MAX_WAV_DATA", 16000 * 4)  # as if 4 GiB were one second at 16 kHz
    assert run("render", THIRD_PARTY_MIDI[0], "-o", tmp_path / "o.wav", "--preset", preset_dir, "--rate", 16000,
               "--no-disk-cache") == 2
    assert "pass the 4 GiB a WAV file can hold; lower --rate" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_wav_writer_stops_at_4_gib_and_leaves_no_file(preset_dir, tmp_path, capsys, monkeypatch):
    # the file's events fit, its release tail does not: the writer itself refuses
    last = read_midi(THIRD_PARTY_MIDI[0])[-1][0]
    monkeypatch.setattr(wav, "MAX_WAV_DATA", int((last + 0.1) * 16000) * 4)
    assert run("render", THIRD_PARTY_MIDI[0], "-o", tmp_path / "o.wav", "--preset", preset_dir, "--rate", 16000,
               "--no-disk-cache", "--quiet") == 2
    assert "o.wav: " in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("folder", ["o.wav", "out"])
def test_output_that_is_a_folder_is_refused(preset_dir, tmp_path, capsys, folder):
    (tmp_path / folder).mkdir()
    assert run("render", THIRD_PARTY_MIDI[0], "-o", tmp_path / folder, "--preset", preset_dir) == 2
    line = one_error_line(capsys)
    assert "is a folder; give a file name in it" in line and "unknown audio file type" not in line


def test_note_that_cannot_be_written_is_one_line_and_leaves_no_file(preset_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(wav, "MAX_WAV_DATA", 1000)  # the writer refuses, as on a full disk
    assert run("note", "--preset", preset_dir, "--instrument", "0", "-o", tmp_path / "n.wav") == 2
    assert "n.wav: " in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []
