"""singsynth learn on bad input: one line naming the file or option, exit code 2, nothing written; and what is
warned about or said once but not refused."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile

from learn_fixtures import make_harmonic_preset, one_shot, write_folder
from singsynth.cli import main
from singsynth.train.learn.recordings import pitch_from_name
from singsynth.train.learn.sfz import parse_sfz


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_harmonic_preset(tmp_path_factory.mktemp("base") / "base")


def learn(source, out, base, *extra) -> int:
    return main(["learn", str(source), "--name", "Glass", "--out", str(out), "--preset", str(base), "--steps", "2",
                 "--quiet", *extra])


def refused(capsys, source, tmp_path, base, *extra) -> str:
    """The one line a refused run prints; checks exit code 2, no traceback and nothing written beside the source."""
    before = sorted(p.name for p in tmp_path.iterdir())
    assert learn(source, tmp_path / "out", base, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("singsynth learn: error: ") and "\n" not in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    return err


def test_an_empty_folder(base, tmp_path, capsys):
    (tmp_path / "shots").mkdir()
    assert "empty folder" in refused(capsys, tmp_path / "shots", tmp_path, base)


def test_a_folder_without_audio(base, tmp_path, capsys):
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "notes.txt").write_text("C4")
    assert "no WAV or FLAC files" in refused(capsys, tmp_path / "shots", tmp_path, base)


def test_a_corrupt_wav(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    (folder / "64.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    err = refused(capsys, folder, tmp_path, base)
    assert "64.wav" in err and "not readable as audio" in err


def test_a_truncated_wav(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    whole = (folder / "62.wav").read_bytes()
    (folder / "62.wav").write_bytes(whole[:len(whole) // 2])
    err = refused(capsys, folder, tmp_path, base)
    assert "62.wav" in err and "truncated" in err


def test_a_truncated_flac(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    soundfile.write(str(folder / "64.flac"), one_shot(64), 16_000)
    whole = (folder / "64.flac").read_bytes()
    (folder / "64.flac").write_bytes(whole[:len(whole) // 2])
    err = refused(capsys, folder, tmp_path, base)
    assert "64.flac" in err and "not readable" in err


def test_a_silent_file(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    soundfile.write(str(folder / "64.wav"), np.zeros(16_000, np.float32), 16_000)
    err = refused(capsys, folder, tmp_path, base)
    assert "64.wav" in err and "silent" in err


def test_two_files_for_one_key_and_velocity(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    soundfile.write(str(folder / "C4.wav"), one_shot(60), 16_000)
    err = refused(capsys, folder, tmp_path, base)
    assert "60.wav" in err and "C4.wav" in err and "key 60 at velocity 100" in err


def test_a_pitch_that_cannot_be_told(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    noise = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.3
    soundfile.write(str(folder / "hiss.wav"), noise, 16_000)
    err = refused(capsys, folder, tmp_path, base)
    assert "hiss.wav" in err and "pitch cannot be told" in err


def test_a_name_the_base_has(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    assert main(["learn", str(folder), "--name", "violin", "--out", str(tmp_path / "out"), "--preset", str(base),
                 "--quiet"]) == 2
    assert "already has an instrument of that name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_out_folder_that_is_no_preset_is_left_alone(base, tmp_path, capsys):
    folder = write_folder(tmp_path / "shots", pitches=[60, 62])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    assert "not a preset" in refused(capsys, folder, tmp_path, base)
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"


def test_an_sfz_with_missing_samples(base, tmp_path, capsys):
    write_folder(tmp_path / "samples", pitches=[60])
    (tmp_path / "kit.sfz").write_text("<region> sample=samples/60.wav pitch_keycenter=60\n"
                                      "<region> sample=samples/62.wav pitch_keycenter=62\n")
    err = refused(capsys, tmp_path / "kit.sfz", tmp_path, base)
    assert "1 of 2 samples missing" in err and "62.wav" in err


def test_a_soundfont_without_program(base, tmp_path, capsys):
    (tmp_path / "x.sf2").write_bytes(b"RIFF")
    assert "--program" in refused(capsys, tmp_path / "x.sf2", tmp_path, base)


def test_unknown_sfz_opcodes_are_warned_once_each_and_learnt_past(base, tmp_path, caplog):
    write_folder(tmp_path / "samples", pitches=[57, 60, 64, 67])
    regions = "\n".join(f"<region> sample={k}.wav pitch_keycenter={k} loop_mode=one_shot" for k in (57, 60, 64, 67))
    (tmp_path / "inst.sfz").write_text(f"<control> default_path=samples/\n<global> ampeg_release=0.4\n{regions}\n")
    with caplog.at_level(logging.INFO):
        assert learn(tmp_path / "inst.sfz", tmp_path / "out", base) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(w.split("opcode ")[1].split()[0] for w in warnings) == ["ampeg_release", "loop_mode"]
    assert (tmp_path / "out" / "preset.json").is_file()


def test_a_file_longer_than_a_note_is_cut_and_said_once(base, tmp_path, caplog):
    folder = write_folder(tmp_path / "shots", pitches=[57, 60, 64, 67], seconds=5.0)
    with caplog.at_level(logging.INFO):
        assert learn(folder, tmp_path / "out", base) == 0
    said = [r.getMessage() for r in caplog.records if "longer than the model's note" in r.getMessage()]
    assert said == ["4 of 4 recordings are longer than the model's note; each is cut to its first 64000 samples"]


def test_pitches_come_from_names_or_are_measured_and_the_log_says_which(base, tmp_path, caplog):
    folder = write_folder(tmp_path / "shots", pitches=[57, 60], name="C{pitch}_v90.flac")  # not a note name
    write_folder(folder, pitches=[64], name="E4_v90.flac")
    with caplog.at_level(logging.INFO):
        assert learn(folder, tmp_path / "out", base) == 0
    assert "1 keys from their names, 2 measured from the audio (C57_v90.flac: 57, C60_v90.flac: 60)" in caplog.text


@pytest.mark.parametrize("stem, expected", [("60", (60, None)), ("C4", (60, None)), ("F#3_v90", (54, 90)),
                                            ("Bb2-v64", (46, 64)), ("violin_A4_vel100", (69, 100)),
                                            ("C-1", (0, None)), ("hiss", (None, None)), ("128", (None, None))])
def test_names_give_keys_and_velocities(stem, expected):
    assert pitch_from_name(stem) == expected


def test_sfz_regions_take_what_their_headers_set(tmp_path):
    (tmp_path / "inst.sfz").write_text("// a comment\n<control> default_path=s/\n<group> hivel=90 volume=-6\n"
                                       "<region> sample=a b.wav pitch_keycenter=c4 tune=-20\n"
                                       "<group>\n<region> sample=c.wav key=64\n")
    first, second = parse_sfz(tmp_path / "inst.sfz")
    assert (first.sample, first.key, first.velocity, first.tune_cents, first.volume_db) == (
        tmp_path / "s" / "a b.wav", 60, 90, -20.0, -6.0)
    assert (second.sample, second.key, second.velocity, second.volume_db) == (tmp_path / "s" / "c.wav", 64, 100, 0.0)
