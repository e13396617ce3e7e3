"""SoundFont renderer with the real FluidSynth and FluidR3Mono_GM.sf3; the dataset command."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from singsynth.cli import main
from singsynth.train.data import NSynthData
from singsynth.train.fluid_render import FluidRenderer
from singsynth.train.soundfont import render_dataset


def f0_autocorrelation(x: np.ndarray, sr: int = 16000) -> float:
    """Fundamental from the first autocorrelation peak near the maximum (between 30 Hz and 2 kHz)."""
    x = x[1600:9600] - x[1600:9600].mean()  # 0.1..0.6 s: past the attack, before much decay
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[:len(x)]
    lo, hi = sr // 2000, sr // 30
    lag = lo + int(np.argmax(ac[lo:hi] > 0.9 * ac[lo:hi].max()))
    while ac[lag + 1] > ac[lag]:
        lag += 1
    a, b, c = ac[lag - 1:lag + 2]
    return sr / (lag + 0.5 * (a - c) / (a - 2 * b + c))


def test_format_and_metadata(rendered_dataset: Path):
    examples = json.loads((rendered_dataset / "examples.json").read_text())
    piano, violin, kit = ("fluidr3mono_acoustic_grand_piano", "fluidr3mono_violin", "fluidr3mono_standard_drum_kit")
    expected = {f"{i}-{p:03d}-{v:03d}" for i in (piano, violin, kit) for p in range(58, 63) for v in (25, 127)}
    assert set(examples) == expected
    for name, ex in examples.items():
        assert ex["note_str"] == name and "-" not in ex["instrument_str"]
        assert ex["sample_rate"] == 16000 and ex["instrument_source_str"] == "synthetic" and ex["qualities_str"] == []
        assert ex["soundfont"] == "FluidR3Mono_GM.sf3"
        with wave.open(str(rendered_dataset / "audio" / f"{name}.wav")) as f:
            assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (1, 2, 16000, 64000)
    p = examples[f"{piano}-060-127"]
    assert (p["instrument_name"], p["gm_program"], p["drums"], p["instrument_family_str"]) == \
        ("Acoustic Grand Piano", 0, False, "Piano")
    assert (p["pitch"], p["velocity"]) == (60, 127)
    d = examples[f"{kit}-060-025"]
    assert (d["instrument_name"], d["gm_program"], d["drums"], d["instrument_family_str"]) == \
        ("Standard Drum Kit", None, True, "drums")
    assert examples[f"{violin}-058-025"]["instrument_family_str"] == "Strings"
    assert not [p for p in rendered_dataset.rglob("*") if p.name.endswith(".tmp")]

    data = NSynthData(rendered_dataset)
    assert [i.id for i in data.instruments] == [piano, kit, violin]
    assert data.instruments[1].drums and data.instruments[1].gm_program is None
    audio = data.load_audio()
    assert audio.shape == (30, 64000)
    # FluidSynth's own level, not normalised: nothing near full scale, nothing silent
    peaks = np.abs(audio.astype(np.int32)).max(axis=1)
    assert (peaks > 32768 * 10 ** (-60 / 20)).all() and (peaks < 32767).all()


def test_louder_velocity_has_more_energy(rendered_dataset: Path):
    data = NSynthData(rendered_dataset)
    audio = data.load_audio().astype(np.float64)
    rms = {(n.instrument_id, n.pitch, n.velocity): np.sqrt((audio[i] ** 2).mean()) for i, n in enumerate(data.notes)}
    for (inst, pitch, velocity), value in rms.items():
        if velocity == 25:
            assert rms[(inst, pitch, 127)] > 1.5 * value, (inst, pitch)


def test_piano_pitch(rendered_dataset: Path):
    data = NSynthData(rendered_dataset, instruments=["Acoustic Grand Piano"])
    for i, note in enumerate(data.notes):
        expected = 440 * 2 ** ((note.pitch - 69) / 12)
        cents = 1200 * np.log2(f0_autocorrelation(data.read_note(i)) / expected)
        assert abs(cents) < 50, (note.name, cents)


def test_notes_are_isolated(soundfont: Path):
    # Pad 7 (halo) rings past the 4 s and, on a reused synth, carries state into the next pad note.
    alone = FluidRenderer([soundfont]).render(0, 0, 94, 60, 100)
    piano_alone = FluidRenderer([soundfont]).render(0, 0, 0, 60, 100)
    renderer = FluidRenderer([soundfont])
    before = renderer.render(0, 0, 94, 61, 127)
    assert np.abs(before[-1600:]).max() > 1e-3
    renderer.render(0, 0, 94, 60, 127)
    np.testing.assert_allclose(renderer.render(0, 0, 94, 60, 100), alone, atol=1e-6)
    np.testing.assert_allclose(renderer.render(0, 0, 0, 60, 100), piano_alone, atol=1e-6)
    assert np.abs(alone).max() > 1e-2 and np.abs(piano_alone).max() > 1e-2
    drum = renderer.render(0, 128, 0, 38, 127, channel=9)
    assert np.abs(drum).max() > 1e-2 and not np.allclose(drum, piano_alone)


def test_silent_notes_dropped_and_state_rebuilt(soundfont: Path, tmp_path: Path):
    out = tmp_path / "organ"
    # FluidR3's Church Organ has no sample for the top key: it renders as silence
    first = render_dataset([soundfont], out, programs=[19], drums=False, pitches=(108, 108), velocities=(127,),
                           jobs=1, progress=False)
    assert (first["rendered"], first["silent"], first["notes"]) == (0, 1, 0)
    assert (out / ".silent" / "fluidr3mono_church_organ-108-127").exists()
    second = render_dataset([soundfont], out, programs=[19], drums=False, pitches=(60, 60), velocities=(127,),
                            jobs=1, progress=False)
    assert (second["rendered"], second["silent"], second["notes"]) == (1, 0, 1)
    examples = json.loads((out / "examples.json").read_text())
    (out / "examples.json").unlink()
    third = render_dataset([soundfont], out, programs=[19], drums=False, pitches=(60, 108), velocities=(127,),
                           jobs=1, progress=False)
    assert third["skipped"] == 2
    new = json.loads((out / "examples.json").read_text())
    assert examples.items() <= new.items()


def _run_cli(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "singsynth.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_resume_after_sigkill(soundfont: Path, tmp_path: Path):
    out = tmp_path / "data"
    args = ["dataset", "soundfont", str(soundfont), "--out", str(out), "--programs", "0", "--no-drums",
            "--pitches", "50-90", "--velocities", "25,127", "--jobs", "2", "--quiet"]
    proc = _run_cli(args)
    deadline = time.monotonic() + 60
    while len(list((out / "audio").glob("*.wav"))) < 10:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (out / "examples.json").exists()
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "audio").glob("*.wav")}
    assert 10 <= len(finished) < 82

    proc = _run_cli(args)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "skipped as done" in stdout
    assert int(stdout.split("skipped as done ")[1].split(",")[0]) >= len(finished)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    for name, mtime in finished.items():
        assert (out / "audio" / name).stat().st_mtime_ns == mtime, name
    data = NSynthData(out)
    silent = len(os.listdir(out / ".silent"))
    assert len(data.notes) + silent == 41 * 2
    assert data.load_audio().shape == (len(data.notes), 64000)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dying with the parent is a Linux prctl")
def test_a_worker_whose_parent_is_already_gone_exits(soundfont: Path):
    # A run killed while its pool starts: the worker cannot ask to die with a parent that is gone, so it
    # must notice and leave instead of rendering its queued notes as an orphan.
    code = "import sys; from singsynth.train.render_workers import init_worker; init_worker([sys.argv[1]], 20, parent=-1)"
    result = subprocess.run([sys.executable, "-c", code, str(soundfont)], capture_output=True, timeout=120)
    assert result.returncode == 1, result.stderr


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_bad_soundfont_path(tmp_path: Path, capsys):
    missing = tmp_path / "missing.sf2"
    assert main(["dataset", "soundfont", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert str(missing) in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()
    not_sf = tmp_path / "notes.sf2"
    not_sf.write_text("hello")
    assert main(["dataset", "soundfont", str(not_sf), "--out", str(tmp_path / "out")]) == 2
    assert "not a SoundFont" in _one_line_error(capsys)


def test_truncated_soundfont(soundfont: Path, tmp_path: Path, capsys):
    cut = tmp_path / "cut.sf3"
    cut.write_bytes(soundfont.read_bytes()[:50_000])
    assert main(["dataset", "soundfont", str(cut), "--out", str(tmp_path / "out")]) == 2
    assert "truncated" in _one_line_error(capsys)


@pytest.mark.parametrize("option, value, message", [
    ("--programs", "0,200", "200 is outside 0..127"),
    ("--programs", "5-2", "runs backwards"),
    ("--programs", "piano", "not a number"),
    ("--pitches", "100-20", "within 0..127"),
    ("--velocities", "0,127", "outside 1..127"),
])
def test_bad_arguments(soundfont: Path, tmp_path: Path, capsys, option: str, value: str, message: str):
    assert main(["dataset", "soundfont", str(soundfont), "--out", str(tmp_path / "o"), option, value]) == 2
    assert message in _one_line_error(capsys)


def test_info(rendered_dataset: Path, capsys):
    assert main(["dataset", "info", str(rendered_dataset)]) == 0
    out = capsys.readouterr().out
    assert "30 notes, 3 instruments" in out and "fluidr3mono_standard_drum_kit  (drums" in out
    assert main(["dataset", "info", str(rendered_dataset / "audio")]) == 2
    assert "examples.json: missing" in _one_line_error(capsys)
