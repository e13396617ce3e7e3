"""singsynth export: the SoundFont writer read back by a reader of its own, the zone layout, and round trips through
the real FluidSynth against the engine's own notes (pitch, level, loop, release)."""
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import mido
import numpy as np
import pytest
from engine_fixtures import INSTRUMENTS, make_preset
from sf2_reader import read_sf2

from singsynth.cli import main
from singsynth.export.layout import key_runs, root_keys
from singsynth.export.velocity import Curve, fitted_layers, layer_curve, modulators, square_law_db
from singsynth.export.samples import envelope_generators, looped_note, release_generator
from singsynth.io import sf2
from singsynth.io.wav import read_wav
from singsynth.model.sustain_loop import crossfade, loop_decay, loop_points
from singsynth.synth.cache import Note, quantize_velocity, step_velocity
from singsynth.synth.voice import Voice
from singsynth.train.pitch import cents, estimate_f0

FLUIDSYNTH = shutil.which("fluidsynth")
needs_fluidsynth = pytest.mark.skipif(FLUIDSYNTH is None, reason="the fluidsynth program is not installed")
RATE = 16000
DEMO_MIDI = Path(__file__).resolve().parents[1] / "examples" / "demo.mid"


@pytest.fixture(scope="module")
def preset_dir(tiny_preset_dir):
    return tiny_preset_dir


def run(*argv) -> int:
    return main([str(a) for a in argv])


def small_bank(bits24: bool):
    rng = np.random.default_rng(0)
    a = sf2.to_24bit(rng.uniform(-1, 1, 101))  # odd: sm24 is padded to an even size
    b = sf2.to_24bit(np.sin(np.arange(400) / 7) * 0.5)
    samples = [sf2.Sample("noise", a, 16000, 60, -7), sf2.Sample("sine", b, 22050, 72, 3, (100, 300))]
    zones = [sf2.Zone({sf2.SAMPLE_MODES: 1, sf2.KEY_RANGE: (0, 64), sf2.INITIAL_ATTENUATION: 120,
                       sf2.COARSE_TUNE: -12}, [sf2.Modulator(0x0502, 48, 0)], 1),
             sf2.Zone({sf2.VEL_RANGE: (1, 90), sf2.KEY_RANGE: (65, 127)}, [], 0)]
    instruments = [sf2.Instrument("both", zones), sf2.Instrument("one", [sf2.Zone({}, [], 0)])]
    presets = [sf2.Preset("drums", 0, 128, [sf2.Zone(target=1)]), sf2.Preset("both", 5, 0, [sf2.Zone(target=0)])]
    return presets, instruments, samples


@pytest.mark.parametrize("bits24", [False, True], ids=["16-bit", "24-bit"])
def test_writer_output_reads_back_as_the_specification_lays_it_out(tmp_path, bits24):
    presets, instruments, samples = small_bank(bits24)
    path = tmp_path / "b.sf2"
    size = sf2.save_sf2(path, "test bank", presets, instruments, samples, bits24, comment="hello")
    raw = path.read_bytes()
    font = read_sf2(raw)
    assert size == len(raw) == font.size
    assert font.chunk_order == [b"INFO", b"sdta", b"pdta", b"phdr", b"pbag", b"pmod", b"pgen", b"inst", b"ibag",
                                b"imod", b"igen", b"shdr"]
    assert struct.unpack("<HH", font.info[b"ifil"]) == (2, 4 if bits24 else 1)
    assert font.info[b"INAM"].rstrip(b"\0") == b"test bank" and font.info[b"ICMT"].rstrip(b"\0") == b"hello"
    assert (font.sm24 is not None) == bits24 and (not bits24 or len(font.sm24) % 2 == 0)
    # presets sorted by bank and program, each naming its instrument last; terminal records close every list
    assert [(p["name"], p["bank"], p["program"]) for p in font.presets()] == [
        ("both", 0, 5), ("drums", 128, 0), ("EOP", 0, 0)]
    assert font.zones("p", 0)[0]["generators"] == [(41, 0)] and font.zones("p", 1)[0]["generators"] == [(41, 1)]
    assert [i["name"] for i in font.instruments()] == ["both", "one", "EOI"]
    first, second = font.zones("i", 0)
    # keyRange first, velRange only after it, sampleID last (specification 7.9)
    assert first["generators"] == [(43, (0, 64)), (54, 1), (48, 120), (51, -12), (53, 1)]
    assert second["generators"] == [(43, (65, 127)), (44, (1, 90)), (53, 0)]
    assert first["modulators"] == [(0x0502, 48, 0, 0, 0)] and second["modulators"] == []
    assert font.records[b"igen"][-1] == bytes(4) and font.records[b"imod"][-1] == bytes(10)
    headers = font.samples()
    assert [h["name"] for h in headers] == ["noise", "sine", "EOS"]
    noise, sine = headers[:2]
    assert (noise["start"], noise["end"], noise["rate"], noise["pitch"], noise["correction"]) == (0, 101, 16000, 60, -7)
    assert sine["start"] == 101 + sf2.GUARD_SAMPLES and sine["loop"] == (sine["start"] + 100, sine["start"] + 300)
    assert sine["rate"] == 22050 and noise["type"] == sine["type"] == 1  # mono
    assert not font.smpl[101:101 + sf2.GUARD_SAMPLES].any() and len(font.smpl) == 101 + 400 + 2 * sf2.GUARD_SAMPLES
    for header, sample in zip(headers, samples):
        back = font.sample_data(header)
        if bits24:
            assert np.array_equal(back, sample.data)
        else:  # the nearest 16-bit step
            assert np.max(np.abs(back - sample.data)) <= 128


def test_writer_refuses_what_the_format_cannot_say(tmp_path):
    presets, instruments, samples = small_bank(False)
    samples[1].loop = (100, 401)
    with pytest.raises(sf2.SoundFontError, match="loop"):
        sf2.save_sf2(tmp_path / "b.sf2", "x", presets, instruments, samples)
    assert not list(tmp_path.iterdir())  # nothing half-written


# the default preset's flute at key 64, step by step (dB): a jump between velocities 26 and 35, a dip after
FLUTE_LEVELS = [-80.5, -46.1, -35.0, -29.0, -10.3, -13.1, -16.0, -13.5, -11.0, -8.8, -7.1, -5.4, -3.8, -2.5, -1.2, 0.0]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 16])
def test_velocity_layers_are_whole_steps_covering_every_velocity(count):
    layers = fitted_layers(FLUTE_LEVELS, count, 16)
    assert layers[0].low == 1 and layers[-1].high == 127 and len(layers) == count
    assert all(a.high + 1 == b.low for a, b in zip(layers, layers[1:]))
    for layer in layers:  # whole steps, and the layer's note is one the engine plays for one of its velocities
        steps = {quantize_velocity(v) for v in range(layer.low, layer.high + 1)}
        assert layer.step in steps
        assert quantize_velocity(layer.low - 1) not in steps if layer.low > 1 else True


def test_layers_split_where_the_loudness_jumps_and_the_curve_follows_it():
    low, high = fitted_layers(FLUTE_LEVELS, 2, 16)
    assert (low.high, high.low) == (30, 31)  # step 3 (velocity 26, -29 dB) | step 4 (velocity 35, -10 dB)
    for layer in (low, high):
        curve = layer_curve(FLUTE_LEVELS, layer, 16)
        assert curve.gain_db(step_velocity(layer.step)) == pytest.approx(0)  # the layer's own note, as it is
        errors = [curve.gain_db(step_velocity(s)) - (FLUTE_LEVELS[s] - FLUTE_LEVELS[layer.step])
                  for s in range(16) if layer.low <= step_velocity(s) <= layer.high and FLUTE_LEVELS[s] > -40]
        assert np.sqrt(np.mean(np.square(errors))) < 3.0  # the dip after velocity 35 is what is left
    one = layer_curve(FLUTE_LEVELS, fitted_layers(FLUTE_LEVELS, 1, 16)[0], 16)
    # one layer: the square law takes the steep low velocities, so the top is not overshot
    assert one.square > 0 and abs(one.gain_db(127) - (FLUTE_LEVELS[15] - FLUTE_LEVELS[8])) < 3.0


def test_modulators_say_the_curve_in_fluidsynths_units():
    curve = Curve(0.1, 0.5, 60.0)
    concave, linear = modulators(curve)
    # the concave one replaces the players' default velocity curve (same sources, destination and transform)
    assert (concave.source, concave.destination, concave.amount_source) == sf2.DEFAULT_VELOCITY_TO_ATTENUATION
    assert concave.amount == 480 and (linear.source, linear.destination) == (sf2.VELOCITY, sf2.INITIAL_ATTENUATION)
    for v in (20, 60, 127):  # centibels of 0.1 dB; linear velocity / 128, concave the square law
        said = 0.1 * (linear.amount * v / 128 + concave.amount * square_law_db(v) / 96)
        assert said == pytest.approx(curve.attenuation_db(v), abs=0.05)
    assert len(modulators(Curve(0.0, 0.0, 60.0))) == 1  # the default switched off, nothing else


@pytest.mark.parametrize("low,high,spacing", [(21, 108, 3), (21, 108, 8), (60, 96, 1), (55, 103, 5), (0, 127, 4)])
def test_key_runs_cover_every_key_and_play_the_engines_pitch(low, high, spacing):
    runs = key_runs(low, high, spacing)
    assert runs[0].low == 0 and runs[-1].high == 127 and all(a.high + 1 == b.low for a, b in zip(runs, runs[1:]))
    roots = set(root_keys(low, high, spacing))
    for run in runs:
        assert run.root in roots and low <= run.root <= high
        for key in range(run.low, run.high + 1):
            nearest = min(max(key, low), high)  # the learnt note the engine reads an outside key from
            assert abs(nearest - run.root) <= spacing // 2


def test_the_bank_gain_lets_one_very_loud_note_play_softer_rather_than_the_whole_bank():
    from singsynth.export.build import CLIPPED_SHARE, bank_gain
    from singsynth.export.layout import Layer
    flat, layer = Curve(0.0, 0.0, 68.0), Layer(1, 127, 8)
    quiet = [(0.25, flat, layer)] * 200
    assert bank_gain(quiet, wanted=2.0) == pytest.approx(2.0)  # what FluidSynth's default gain needs: fits
    assert bank_gain(quiet, wanted=8.0) == pytest.approx(4.0)  # the notes at full scale, no further
    loud = quiet + [(2.0, flat, layer)] * int(len(quiet) * CLIPPED_SHARE / 2)
    assert bank_gain(loud, wanted=8.0) == pytest.approx(4.0)  # a few loud ones do not lower the whole bank
    many = quiet + [(2.0, flat, layer)] * 10
    assert bank_gain(many, wanted=8.0) == pytest.approx(0.5)
    rising = [(0.25, Curve(0.1, 0.0, 64.0), Layer(1, 127, 8))]  # 6.3 dB over its note at velocity 127
    assert 4.0 / 10 ** (6.3 / 20) <= bank_gain(rising, wanted=8.0) < 4.0 / 10 ** (6.0 / 20)


def decaying_note(db_per_second: float, f0: float = 220.0) -> Note:
    """A sine falling steadily, with the engine's loop crossfade and decay, as the note supply makes it."""
    t = np.arange(4 * RATE) / RATE
    note = Note((0.5 * np.sin(2 * np.pi * f0 * t) * 10 ** (-db_per_second * t / 20)).astype(np.float32))
    loop = loop_points(len(note.data))
    note.loop_decay = loop_decay(note.data, loop)
    note.xfade = crossfade(note.data, loop, note.loop_decay)
    return note


def test_a_decaying_loop_is_exported_level_and_the_envelope_falls_at_the_notes_rate():
    note = decaying_note(10.0)
    loop = loop_points(len(note.data))
    data, fall = looped_note(note, loop)
    assert fall == pytest.approx(10.0 * (loop[1] - loop[0]) / RATE, rel=0.02)
    window = RATE // 10
    levels = [20 * np.log10(np.sqrt(np.mean(data[i:i + window] ** 2))) for i in range(loop[0], loop[1] - window, window)]
    assert max(levels) - min(levels) < 0.5
    gens = envelope_generators(loop, RATE, fall, 1.0)
    decay_seconds = 2 ** (gens[sf2.DECAY_VOL_ENV] / 1200)
    assert 96 / decay_seconds == pytest.approx(10.0, rel=0.02)  # FluidSynth's decay: 96 dB in its time
    assert 2 ** (gens[sf2.HOLD_VOL_ENV] / 1200) == pytest.approx(loop[0] / RATE, abs=0.002)
    # the release: -60 dB in 1 s, 96 dB in 1.6 s; while the note decays at 10 dB/s too, 96 dB in 96 / 70 s
    assert envelope_generators(loop, RATE, 0.0, 1.0) == {sf2.RELEASE_VOL_ENV: release_generator(1.0)}
    assert 2 ** (release_generator(1.0) / 1200) == pytest.approx(1.6, rel=0.01)
    assert 2 ** (gens[sf2.RELEASE_VOL_ENV] / 1200) == pytest.approx(96 / 70, rel=0.01)


def engine_voice(note: Note, seconds: float, release_at: float) -> np.ndarray:
    """What the engine's voice plays of a note held until release_at, released for 1 s."""
    loop = loop_points(len(note.data))
    voice = Voice(note, 0, 60, False, 0)
    out = np.zeros(int(seconds * RATE), dtype=np.float32)
    block = 1024
    for start in range(0, len(out), block):
        if start == int(release_at * RATE) // block * block:
            voice.release(int(release_at * RATE) - start)
        voice.render_block(out[start:start + block], None, loop, RATE)
    return out


def one_note_midi(path, key: int, velocity: int, held: float, total: float, program: int = 0, channel: int = 0):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    tick = lambda s: int(round(mido.second2tick(s, 480, 500000)))  # noqa: E731
    track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    track.append(mido.Message("note_on", channel=channel, note=key, velocity=velocity, time=0))
    track.append(mido.Message("note_off", channel=channel, note=key, velocity=0, time=tick(held)))
    track.append(mido.Message("control_change", channel=channel, control=110, value=0, time=tick(total - held)))
    mid.save(path)
    return path


def fluidsynth(bank, midi, out, rate: int, gain: float = 0.2) -> tuple[np.ndarray, str]:
    """The real FluidSynth's render of a MIDI file with a bank, dry (left channel), and the warnings and errors
    it printed, but those that say a channel's program is not in the bank (a bank of a few instruments has few
    programs; every channel starts at program 0)."""
    done = subprocess.run([FLUIDSYNTH, "-ni", "-R", "0", "-C", "0", "-g", f"{gain}", "-r", str(rate), "-O", "float",
                           "-F", str(out), str(bank), str(midi)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got_rate, audio = read_wav(out)
    assert got_rate == rate
    said = [line for line in (done.stdout + done.stderr).splitlines() if re.search(r"warn|error", line, re.I)
            and "No preset found on channel" not in line]
    return audio[:, 0], "\n".join(said)


def levels_db(audio: np.ndarray, rate: int, window: float = 0.1) -> np.ndarray:
    n = int(window * rate)
    frames = audio[:len(audio) // n * n].reshape(-1, n).astype(np.float64)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)


@needs_fluidsynth
def test_fluidsynth_plays_a_decaying_looped_note_as_the_engines_voice_does(tmp_path):
    """A held note past its loop end and its release: the sample loop, the levelled loop with the envelope's
    decay, the release, through the real FluidSynth, against the engine's own Voice."""
    note = decaying_note(6.0)
    loop = loop_points(len(note.data))
    data, fall = looped_note(note, loop)
    peak = float(np.max(np.abs(data)))
    gens = {sf2.KEY_RANGE: (0, 127), sf2.SAMPLE_MODES: 1, **envelope_generators(loop, RATE, fall, 1.0)}
    from singsynth.export.build import NO_DEFAULT_FILTER
    sample = sf2.Sample("sine", sf2.to_24bit(data / peak), RATE, 57, 0, (loop[0], loop[1]))  # 220 Hz
    bank = tmp_path / "one.sf2"
    mods = [NO_DEFAULT_FILTER] + modulators(Curve(0.0, 0.0, 100))
    sf2.save_sf2(bank, "one", [sf2.Preset("p", 0, 0, [sf2.Zone(target=0)])],
                 [sf2.Instrument("i", [sf2.Zone(gens, mods, 0)])], [sample])
    midi = one_note_midi(tmp_path / "n.mid", 57, 100, held=6.0, total=8.0)  # f0 220 Hz is key 57
    theirs, said = fluidsynth(bank, midi, tmp_path / "f.wav", RATE)
    assert not said, said
    ours = engine_voice(note, 8.0, release_at=6.0)
    n = min(len(theirs), len(ours))
    a, b = levels_db(theirs[:n], RATE), levels_db(ours[:n], RATE)
    offset = np.median((a - b)[:10])  # their channel's gain and ours differ by a constant
    loud = b > b.max() - 60
    assert loud[:62].all()  # through 6.2 s: 2 passes of the loop and into the release
    assert np.max(np.abs((a - offset - b)[loud])) < 1.0, np.round((a - offset - b), 2)
    assert abs(cents(estimate_f0(theirs[int(3 * RATE):int(5.5 * RATE)], RATE, (0, 2.5)), 220.0)) < 5


@needs_fluidsynth
def test_velocity_modulator_changes_the_level_in_fluidsynth_as_the_curve_says(tmp_path):
    curve = Curve(0.15, 0.5, 80.0)  # 0.15 dB a velocity step and half the square law
    t = np.arange(2 * RATE) / RATE
    sample = sf2.Sample("sine", sf2.to_24bit(0.5 * np.sin(2 * np.pi * 220 * t)), RATE, 57, 0, (RATE // 2, RATE))
    from singsynth.export.build import NO_DEFAULT_FILTER
    # 32 dB (800 at FluidSynth's 0.04 dB) that the modulators take back, at most 19 dB at velocity 127: never under
    # 0 dB, as the export keeps it (FluidSynth would stop it at -4.4 dB)
    zone = sf2.Zone({sf2.SAMPLE_MODES: 1, sf2.INITIAL_ATTENUATION: 800}, [NO_DEFAULT_FILTER] + modulators(curve), 0)
    bank = tmp_path / "v.sf2"
    sf2.save_sf2(bank, "v", [sf2.Preset("p", 0, 0, [sf2.Zone(target=0)])], [sf2.Instrument("i", [zone])], [sample])
    levels = {}
    for velocity in (20, 40, 120):
        midi = one_note_midi(tmp_path / f"{velocity}.mid", 57, velocity, held=1.0, total=1.2)
        audio, said = fluidsynth(bank, midi, tmp_path / f"{velocity}.wav", RATE)
        assert not said, said
        levels[velocity] = levels_db(audio[int(0.2 * RATE):int(0.9 * RATE)], RATE, 0.7)[0]
    for velocity in (20, 40):
        assert levels[120] - levels[velocity] == pytest.approx(curve.gain_db(120) - curve.gain_db(velocity), abs=0.3)


@needs_fluidsynth
def test_round_trip_of_a_tiny_preset_through_fluidsynth(preset_dir, tmp_path, capsys):
    """Export a tiny preset's flute, play one held note in FluidSynth and in singsynth (both 48 kHz): same pitch,
    same level at the gain the export names, the loop holding past the note's length, silence after the release."""
    bank = tmp_path / "flute.sf2"
    # 16 layers: a layer for each velocity step, so the note played is the engine's own (test_velocity_modulator_...
    # checks what a layer does between its steps)
    assert run("export", "--preset", preset_dir, "-o", bank, "--instrument", "flute", "--keys-per-zone", "3",
               "--velocity-layers", "16", "--no-disk-cache", "--quiet") == 0
    font = read_sf2(bank.read_bytes())
    gain = float(re.search(rb"synth.gain ([0-9]+\.[0-9]+)", font.info[b"ICMT"]).group(1))
    length = loop_points(4 * RATE)
    assert all(s["loop"][1] - s["start"] == length[1] and s["loop"][0] - s["start"] == length[0]
               for s in font.samples()[:-1])
    assert [p["program"] for p in font.presets()[:-1]] == [73]
    key = 73  # a root: spacing 3 over the flute's 60..96 puts them at 61, 64, ... 73
    assert key in root_keys(60, 96, 3)
    midi = one_note_midi(tmp_path / "n.mid", key, 100, held=4.5, total=6.5, program=73)
    theirs, said = fluidsynth(bank, midi, tmp_path / "f.wav", 48000, gain)
    assert not said, said
    assert run("render", midi, "-o", tmp_path / "s.wav", "--preset", preset_dir, "--no-disk-cache", "--quiet") == 0
    ours = read_wav(tmp_path / "s.wav")[1][:, 0]
    a, b = levels_db(theirs, 48000), levels_db(ours, 48000)
    n = min(len(a), len(b))
    held = slice(1, 45)  # 0.1 .. 4.5 s: past the loop end at 2.9 s
    assert np.max(np.abs(a[held] - b[held])) < 1.0, (a[held] - b[held])
    release = slice(45, 51)  # 4.5 .. 5.1 s, to -36 dB: exponential in both (singsynth ends its curve at exactly 0)
    assert np.max(np.abs(a[release] - b[release])) < 1.0, (a[release] - b[release])
    assert a[56:].max() < b[held].max() - 60  # 1.1 s after note-off
    # random weights make a buzz at the model's frame rate (62.5 Hz), pitched enough for the estimator
    f_theirs, f_ours = (estimate_f0(x, 48000, (0.3, 2.5)) for x in (theirs, ours))
    assert f_ours is not None and f_theirs is not None and abs(cents(f_theirs, f_ours)) < 5


@needs_fluidsynth
def test_a_48khz_preset_exports_48khz_samples_that_play_as_singsynth_does(tmp_path):
    import torch

    from singsynth.model.config import get_config
    from singsynth.model.sing import SING
    from singsynth.preset import save_preset
    torch.manual_seed(0)
    model = SING(get_config("sing-unittest48", n_instruments=len(INSTRUMENTS)))
    preset = save_preset(tmp_path / "tiny48", model, list(INSTRUMENTS), {"name": "tiny48", "license": "MIT"})
    bank = tmp_path / "flute48.sf2"
    assert run("export", "--preset", preset, "-o", bank, "--instrument", "flute", "--keys-per-zone", "12",
               "--velocity-layers", "16", "--no-disk-cache", "--quiet") == 0
    font = read_sf2(bank.read_bytes())
    loop = loop_points(4 * 48000)
    assert all(s["rate"] == 48000 and s["loop"] == (s["start"] + loop[0], s["start"] + loop[1])
               for s in font.samples()[:-1])
    gain = float(re.search(rb"synth.gain ([0-9]+\.[0-9]+)", font.info[b"ICMT"]).group(1))
    key = 65  # a root: 60..96 every 12 keys puts them at 65, 77, 89
    assert key in root_keys(60, 96, 12)
    midi = one_note_midi(tmp_path / "n.mid", key, 100, held=4.0, total=6.0, program=73)
    theirs, said = fluidsynth(bank, midi, tmp_path / "f.wav", 48000, gain)
    assert not said, said
    assert run("render", midi, "-o", tmp_path / "s.wav", "--preset", preset, "--no-disk-cache", "--quiet") == 0
    ours = read_wav(tmp_path / "s.wav")[1][:, 0]
    a, b = levels_db(theirs, 48000), levels_db(ours, 48000)
    held = slice(1, 40)
    assert np.max(np.abs(a[held] - b[held])) < 1.0, (a[held] - b[held])


@needs_fluidsynth
def test_whole_preset_is_a_gm_bank_that_fluidsynth_loads_without_a_warning(preset_dir, tmp_path):
    bank = tmp_path / "gm.sf2"
    assert run("export", "--preset", preset_dir, "-o", bank, "--no-disk-cache", "--quiet") == 0
    font = read_sf2(bank.read_bytes())
    presets = font.presets()[:-1]
    assert sorted((p["bank"], p["program"]) for p in presets) == [(b, p) for b in (0, 128) for p in range(128)]
    by_place = {(p["bank"], p["program"]): i for i, p in enumerate(presets)}
    instrument = lambda place: font.zones("p", by_place[place])[0]["generators"][-1]  # noqa: E731
    assert instrument((0, 73)) != instrument((0, 40))  # flute, violin: their own instruments
    assert instrument((0, 72)) == instrument((0, 73))  # piccolo plays the flute, as in singsynth
    assert instrument((128, 25)) == instrument((128, 0))  # channel 10 plays the kit whatever its program
    kit = font.zones("i", instrument((128, 0))[1])
    assert sorted({dict(z["generators"])[43] for z in kit}) == [(k, k) for k in range(35, 82)]
    assert all(dict(z["generators"])[54] == 0 for z in kit)  # one-shot
    audio, said = fluidsynth(bank, DEMO_MIDI, tmp_path / "demo.wav", 48000)
    assert not said, said
    assert np.sqrt(np.mean(audio ** 2)) > 1e-4


def test_named_instruments_keep_their_programs_and_one_without_takes_the_first_free(preset_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    bank = tmp_path / "named.sf2"
    assert run("export", "--preset", preset_dir, "-o", bank, "--instrument", "violin", "--instrument",
               "flute:0.5,violin:0.5", "--instrument", "drum kit", "--keys-per-zone", "12", "--velocity-layers", "1",
               "--no-disk-cache", "--quiet") == 0
    font = read_sf2(bank.read_bytes())
    assert sorted((p["name"], p["bank"], p["program"]) for p in font.presets()[:-1]) == [
        ("Flute:0.5,Violin:0.", 0, 0), ("Standard Drum Kit", 128, 0), ("Violin", 0, 40)]  # names: 19 characters
    assert "Flute:0.5,Violin:0.5 has no GM program: exported at program 0" in caplog.text
    # the blend plays the pitches both its instruments play (60..96 and 55..103), the nearest of them outside
    blend = next(i for i, p in enumerate(font.presets()) if p["name"].startswith("Flute:"))
    zones = font.zones("i", font.zones("p", blend)[0]["generators"][-1][1])
    roots = {font.samples()[dict(z["generators"])[53]]["pitch"] for z in zones}
    assert min(roots) >= 60 and max(roots) <= 96


def test_bad_input_is_one_line_exit_2_and_leaves_no_file(preset_dir, tmp_path, capsys):
    cases = [(["--instrument", "fluet"], "no instrument 'fluet'"), (["--keys-per-zone", "0"], "--keys-per-zone"),
             (["--velocity-layers", "17"], "--velocity-layers")]
    for extra, said in cases:
        assert run("export", "--preset", preset_dir, "-o", tmp_path / "x.sf2", *extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0], err
    assert run("export", "--preset", tmp_path / "none", "-o", tmp_path / "x.sf2") == 2
    assert run("export", "--preset", preset_dir, "-o", tmp_path / "x.wav") == 2
    assert run("export", "--preset", preset_dir, "-o", tmp_path / "no" / "x.sf2") == 2
    assert run("export", "--preset", preset_dir, "-o", "/proc/x.sf2") == 2  # a folder no one may write in, root too
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and "no such preset" in err[0] and ".sf2" in err[1] and "does not exist" in err[2]
    assert "cannot write in /proc" in err[3]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_bank_too_large_to_index_is_refused_before_any_note_is_made(tmp_path, capsys):
    from singsynth.preset import Instrument
    many = [Instrument(i, f"Lead {i}", f"lead{i}", 80 + i) for i in range(12)]
    preset = make_preset(tmp_path / "many", many)
    assert run("export", "--preset", preset, "-o", tmp_path / "x.sf2", "--keys-per-zone", "1", "--velocity-layers",
               "16", "--cache-dir", tmp_path / "cache") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zones" in err[0] and "--keys-per-zone" in err[0], err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "x.sf2").exists()


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_a_stopped_export_leaves_no_file(preset_dir, tmp_path, monkeypatch, stop):
    from singsynth.io import sf2 as writer
    real = writer.write_sf2
    handler = signal.getsignal(signal.SIGTERM)

    def stopped(out, *args, **kwargs):
        real(out, *args, **kwargs)  # the whole file written under its temporary name, not yet renamed
        assert [p.name for p in tmp_path.iterdir()][0].endswith(".part")
        if stop == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "write_sf2", stopped)
    assert run("export", "--preset", preset_dir, "-o", tmp_path / "x.sf2", "--instrument", "flute",
               "--no-disk-cache", "--quiet") == 130
    assert not list(tmp_path.iterdir())
    assert signal.getsignal(signal.SIGTERM) is handler  # put back

