"""The presets in the repository: the default plays the whole General MIDI set on the harmonic decoder, and the
paper's convolutional decoder stays playable beside it."""
import json
from pathlib import Path

from singsynth import gm
from singsynth.cli import main
from singsynth.preset import load_preset

PRESETS = Path(__file__).resolve().parents[1] / "presets"


def test_the_default_holds_every_general_midi_program_once_and_the_drum_kit(capsys):
    assert main(["info", "--preset", "default", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["decoder"] == "harmonic"
    instruments = info["instruments"]
    assert len(instruments) == 129
    melodic = [i for i in instruments if not i["drums"]]
    assert sorted(i["gm_program"] for i in melodic) == list(range(128))
    assert all(i["name"] == gm.PROGRAMS[i["gm_program"]] for i in melodic)
    assert [i["gm_program"] for i in instruments if i["drums"]] == [None]


def test_the_default_fits_16_mib_and_says_where_its_sound_came_from():
    assert (PRESETS / "default" / "model.safetensors").stat().st_size <= 16 * 2**20
    meta = load_preset("default").meta
    assert "FluidR3 Mono GM" in meta["license"] and meta["paper"].startswith("Défossez")
    assert meta["training"]["hours"] > 0 and meta["training"]["recipe"]["decoder"] == "harmonic"
    assert meta["data"]["sources"] == ["FluidR3Mono_GM.sf3"]
    assert set(meta["held_out"]) == {"valid", "test"}
    # every drum key is trained: a held-out drum key would be a sound never heard
    kit = next(i.id for i in load_preset("default").instruments if i.drums)
    assert not [pair for split in ("valid", "test") for pair in meta["held_out"][split] if pair[0] == kit]
    assert meta["playback_gain"] > 0



def test_the_default_is_calibrated_against_its_source():
    """Every instrument plays at its source's loudness at each of the five velocities it learnt (each drum key
    its own), and the instruments that hold a note in the SoundFont hold it when a key is held."""
    preset = load_preset("default")
    by_program = {i.gm_program: i for i in preset.instruments}
    velocities = [25, 50, 75, 100, 127]
    assert all([v for v, _ in i.levels.curve] == velocities for i in preset.instruments)
    kit = by_program[None]
    assert len(kit.levels.keys) == kit.pitch_range[1] - kit.pitch_range[0] + 1
    assert all([v for v, _ in curve] == velocities for _, curve in kit.levels.keys)
    assert by_program[19].sustains and by_program[48].sustains  # Church Organ, String Ensemble 1
    assert not by_program[0].sustains and not by_program[24].sustains  # the piano and the guitar decay

def test_the_papers_decoder_is_still_shipped_and_loads():
    preset = load_preset("gm16-conv")
    assert preset.model.config.decoder == "conv"
    assert "decoder" not in json.loads((preset.path / "preset.json").read_text())["model"]
    assert len(preset.instruments) == 17


def test_info_without_arguments_describes_the_default_preset(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "default" and len(info["instruments"]) == 129


def test_the_48_khz_preset_loads_fits_32_mib_and_starts_its_notes_without_a_step():
    """gm48 (docs/full-band.md): the default's instruments at 48 kHz, carried on from its weights."""
    import torch

    from singsynth.train.attacks import step_and_rise
    assert (PRESETS / "gm48" / "model.safetensors").stat().st_size <= 32 * 2**20
    preset = load_preset("gm48")
    assert preset.sample_rate == 48_000 and preset.config.attack
    assert [i.id for i in preset.instruments] == [i.id for i in load_preset("default").instruments]
    assert preset.meta["held_out"] == load_preset("default").meta["held_out"]  # carried on, still held out
    by_program = {i.gm_program: i.index for i in preset.instruments}
    programs = [0, 6, 13]  # piano, harpsichord, xylophone: the default starts these with a step
    notes = preset.generate(preset.model.instrument_weights(torch.tensor([by_program[p] for p in programs])),
                            [60, 60, 72], [100, 100, 100])
    for note in notes:
        assert note[0] == 0.0
        assert step_and_rise(note, 48_000)[0] <= 0.05
