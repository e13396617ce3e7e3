"""The send effects in the engine and on the command line: sends 0 is the dry mix bit for bit, CC91/CC93 and an
instrument's own sends reach the reverb and chorus, a controller reset resets them, a render holds the tail to
silence, and a render equals the live block loop."""
from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from engine_fixtures import make_preset

from singsynth.cli import main
from singsynth.gm import CC
from singsynth.preset import PresetError, load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.effects import EffectsConfig, ReverbSettings
from singsynth.synth.engine import make_engine
from singsynth.synth.schedule import BLOCK, Schedule, play_through, render_file

DRY = EffectsConfig(None, None)


def cc(t, channel, control, value):
    return (t, mido.Message("control_change", channel=channel, control=control, value=value))


def notes(channel: int = 0, start: float = 0.0) -> list:
    events = [(start, mido.Message("program_change", channel=channel, program=73))]
    for i, key in enumerate((60, 64, 67, 72)):
        events += [(start + 0.2 * i, mido.Message("note_on", channel=channel, note=key, velocity=100)),
                   (start + 0.2 * i + 0.3, mido.Message("note_off", channel=channel, note=key))]
    return events


def piece() -> list:
    """Two channels, sends set before and during the notes, a pan and a volume change (steady and ramping gains)."""
    events = notes(0) + notes(1, 0.1) + [(0.0, mido.Message("program_change", channel=1, program=40))]
    events += [cc(0.0, 0, CC.REVERB, 100), cc(0.0, 1, CC.CHORUS, 127), cc(0.33, 1, CC.REVERB, 64),
               cc(0.5, 0, CC.PAN, 20), cc(0.61, 1, CC.VOLUME, 70), cc(0.7, 0, CC.CHORUS, 90)]
    return sorted(events, key=lambda e: e[0])


@pytest.fixture(scope="module")
def preset(tiny_preset):
    return tiny_preset


def render(preset, events, effects=EffectsConfig(), block=None, cache=None) -> np.ndarray:
    cache = cache if cache is not None else NoteCache()
    out = []
    engine = make_engine(preset, cache=cache, effects=effects)
    if block is None:
        render_file(engine, events, out.append)
    else:
        engine.preload(events)
        play_through(engine, Schedule(events, 48000, block), out.append)
    return np.concatenate(out)


def test_with_every_send_at_0_the_mix_is_the_dry_mix_bit_for_bit(preset):
    events = notes(0) + [cc(0.0, 0, CC.REVERB, 0), cc(0.1, 0, CC.CHORUS, 0)]
    cache = NoteCache()
    assert np.array_equal(render(preset, events, cache=cache), render(preset, events, DRY, cache=cache))


def test_sends_add_a_tail_that_is_rendered_to_silence(preset):
    cache = NoteCache()
    dry = render(preset, notes(0), DRY, cache=cache)
    events = notes(0) + [cc(0.0, 0, CC.REVERB, 127)]
    wet = render(preset, events, EffectsConfig(ReverbSettings(room=0.8), None), cache=cache)
    assert len(wet) > len(dry) + 48000  # RT60 2.9 s at room 0.8: the tail outlasts the notes by seconds
    last = int(np.flatnonzero(wet.any(axis=1))[-1])
    assert len(wet) == last + 1 + int(0.25 * 48000)  # then the usual quarter second of silence
    assert np.abs(wet[last - 4096:last + 1]).max() < 1e-4  # what was cut was below -80 dB
    assert np.abs(wet[:len(dry)] - dry).max() > 1e-3


def test_a_controller_reset_resets_the_sends(preset):
    cache = NoteCache()
    reset = notes(0, 0.1) + [cc(0.0, 0, CC.REVERB, 127), cc(0.0, 0, CC.CHORUS, 127),
                             cc(0.05, 0, CC.RESET_CONTROLLERS, 0)]
    assert np.array_equal(render(preset, reset, cache=cache), render(preset, notes(0, 0.1), DRY, cache=cache))
    # a channel that starts at GS's 40 goes back to 40, not 0
    gs = EffectsConfig(reverb_send=40)
    assert np.array_equal(render(preset, reset, gs, cache=cache), render(preset, notes(0, 0.1), gs, cache=cache))
    assert not np.array_equal(render(preset, notes(0, 0.1), gs, cache=cache),
                              render(preset, notes(0, 0.1), DRY, cache=cache))


def test_a_render_with_effects_equals_the_block_loop(preset):
    cache = NoteCache()
    offline = render(preset, piece(), cache=cache)
    for block in (BLOCK, 65):
        loop = render(preset, piece(), block=block, cache=cache)
        assert loop.shape == offline.shape
        assert np.abs(loop - offline).max() < 1e-6


def test_an_instruments_own_sends_reach_the_effects(tmp_path):
    folder = make_preset(tmp_path / "sends")
    meta = json.loads((folder / "preset.json").read_text())
    dry = load_preset(folder)
    meta["instruments"][0]["reverb_send"] = 0.5  # the flute, program 73
    (folder / "preset.json").write_text(json.dumps(meta))
    wet = load_preset(folder)
    assert wet.instruments[0].reverb_send == 0.5 and wet.instruments[0].to_dict()["reverb_send"] == 0.5
    cache = NoteCache()
    assert len(render(wet, notes(0), cache=cache)) > len(render(dry, notes(0), cache=cache))
    meta["instruments"][0]["reverb_send"] = float("nan")
    (folder / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="reverb_send"):
        load_preset(folder)


@pytest.mark.parametrize("option,value", [("--reverb-room", "nan"), ("--reverb-level", "1.5"), ("--reverb-damp", "-1"),
                                          ("--chorus-voices", "0"), ("--chorus-depth", "inf"),
                                          ("--chorus-rate", "0"), ("--reverb-send", "128"), ("--chorus-send", "-1")])
def test_settings_out_of_range_are_one_line_and_exit_2_before_any_audio(tmp_path, capsys, option, value):
    out = tmp_path / "o.wav"
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.mid"
    assert main(["render", str(demo), "-o", str(out), "--preset", "/nonexistent", option, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"singsynth render: error: {option} ")
    assert not out.exists()


@pytest.mark.parametrize("command", ["play", "listen"])
def test_live_commands_refuse_bad_settings_before_opening_anything(tmp_path, capsys, command):
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.mid"
    args = [command, *([str(demo)] if command == "play" else []), "--preset", "/nonexistent",
            "--audio-device", "no-such-device", "--chorus-level", "nan"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"singsynth {command}: error: --chorus-level nan is out of range (0..10)"]


def test_all_sound_off_fades_the_effects_tails_too(preset):
    engine = make_engine(preset, cache=NoteCache(), effects=EffectsConfig(ReverbSettings(room=1.0), None))
    events = [(0, m) for _, m in notes(0) if m.type != "note_off"] + [(0, cc(0, 0, CC.REVERB, 127)[1])]
    engine.process(events, 4800)
    engine.process([(0, mido.Message("note_off", channel=0, note=k)) for k in (60, 64, 67, 72)], 48000 * 2)
    assert np.abs(engine.process([], 1024)).max() > 1e-3  # the notes have ended, the reverb rings on
    engine.all_sound_off()
    fading = engine.process([], 1024)
    fade = int(0.005 * 48000)
    assert np.abs(fading[:fade]).max() > 0 and not fading[fade:].any()
    assert engine.idle and not engine.process([], 4096).any()
