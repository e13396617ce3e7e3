"""NSynth-format reader: a small folder written by hand with the stdlib wave module."""
from __future__ import annotations

import json
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import synthetic

from singsynth.preset import Instrument
from singsynth.train.data import NOTE_SAMPLES, DataError, NSynthData, split_of

INSTRUMENTS = {
    # id: (family, source, pitches)
    "keyboard_acoustic_004": ("keyboard", "acoustic", range(58, 64)),
    "bass_synthetic_009": ("bass", "synthetic", range(30, 34)),
}
VELOCITIES = (25, 100)


def _note_audio(pitch: int, velocity: int) -> np.ndarray:
    t = np.arange(NOTE_SAMPLES) / 16000
    f0 = 440 * 2 ** ((pitch - 69) / 12)
    return (velocity / 127 * 16000 * np.sin(2 * np.pi * f0 * t)).astype(np.int16)


def _write(path: Path, audio: np.ndarray, rate: int = 16000, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(audio.astype("<i2").tobytes())


def make_nsynth(root: Path, extra: dict | None = None) -> Path:
    (root / "audio").mkdir(parents=True)
    examples = {}
    for n, (inst, (family, source, pitches)) in enumerate(INSTRUMENTS.items()):
        for pitch in pitches:
            for velocity in VELOCITIES:
                name = f"{inst}-{pitch:03d}-{velocity:03d}"
                examples[name] = {"note_str": name, "instrument": n, "instrument_str": inst, "pitch": pitch,
                                  "velocity": velocity, "sample_rate": 16000, "instrument_family_str": family,
                                  "instrument_source_str": source, "qualities_str": [], **(extra or {})}
                _write(root / "audio" / f"{name}.wav", _note_audio(pitch, velocity))
    (root / "examples.json").write_text(json.dumps(examples))
    return root


@pytest.fixture
def nsynth(tmp_path: Path) -> Path:
    return make_nsynth(tmp_path / "nsynth")


def test_reader(nsynth: Path):
    data = NSynthData(nsynth)
    assert len(data.notes) == (6 + 4) * 2
    assert [n.name for n in data.notes] == sorted(n.name for n in data.notes)
    assert [i.id for i in data.instruments] == ["bass_synthetic_009", "keyboard_acoustic_004"]
    bass, keys = data.instruments
    assert keys == Instrument(1, "keyboard_acoustic_004", "keyboard_acoustic_004", None, drums=False,
                              pitch_range=(58, 63), source="acoustic", family="keyboard")
    assert bass.pitch_range == (30, 33)
    first = data.notes[0]
    assert (first.instrument_id, first.instrument, first.pitch, first.velocity) == ("bass_synthetic_009", 0, 30, 25)

    audio = data.load_audio()
    assert audio.dtype == np.int16 and audio.shape == (len(data.notes), NOTE_SAMPLES)
    for i, note in enumerate(data.notes):
        np.testing.assert_array_equal(audio[i], _note_audio(note.pitch, note.velocity))
    note = data.read_note(3)
    assert note.dtype == np.float32 and note.shape == (NOTE_SAMPLES,)
    np.testing.assert_allclose(note, audio[3] / 32768.0)
    np.testing.assert_array_equal(data.load_audio([3, 0]), audio[[3, 0]])


def test_filters(nsynth: Path):
    data = NSynthData(nsynth, instruments=["keyboard_acoustic_004"], pitches=(60, 70), velocities=[100])
    assert [n.name for n in data.notes] == [f"keyboard_acoustic_004-{p:03d}-100" for p in range(60, 64)]
    assert [n.instrument for n in data.notes] == [0] * 4
    assert data.instruments[0].pitch_range == (60, 63)
    assert {n.instrument_id for n in NSynthData(nsynth, families=["bass"]).notes} == {"bass_synthetic_009"}
    with pytest.raises(DataError, match="no notes match"):
        NSynthData(nsynth, velocities=[127])
    with pytest.raises(DataError, match="no notes match"):
        NSynthData(nsynth, instruments=["organ_electronic_001"])


def test_rendered_metadata(tmp_path: Path):
    root = make_nsynth(tmp_path / "r", {"instrument_name": "Acoustic Grand Piano", "gm_program": 0, "drums": False,
                                        "soundfont": "x.sf2"})
    data = NSynthData(root, instruments=["Acoustic Grand Piano"])
    assert len(data.instruments) == 2  # both fake instruments carry that name
    assert data.instruments[0].gm_program == 0 and data.instruments[0].name == "Acoustic Grand Piano"
    assert data.instruments[0].source == "x.sf2"
    assert len(NSynthData(root, instruments=["acoustic_grand_piano"]).notes) == len(data.notes)


def test_splits_cover_notes_and_keep_velocities_together(nsynth: Path):
    data = NSynthData(nsynth)
    splits = {name: set(data.split(name)) for name in ("train", "valid", "test")}
    assert sum(len(s) for s in splits.values()) == len(data.notes)
    assert set().union(*splits.values()) == set(data.split("all"))
    for name, indices in splits.items():
        pairs = data.pairs(name)
        assert pairs == sorted({(data.notes[i].instrument_id, data.notes[i].pitch) for i in indices})
        for i in indices:
            assert split_of(data.notes[i].instrument_id, data.notes[i].pitch) == name
    with pytest.raises(ValueError):
        data.split("training")


def test_split_stable_and_proportions():
    pairs = [(f"inst_{i:03d}", p) for i in range(100) for p in range(21, 109)]
    counts = Counter(split_of(i, p) for i, p in pairs)
    n = len(pairs)
    assert abs(counts["train"] / n - 0.8) < 0.02
    assert abs(counts["valid"] / n - 0.1) < 0.02
    assert abs(counts["test"] / n - 0.1) < 0.02
    # pinned: a change of hash would silently move pairs between splits of existing data sets
    assert [split_of("keyboard_acoustic_004", p) for p in range(40, 52)] == [
        "train", "valid", "train", "train", "train", "train", "train", "train", "test", "train", "train", "valid"]
    assert split_of("a", 60, valid=1.0, test=0.0) == "valid"
    assert split_of("a", 60, valid=0.0, test=1.0) == "test"


def test_every_drum_key_trains_and_a_preset_split_can_be_taken(tmp_path: Path):
    root = synthetic.make_nsynth(tmp_path / "kit", pitches=range(35, 60))
    examples = json.loads((root / "examples.json").read_text())
    for ex in examples.values():
        ex["drums"] = ex["instrument_str"] == "synth_sine_000"
    (root / "examples.json").write_text(json.dumps(examples))
    data = NSynthData(root)
    kit = {i for i, d in enumerate(data.instruments) if d.drums}
    assert kit and not any(data.notes[i].instrument in kit for s in ("valid", "test") for i in data.split(s))
    held = [i for s in ("valid", "test") for i in data.split(s)]
    assert held and all(split_of(data.notes[i].instrument_id, data.notes[i].pitch) != "train" for i in held)
    # a preset's lists replace the hash: the pairs named there, and only those, are held out
    data.hold_out({"valid": {("synth_sine_000", 40)}, "test": {("synth_bright_001", 41), ("gone", 1)}})
    assert data.pairs("valid") == [("synth_sine_000", 40)]
    assert data.pairs("test") == [("synth_bright_001", 41)]
    assert len(data.split("train")) == len(data.notes) - 4  # two pairs, two velocities each


def test_split_does_not_move_when_notes_are_dropped(nsynth: Path):
    full = NSynthData(nsynth)
    part = NSynthData(nsynth, instruments=["bass_synthetic_009"], velocities=[25])
    full_split = {(full.notes[i].instrument_id, full.notes[i].pitch): s
                  for s in ("train", "valid", "test") for i in full.split(s)}
    for s in ("train", "valid", "test"):
        for i in part.split(s):
            assert full_split[(part.notes[i].instrument_id, part.notes[i].pitch)] == s


def test_missing_folder_and_json(tmp_path: Path):
    with pytest.raises(DataError, match="no such data set folder"):
        NSynthData(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"examples\.json: missing"):
        NSynthData(tmp_path / "empty")


def test_bad_json(nsynth: Path):
    (nsynth / "examples.json").write_text('{"a": ')
    with pytest.raises(DataError, match=r"examples\.json: not valid JSON") as info:
        NSynthData(nsynth)
    assert "\n" not in str(info.value)


def test_missing_key(nsynth: Path):
    examples = json.loads((nsynth / "examples.json").read_text())
    del next(iter(examples.values()))["pitch"]
    (nsynth / "examples.json").write_text(json.dumps(examples))
    with pytest.raises(DataError, match="missing pitch"):
        NSynthData(nsynth)


def test_missing_wav(nsynth: Path):
    wav = nsynth / "audio" / "bass_synthetic_009-031-025.wav"
    wav.unlink()
    with pytest.raises(DataError, match="bass_synthetic_009-031-025.wav: missing"):
        NSynthData(nsynth)
    # filtered out, the missing note is not needed
    assert len(NSynthData(nsynth, instruments=["keyboard_acoustic_004"]).notes) == 12


@pytest.mark.parametrize("rate, channels, samples, message", [
    (44100, 1, NOTE_SAMPLES, "44100 Hz"),
    (16000, 2, NOTE_SAMPLES, "2 channel"),
    (16000, 1, NOTE_SAMPLES - 3, "63997 samples"),
])
def test_bad_wav_format(nsynth: Path, rate: int, channels: int, samples: int, message: str):
    name = "keyboard_acoustic_004-060-100"
    wav = nsynth / "audio" / f"{name}.wav"
    _write(wav, np.zeros(samples * channels, np.int16), rate=rate, channels=channels)
    data = NSynthData(nsynth)
    index = [n.name for n in data.notes].index(name)
    data.read_note(index - 1)
    for call in (lambda: data.read_note(index), lambda: data.load_audio()):
        with pytest.raises(DataError, match=message) as info:
            call()
        assert str(wav) in str(info.value)


def test_not_a_wav(nsynth: Path):
    wav = nsynth / "audio" / "keyboard_acoustic_004-060-100.wav"
    wav.write_bytes(b"not audio at all")
    data = NSynthData(nsynth)
    with pytest.raises(DataError, match="not a PCM wav"):
        data.load_audio()


def test_wrong_sample_rate_in_json(nsynth: Path):
    examples = json.loads((nsynth / "examples.json").read_text())
    next(iter(examples.values()))["sample_rate"] = 44100
    (nsynth / "examples.json").write_text(json.dumps(examples))
    with pytest.raises(DataError, match=r"examples\.json: .*sample_rate 44100"):
        NSynthData(nsynth)
