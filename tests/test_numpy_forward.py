"""The numpy forward pass (model/numpy_forward.py, numpy_harmonic.py, numpy_stream.py) against torch's: every output
stage and head on tiny presets within 1e-5 of torch's float32 stream, the noise table bit for bit, a render within
1e-6 either way, a note made short and extended from its state on disk equal to the whole note, a file with a part
it does not know left to torch, and a cold render that never imports torch."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from engine_fixtures import INSTRUMENTS
from test_offline_render import everything

from singsynth.model.config import get_config
from singsynth.model.numpy_harmonic import noise_table
from singsynth.model.sing import SING
from singsynth.preset import load_preset, save_preset
from singsynth.synth import note_length, runtime
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.schedule import render_file

CONFIGS = {
    "paper's output stage": get_config("sing-unittest", n_instruments=3),
    "harmonic with its options": get_config("sing-unittest", n_instruments=3, decoder="harmonic", harmonics=32,
                                            noise_bands=33, key_tuning=True, residual=True),
    "48 kHz, rise and vibrato": get_config("sing-unittest48", n_instruments=3),
    "48 kHz, vibrato head as it starts": get_config("sing-unittest48", n_instruments=3),
    "harmonic with per-instrument control offsets": get_config("sing-unittest", n_instruments=3, decoder="harmonic",
                                                               harmonics=32, noise_bands=33, key_tuning=True,
                                                               instrument_controls=True),
}


def saved(folder, config, seed: int = 0, vibrato: bool = True):
    torch.manual_seed(seed)
    model = SING(config).eval()
    with torch.no_grad():
        if config.vibrato and vibrato:  # a head whose oscillators move the reading, beyond the dead zone
            model.decoder.warp.layers[2].weight.normal_(0, 0.5)
            model.decoder.warp.layers[2].bias.copy_(torch.tensor([2.0, 0.5, 0.3, 1.0]))
        if config.inharmonicity:
            model.decoder.inharmonicity.uniform_(0.5, 1.5)
        if config.decoder == "harmonic":
            model.decoder.tuning.uniform_(-0.02, 0.02)
        if config.instrument_controls:  # offsets and slopes that move loudness, partials and noise audibly
            model.decoder.control_offsets.normal_(0, 1.0)
    return save_preset(folder, model, list(INSTRUMENTS), {"name": folder.name, "license": "MIT"})


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request, tmp_path_factory):
    """The same preset twice: torch in float32, and numpy."""
    folder = saved(tmp_path_factory.mktemp("numpy") / "p", CONFIGS[request.param],
                   vibrato=request.param != "48 kHz, vibrato head as it starts")
    torch_preset = load_preset(folder)
    torch_preset.full_precision = True
    arrays = load_preset(folder, lazy=True)
    assert arrays.use_arrays(), "the numpy forward pass refused a preset it should read"
    return torch_preset, arrays


NOTES = (np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 0]] * 0.7 + np.float32(0.1),  # blends too
         np.array([60, 72, 38, 95, 55, 61]), np.array([100, 64, 127, 12, 90, 30]))


def test_the_constants_are_the_models():
    """numpy_harmonic.py repeats model/harmonic.py's constants (it imports torch) and shares vibrato.py's through
    config.py."""
    from singsynth.model import harmonic, numpy_harmonic, vibrato
    for module in (harmonic, vibrato):
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, (int, float)) and hasattr(numpy_harmonic, name):
                assert getattr(numpy_harmonic, name) == value, name
    used = ("LOWEST_RATE_HZ", "HIGHEST_RATE_HZ", "DEEPEST_CENTS", "MAX_DISPLACEMENT_SECONDS", "LANCZOS_A",
            "FARROW_DEGREE", "PLAY_DEAD_ZONE", "DEPTH_GAIN", "KERNEL_HALF_WIDTH", "GUARD_BINS", "NOISE_SEED")
    assert all(hasattr(vibrato, n) or hasattr(harmonic, n) for n in used)  # none renamed away
    assert numpy_harmonic.reach_samples(48000) == vibrato.reach_samples(48000)


def test_the_noise_table_is_torchs_bit_for_bit():
    from singsynth.model.harmonic import HarmonicSynth
    config = get_config("sing-unittest48")
    expected = torch.view_as_complex(HarmonicSynth(config).noise).numpy()
    assert np.array_equal(noise_table(config.steps, config.frame // 2 + 1), expected)


def test_notes_stream_as_torchs_do(pair):
    torch_preset, arrays = pair
    steps = [40, None, 96, 20, None, 60]
    made = note_length.run(arrays, arrays.open_stream(*NOTES), steps)
    expected = note_length.run(torch_preset, torch_preset.open_stream(*NOTES), steps)
    for (ours, _), (theirs, _) in zip(made, expected):
        assert ours.shape == theirs.shape and np.abs(theirs).max() > 1e-4
        assert np.abs(ours - theirs).max() < 1e-5


def test_a_note_streamed_whole_is_torchs_whole_note(pair):
    torch_preset, arrays = pair
    whole = torch_preset.generate(torch.from_numpy(NOTES[0]), NOTES[1], NOTES[2])
    made = note_length.run(arrays, arrays.open_stream(*NOTES), [None] * len(NOTES[1]))
    assert np.abs(np.stack([m for m, _ in made]) - whole).max() < 1e-5


def test_a_note_made_short_and_extended_from_disk_is_the_whole_note(pair):
    """The state goes through the arrays the disk holds; a batch of any size rounds each note alike."""
    _, arrays = pair
    whole = note_length.run(arrays, arrays.open_stream(*NOTES), [None] * 6)
    short = note_length.run(arrays, arrays.open_stream(*NOTES), [48] * 6)
    for i, (samples, stream) in enumerate(short):
        fresh = arrays.open_stream(*(x[i:i + 1] for x in NOTES))
        assert note_length.restore(fresh, note_length.state_arrays(stream))
        rest, _ = note_length.run(arrays, fresh, [None])[0]
        assert np.abs(np.concatenate([samples, rest]) - whole[i][0]).max() < 1e-6


def test_a_render_is_the_same_either_way(pair, monkeypatch):
    """Notes as the model made them: the cache's float16 (to_cached_precision) would turn a difference in a note's
    last float32 bits into one of its own steps (3e-5 near 0.05) wherever a sample lies near a rounding boundary."""
    from singsynth.synth import note_maker, note_supply
    for module in (note_maker, note_supply):
        monkeypatch.setattr(module, "to_cached_precision", lambda wav: np.asarray(wav, np.float32))
    torch_preset, arrays = pair
    out = []
    for preset in (torch_preset, arrays):
        engine = make_engine(preset, 48000, cache=NoteCache())
        chunks: list[np.ndarray] = []
        render_file(engine, everything(), chunks.append)
        out.append(np.concatenate(chunks))
    assert out[0].shape == out[1].shape and np.abs(out[0]).max() > 1e-3
    assert np.abs(out[0] - out[1]).max() < 1e-6


def test_a_model_with_inharmonicity_is_left_to_torch(tmp_path):
    """torch's vectorised square root of the stretch is not always correctly rounded: numpy's frequencies would be
    an ulp away from torch's, a phase drifting over the note."""
    config = get_config("sing-unittest", n_instruments=3, decoder="harmonic", harmonics=32, noise_bands=33,
                        inharmonicity=True)
    preset = load_preset(saved(tmp_path / "p", config), lazy=True)
    assert not preset.use_arrays()


def test_a_file_with_a_part_the_numpy_pass_does_not_know_is_left_to_torch(tmp_path):
    from safetensors.numpy import load_file, save_file

    from singsynth.preset import update_metadata
    from singsynth.preset.files import file_sha256
    folder = saved(tmp_path / "p", CONFIGS["48 kHz, rise and vibrato"])
    weights = load_file(str(folder / "model.safetensors"))
    weights["decoder.warp.layer.weight"] = np.zeros((2, 32, 1), np.float16)  # a head of another shape
    save_file(weights, str(folder / "model.safetensors"))
    update_metadata(folder, weights_sha256=file_sha256(folder / "model.safetensors"))
    preset = load_preset(folder, lazy=True)
    assert not preset.use_arrays() and not preset.runs_arrays


def test_a_cold_render_of_a_small_file_never_imports_torch(tiny_preset_dir, tmp_path):
    """The numpy pass makes the notes (where the CPU multiplies bfloat16, torch would only for thousands of notes)."""
    import mido
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track += [mido.Message("note_on", note=n, velocity=90, time=0) for n in (60, 64, 67)]
    track += [mido.Message("note_off", note=60, time=480), mido.Message("note_off", note=64),
              mido.Message("note_off", note=67)]
    midi.save(tmp_path / "chord.mid")
    script = ("import sys; from singsynth.cli import main; "
              f"code = main(['render', {str(tmp_path / 'chord.mid')!r}, '-o', {str(tmp_path / 'out.wav')!r}, "
              f"'--preset', {str(tiny_preset_dir)!r}, '--cache-dir', {str(tmp_path / 'cache')!r}, '--quiet']); "
              "print('torch' in sys.modules, code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["False", "0"], done.stderr[-2000:]
    assert "3 notes generated" in done.stderr


@pytest.mark.parametrize("native, full, frame, steps, numpy_runs", [
    (True, False, 1024, 100, True),  # a few notes: torch's start does not pay back
    (True, False, 1024, runtime.BFLOAT16_BREAK_EVEN_STEPS, False),  # many at 16 kHz: torch's bfloat16 LSTM
    (True, True, 1024, 10**6, True),  # float32 asked for: numpy's is the quicker
    (True, False, 3072, 10**6, True),  # 48 kHz framing: numpy per note too
    (False, False, 1024, 10**6, True),  # no bfloat16 arithmetic
])
def test_the_runtime_is_numpy_except_for_many_bfloat16_notes_at_16_khz(monkeypatch, native, full, frame, steps,
                                                                        numpy_runs):
    monkeypatch.setattr(runtime, "native_bfloat16", lambda: native)
    preset = SimpleNamespace(full_precision=full, config=SimpleNamespace(frame=frame))
    assert runtime.prefer_arrays(preset, steps) == numpy_runs
