"""singsynth learn: a new instrument learnt into a copy of a tiny preset, the base's instruments untouched, the
preset written whole and playable by name."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from learn_fixtures import make_harmonic_preset, write_folder, write_unheard
from singsynth.cli import main
from singsynth.io.wav import read_wav
from singsynth.model.sing import SING
from singsynth.preset import load_preset
from singsynth.train.learn import rows

STEPS = "25"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_harmonic_preset(tmp_path_factory.mktemp("base") / "base")


@pytest.fixture(scope="module")
def learnt(base, tmp_path_factory):
    """One learn run from a folder of eight stereo 44.1 kHz one-shots named by key."""
    root = tmp_path_factory.mktemp("learn")
    folder = write_unheard(base, root / "shots")
    out = root / "mine"
    code = main(["learn", str(folder), "--name", "Glass", "--out", str(out), "--preset", str(base),
                 "--steps", STEPS, "--quiet"])
    assert code == 0
    return out


def test_the_new_instrument_gets_closer_to_the_recordings_than_its_start(learnt):
    record = json.loads((learnt / "preset.json").read_text())["learnt"]
    assert record["steps"] == int(STEPS)
    assert record["distance"]["end"] < 0.9 * record["distance"]["start"]
    assert record["start"] == "sf_violin"  # the nearest base instrument
    figures = record["held_out_figures"]
    assert figures["notes"] == 2  # every 4th of eight recordings: keys 57 and 61, in the gaps
    assert record["held_out"] == [57, 61]
    assert figures["learnt"] > 0 and figures["sampler"] > 0 and figures["base"] > 0


def test_the_base_instruments_play_bit_for_bit_as_before(base, learnt):
    old, new = load_preset(base), load_preset(learnt)
    assert [i.name for i in new.instruments] == [i.name for i in old.instruments] + ["Glass"]
    pitches, velocities = [40, 60, 60, 81], [25, 100, 127, 90]
    for preset in (old, new):
        preset.full_precision = True
    for index in range(len(old.instruments)):
        a = old.generate(old.instrument_weights([index] * 4), pitches, velocities)
        b = new.generate(new.instrument_weights([index] * 4), pitches, velocities)
        assert np.array_equal(a, b), old.instruments[index].name
    glass = new.generate(new.instrument_weights([3]), [60], [100])
    assert np.abs(glass).max() > 1e-3


def test_the_stored_base_tensors_are_the_same_bytes(base, learnt):
    old, new = rows.read_state(base / "model.safetensors"), rows.read_state(learnt / "model.safetensors")
    assert set(new) == set(old) | {rows.CONTROLS}  # the base has no control offsets: zeros for its instruments
    assert not new[rows.CONTROLS][:-1].any() and new[rows.CONTROLS][-1].any()
    for key, value in old.items():
        if key in rows.PER_INSTRUMENT:
            assert torch.equal(new[key][:-1], value) and new[key].dtype == value.dtype
        else:
            assert torch.equal(new[key], value) and new[key].dtype == value.dtype


def test_the_learnt_instrument_plays_by_name(learnt, tmp_path):
    played = {}
    for name in ("glass", "violin"):  # the tiny model plays near -60 dBFS: told apart from its start, not by level
        wav = tmp_path / f"{name}.wav"
        assert main(["note", "--preset", str(learnt), "--instrument", name, "--pitch", "64", "--duration", "1",
                     "--rate", "16000", "--float", "-o", str(wav)]) == 0
        played[name] = read_wav(wav)[1]
    assert np.abs(played["glass"]).max() > 1e-4
    assert np.abs(played["glass"] - played["violin"]).max() > 1e-3 * np.abs(played["violin"]).max()


def test_the_front_of_a_note_is_the_whole_note_s_front(base):
    preset = load_preset(base)
    model: SING = preset.model
    weights = model.instrument_weights(torch.tensor([0, 1, 1]))
    pitch, velocity = torch.tensor([48, 60, 72]), torch.tensor([100.0, 20.0, 127.0])
    with torch.no_grad():
        whole = model(weights, pitch, velocity)
        for samples in (1, 700, 8000, 64_000):
            part = rows.front(model, weights, pitch, velocity, samples)
            assert torch.allclose(part, whole[:, :samples], atol=1e-6), samples


def test_a_second_run_on_the_same_folder_starts_over_and_says_so(base, tmp_path, caplog):
    folder = write_folder(tmp_path / "shots", pitches=range(58, 62))
    out = tmp_path / "mine"
    args = ["learn", str(folder), "--name", "Glass", "--out", str(out), "--preset", str(base), "--steps", "2",
            "--quiet"]
    assert main(args) == 0
    first = (out / "model.safetensors").read_bytes()
    (tmp_path / ".mine.learning-99999").mkdir()  # what a killed run leaves beside DIR
    with caplog.at_level(logging.INFO):
        assert main(args[:-3] + ["--steps", "4", "--quiet"]) == 0
    assert "starts over" in caplog.text
    assert json.loads((out / "preset.json").read_text())["learnt"]["steps"] == 4
    assert (out / "model.safetensors").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "shots"]


def test_a_run_that_fails_while_writing_leaves_no_folder(base, tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "shots", pitches=range(58, 62))
    import singsynth.train.learn.run as run

    def broken(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(run, "judge", broken)
    out = tmp_path / "mine"
    assert main(["learn", str(folder), "--name", "Glass", "--out", str(out), "--preset", str(base), "--steps", "2",
                 "--quiet"]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shots"]


def test_a_soundfont_program_is_rendered_and_learnt(base, soundfont, tmp_path):
    out = tmp_path / "mine"
    assert main(["learn", str(soundfont), "--program", "71", "--pitches", "58-62", "--name", "Reed",
                 "--out", str(out), "--preset", str(base), "--steps", "2", "--quiet"]) == 0
    record = json.loads((out / "preset.json").read_text())["learnt"]
    assert record["recordings"] == 5 and record["held_out"] == [60]
    assert load_preset(out).instruments[-1].source == soundfont.name


def test_info_and_export_read_the_learnt_preset(learnt, tmp_path, capsys):
    assert main(["info", "--preset", str(learnt), "--json"]) == 0
    assert "instrument_controls" in capsys.readouterr().out
    bank = tmp_path / "glass.sf2"
    assert main(["export", "--preset", str(learnt), "-o", str(bank), "--instrument", "glass", "--keys-per-zone",
                 "12", "--velocity-layers", "2", "--no-disk-cache", "--quiet"]) == 0
    assert bank.stat().st_size > 1000
    arrays = load_preset(learnt, lazy=True)
    assert arrays.use_arrays()  # the numpy forward pass plays the offsets too
