"""Evaluation on real FluidSynth notes: held-out pairs, the sampler, the figures and the eval command."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from singsynth import gm
from singsynth.cli import main
from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, load_preset, save_preset
from singsynth.train.data import NSynthData, split_of
from singsynth.train.eval_figures import PITCH_KEYS, SYSTEMS, shift_pitch
from singsynth.train.eval_notes import EvalNote, family_of, family_order, nearest_source, select_notes
from singsynth.train.evaluate import evaluate
from singsynth.train.pitch import cents, estimate_f0

PIANO, GUITAR, FLUTE, DRUMS = (f"fluidr3mono_{n}" for n in
                               ("acoustic_grand_piano", "acoustic_guitar_nylon", "flute", "standard_drum_kit"))
PITCHES = range(58, 65)


@pytest.fixture(scope="module")
def data(tmp_path_factory, soundfont) -> NSynthData:
    from singsynth.train.soundfont import render_dataset
    root = tmp_path_factory.mktemp("nsynth")
    render_dataset([soundfont], root, programs=[0, 24, 73], drums=True, pitches=(PITCHES[0], PITCHES[-1]),
                   velocities=(100,), jobs=1, progress=False)
    return NSynthData(root)


def make_preset(folder: Path, data: NSynthData, held_out: dict | None, ids: list[str] | None = None) -> Path:
    """A sing-unittest preset with random weights over some of the data's instruments."""
    kept = [d for d in data.instruments if ids is None or d.id in ids]
    instruments = [dataclasses.replace(d, index=i, source="") for i, d in enumerate(kept)]
    torch.manual_seed(0)
    model = SING(get_config("sing-unittest", n_instruments=len(instruments)))
    meta = {"name": folder.name} if held_out is None else {"name": folder.name, "held_out": held_out}
    return save_preset(folder, model, instruments, meta)


HELD_OUT = {"valid": [[PIANO, 58], [GUITAR, 64]],
            "test": [[PIANO, 61], [GUITAR, 61], [FLUTE, 62], [DRUMS, 60], [PIANO, 100]]}


@pytest.fixture(scope="module")
def preset_dir(data, tmp_path_factory) -> Path:
    return make_preset(tmp_path_factory.mktemp("presets") / "held", data, HELD_OUT)


def pairs_of(data, notes) -> set[tuple[str, int]]:
    return {(data.notes[n.index].instrument_id, data.notes[n.index].pitch) for n in notes}


def test_held_out_test_pairs_come_from_the_preset(data, preset_dir):
    notes, missing = select_notes(load_preset(preset_dir), data, "test")
    # (PIANO, 100) is not in the data; nothing else is left out
    assert pairs_of(data, notes) == {(PIANO, 61), (GUITAR, 61), (FLUTE, 62), (DRUMS, 60)}
    assert missing == 0
    valid, _ = select_notes(load_preset(preset_dir), data, "valid")
    assert pairs_of(data, valid) == {(PIANO, 58), (GUITAR, 64)}


def test_train_split_is_every_pair_in_neither_list(data, preset_dir):
    notes, _ = select_notes(load_preset(preset_dir), data, "train")
    everything = {(n.instrument_id, n.pitch) for n in data.notes}
    held = {tuple(p) for name in ("valid", "test") for p in HELD_OUT[name]}
    assert pairs_of(data, notes) == everything - held


def test_only_the_presets_instruments_are_evaluated(data, tmp_path):
    preset = load_preset(make_preset(tmp_path / "two", data, HELD_OUT, ids=[PIANO, DRUMS]))
    notes, _ = select_notes(preset, data, "test")
    assert pairs_of(data, notes) == {(PIANO, 61), (DRUMS, 60)}
    # the preset's own instrument indices, not the data's
    assert {preset.instruments[n.instrument].id for n in notes} == {PIANO, DRUMS}
    assert [n.drums for n in notes if data.notes[n.index].instrument_id == DRUMS] == [True]


def test_without_held_out_lists_the_datas_hash_split_is_used(data, tmp_path):
    preset = load_preset(make_preset(tmp_path / "plain", data, None))
    seen = set()
    for split in ("train", "valid", "test"):
        notes, _ = select_notes(preset, data, split)
        pairs = pairs_of(data, notes)
        assert all(split_of(i, p) == split for i, p in pairs)
        seen |= pairs
    # every pair lands in some split: hash-split pairs of this data all have a training neighbour
    assert seen == {(n.instrument_id, n.pitch) for n in data.notes}


def test_sampler_takes_the_nearest_other_training_pitch(data, preset_dir):
    notes, _ = select_notes(load_preset(preset_dir), data, "test")
    source = {data.notes[n.index].instrument_id: data.notes[n.source] for n in notes}
    # 61: 60 and 62 are both training pitches; the one below wins the tie
    assert source[PIANO].pitch == 60 and source[PIANO].instrument_id == PIANO
    assert source[GUITAR].pitch == 60
    assert source[FLUTE].pitch == 61
    assert source[DRUMS].pitch == 59
    assert all(data.notes[n.source].velocity == data.notes[n.index].velocity for n in notes)
    assert nearest_source(61, [(58, 0), (61, 1), (63, 2), (64, 3)]) == 2
    assert nearest_source(61, [(61, 1)]) is None


def test_notes_without_a_sampler_source_are_left_out_and_counted(data, tmp_path):
    held = {"valid": [], "test": [[FLUTE, p] for p in PITCHES] + [[PIANO, 61]]}
    preset = load_preset(make_preset(tmp_path / "noflute", data, held))
    notes, missing = select_notes(preset, data, "test")
    assert pairs_of(data, notes) == {(PIANO, 61)}
    assert missing == len(PITCHES)
    result = evaluate(preset, data, "test")
    assert result["notes"] == 1 and result["skipped_no_sampler"] == len(PITCHES)


def test_shift_pitch_transposes_by_resampling():
    t = np.arange(64_000) / 16_000
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    for semitones in (12, 1, -5):
        out = shift_pitch(sine, semitones)
        assert out.shape == (64_000,) and out.dtype == np.float32
        assert abs(cents(estimate_f0(out), 440.0) - 100 * semitones) < 2
    up = shift_pitch(sine, 12)
    assert np.abs(up[33_000:]).max() == 0  # half as long, padded with silence
    np.testing.assert_array_equal(shift_pitch(sine, 0), sine)


def test_sampler_beats_silence_and_keeps_the_pitch(data, preset_dir):
    result = evaluate(load_preset(preset_dir), data, "test", cents=50)
    assert result["notes"] == 4 and result["split"] == "test" and result["cents"] == 50
    assert result["drum_notes"] == 1
    assert result["pitch_notes"] + result["unpitched_notes"] + result["drum_notes"] == result["notes"]
    assert result["pitch_notes"] == 3  # piano, guitar and flute all have a clear f0
    sampler, silence = result["sampler"], result["silence"]
    assert sampler["spectral_loss"] < 0.5 * silence["spectral_loss"]
    assert sampler["pitch_accuracy"] == sampler["pitch_accuracy_25"] == 1.0
    assert silence["pitch_accuracy"] == silence["pitch_accuracy_25"] == silence["pitch_accuracy_50"] == 0.0
    assert silence["wav_l1"] > 0


def test_a_model_that_returns_the_ground_truth_scores_perfectly(data, preset_dir):
    preset = load_preset(preset_dir)
    index = {(n.instrument_id, n.pitch, n.velocity): i for i, n in enumerate(data.notes)}

    def generate(weights, pitch, velocity):
        ids = [preset.instruments[i].id for i in weights.argmax(1).tolist()]
        return np.stack([data.read_note(index[i, int(p), int(v)]) for i, p, v in zip(ids, pitch, velocity)])

    preset.generate = generate
    result = evaluate(preset, data, "train", cents=25, batch_size=5, limit=8)
    assert result["notes"] == 8
    model = result["model"]
    assert model["spectral_loss"] == 0 and model["wav_l1"] == 0
    assert all(r["model"] == 0 for r in result["instruments"].values())
    assert model["pitch_accuracy"] == model["pitch_accuracy_25"] == model["pitch_accuracy_50"] == 1.0
    # and a one-semitone error is caught at 50 cents
    preset.generate = lambda w, p, v: generate(w, [min(x + 1, PITCHES[-1]) for x in p], v)
    assert evaluate(preset, data, "train", limit=8)["model"]["pitch_accuracy"] < 1.0


def test_eval_json(data, preset_dir, capsys):
    assert main(["eval", "--preset", str(preset_dir), "--data", str(data.root), "--json", "--cents", "30"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("notes", "split", "preset", "cents", "model", "sampler", "silence", "pitch_notes",
                "unpitched_notes", "skipped_no_sampler"):
        assert key in result
    assert result["notes"] == 4 and result["cents"] == 30 and result["preset"] == "held"
    for system in ("model", "sampler", "silence"):
        assert set(result[system]) == {"spectral_loss", "wav_l1", "multiscale", "identity", "pitch_accuracy",
                                       "pitch_accuracy_25", "pitch_accuracy_50"}
        assert np.isfinite(result[system]["multiscale"])
        assert np.isfinite(result[system]["spectral_loss"])
    assert set(result["instruments"]) == {PIANO, GUITAR, FLUTE, DRUMS}
    assert sum(r["notes"] for r in result["instruments"].values()) == result["notes"]
    assert "families" not in result  # only with --by-family


def test_eval_table_and_plots(data, preset_dir, tmp_path, capsys):
    plots = tmp_path / "plots"
    assert main(["eval", "--preset", str(preset_dir), "--data", str(data.root), "--split", "train", "--limit", "6",
                 "--plot", str(plots), "--plot-count", "3"]) == 0
    out = capsys.readouterr().out
    assert "6 notes" in out and all(name in out for name in ("model", "sampler", "silence"))
    files = sorted(plots.glob("*.png"))
    assert len(files) == 3
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)
    # contrasting instruments, one plot each
    assert len({f.name.rsplit("-", 2)[0] for f in files}) == 3


def test_eval_named_notes_judges_and_plots_exactly_those(data, preset_dir, tmp_path, capsys):
    names = [f"{DRUMS}-060-100", f"{PIANO}-061-100"]
    plots = tmp_path / "plots"
    assert main(["eval", "--preset", str(preset_dir), "--data", str(data.root), "--json",
                 "--notes", ",".join(names), "--plot", str(plots)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["notes"] == 2 and set(result["instruments"]) == {PIANO, DRUMS}
    assert sorted(f.stem for f in plots.glob("*.png")) == sorted(names)


def test_eval_a_named_note_outside_the_split_is_one_line(data, preset_dir, capsys):
    # piano 60 is a training pair, so not among the held-out notes
    assert main(["eval", "--preset", str(preset_dir), "--data", str(data.root),
                 "--notes", f"{PIANO}-061-100,{PIANO}-060-100"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"no note '{PIANO}-060-100' among the test notes" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--preset", "/nonexistent/preset"], "no such preset"),
    (["--data", "/nonexistent/data"], "no such data set folder"),
    (["--cents", "0"], "--cents"),
    (["--limit", "0"], "--limit"),
])
def test_eval_bad_input_is_one_line_and_exit_2(data, preset_dir, capsys, args, message):
    argv = {"--preset": str(preset_dir), "--data": str(data.root)}
    argv.update(dict(zip(args[::2], args[1::2])))
    assert main(["eval"] + [x for kv in argv.items() for x in kv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_eval_with_no_notes_for_the_preset_is_one_line(data, tmp_path, capsys):
    # held-out pairs the data does not have: the data set of some other preset
    folder = make_preset(tmp_path / "other", data, {"valid": [], "test": [[PIANO, 100], [FLUTE, 20]]})
    assert main(["eval", "--preset", str(folder), "--data", str(data.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no test notes" in err and len(err.splitlines()) == 1


def test_eval_record_stores_the_figures_in_the_preset(data, tmp_path, capsys):
    folder = make_preset(tmp_path / "recorded", data, HELD_OUT)
    assert main(["eval", "--preset", str(folder), "--data", str(data.root), "--json", "--record"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = load_preset(folder).meta["evaluation"]["test"]
    assert stored["notes"] == printed["notes"] > 0
    assert stored["model"]["spectral_loss"] == printed["model"]["spectral_loss"]


# --- by family -------------------------------------------------------------------------------------------------

DISTANCES = ("spectral_loss", "wav_l1", "multiscale")


def weighted_total(families: dict, system: str, figure: str, weight: str) -> float:
    """A figure of the whole from its families': each family's value weighted by its count of such notes."""
    parts = [(r[system][figure], r[weight]) for r in families.values() if r[weight]]
    return sum(value * count for value, count in parts) / sum(count for _, count in parts)


@pytest.fixture(scope="module")
def by_family(data, preset_dir) -> dict:
    # batches of 5 straddle families: the grouping must not follow the batches
    return evaluate(load_preset(preset_dir), data, "train", limit=12, batch_size=5, by_family=True)


def test_families_are_the_gm_ones_in_gm_order_then_the_drums(by_family):
    # acoustic grand piano (0), acoustic guitar nylon (24), flute (73) and the drum kit
    assert list(by_family["families"]) == ["Piano", "Guitar", "Pipe", "Drums"]
    assert set(by_family["families"]) <= set(gm.FAMILIES) | {"Drums"}


def test_family_note_counts_add_up_to_the_totals(by_family):
    families = by_family["families"].values()
    for count in ("notes", "drum_notes", "pitch_notes", "unpitched_notes", "identity_notes"):
        assert sum(r[count] for r in families) == by_family[count], count
    assert by_family["families"]["Drums"]["notes"] == by_family["drum_notes"] > 0


def test_family_figures_weighted_by_their_notes_give_the_total(by_family):
    families = by_family["families"]
    for system in SYSTEMS:
        for figure in DISTANCES:
            assert weighted_total(families, system, figure, "notes") == pytest.approx(by_family[system][figure])
        assert weighted_total(families, system, "identity", "identity_notes") == \
            pytest.approx(by_family[system]["identity"])
        for figure in PITCH_KEYS:
            assert weighted_total(families, system, figure, "pitch_notes") == \
                pytest.approx(by_family[system][figure])
    # identity is among every instrument at the pitch and velocity, so the families' shares differ
    assert len({r["model"]["identity"] for name, r in families.items() if name != "Drums"}) > 1


def test_a_family_without_notes_of_a_kind_has_no_figure_for_it(by_family):
    drums = by_family["families"]["Drums"]
    assert drums["pitch_notes"] == drums["identity_notes"] == 0 and drums["identity_chance"] is None
    for system in SYSTEMS:
        assert drums[system]["identity"] is None and all(drums[system][k] is None for k in PITCH_KEYS)
        assert all(np.isfinite(drums[system][k]) for k in DISTANCES)
        assert set(drums[system]) == set(by_family[system])


def test_the_total_is_the_same_with_or_without_families(data, preset_dir, by_family):
    plain = evaluate(load_preset(preset_dir), data, "train", limit=12, batch_size=5)
    assert {k: v for k, v in by_family.items() if k != "families"} == plain


def test_family_of_a_note_without_a_gm_program_is_the_datas_own():
    preset = SimpleNamespace(instruments=[
        Instrument(index=0, name="bass_synthetic_009", id="bass_synthetic_009", gm_program=None),
        Instrument(index=1, name="Violin", id="sf_violin", gm_program=40),
        Instrument(index=2, name="Kit", id="sf_kit", gm_program=None, drums=True),
        Instrument(index=3, name="mystery", id="mystery_001", gm_program=None)])
    # the data's family strings: NSynth's, and for rendered data the GM family (or "drums")
    families = ["bass", "Strings", "drums", ""]
    data = SimpleNamespace(instruments=[dataclasses.replace(i, family=f) for i, f in zip(preset.instruments, families)],
                           notes=[SimpleNamespace(instrument=i) for i in range(4)])
    families = [family_of(EvalNote(i, i, i, drums=i == 2), preset, data) for i in range(4)]
    assert families == ["bass", "Strings", "Drums", "mystery_001"]
    assert sorted(["bass", "Drums", "Strings", "Piano", "brass"], key=family_order) == \
        ["Piano", "Strings", "Drums", "bass", "brass"]


def test_eval_json_by_family_and_record(data, tmp_path, capsys):
    folder = make_preset(tmp_path / "families", data, HELD_OUT)
    assert main(["eval", "--preset", str(folder), "--data", str(data.root), "--json", "--by-family", "--record"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["families"]) == ["Piano", "Guitar", "Pipe", "Drums"]
    for family in result["families"].values():
        assert family["notes"] == 1  # the test split: one held-out pair of each instrument
        assert all(set(family[system]) == set(result[system]) for system in SYSTEMS)
    assert load_preset(folder).meta["evaluation"]["test"]["families"] == result["families"]


def family_rows(out: str) -> list[str]:
    """The rows of the by-family table: after its title and header."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("by family"))
    return [line for line in lines[start + 2:] if not line.startswith("plot: ")]


def test_eval_table_by_family_has_one_row_per_family_then_the_total(data, preset_dir, capsys):
    argv = ["eval", "--preset", str(preset_dir), "--data", str(data.root), "--split", "train", "--limit", "12"]
    assert main(argv) == 0
    assert "by family" not in capsys.readouterr().out
    assert main(argv + ["--by-family"]) == 0
    rows = family_rows(capsys.readouterr().out)
    assert [row.split()[0] for row in rows] == ["Piano", "Guitar", "Pipe", "Drums", "total"]
    assert sum(int(row.split()[1]) for row in rows[:-1]) == int(rows[-1].split()[1]) == 12
    # notes, then a model and a sampler value for each of the six figures
    assert all(len(row.split()) == 2 + 2 * 6 for row in rows)
