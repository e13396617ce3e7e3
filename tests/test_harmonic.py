"""The harmonic decoder: its synthesis against time-domain sines, no aliasing, determinism, streaming,
presets of both decoders, the multi-scale loss and the command line."""
import json
import math

import numpy as np
import pytest
import torch
from synthetic import make_nsynth

from singsynth.cli import main
from singsynth.model import losses
from singsynth.model.config import SAMPLE_RATE, get_config
from singsynth.model.harmonic import HIGHEST_PARTIAL_HZ, HarmonicSynth, hann_dtft
from singsynth.model.sing import SING
from singsynth.preset import Instrument, load_preset, save_preset

CONFIG = get_config("sing-unittest", n_instruments=3, decoder="harmonic")


def synthesise(freqs: list[float], amps: list[float], frames: int | None = None) -> np.ndarray:
    synth = HarmonicSynth(CONFIG)
    count = frames or CONFIG.steps
    amplitudes = torch.tensor(amps, dtype=torch.float32).expand(1, count, -1)
    wav = synth(amplitudes, torch.tensor([freqs], dtype=torch.float32), torch.zeros(1, count, synth.bins))
    return wav[0].double().numpy()


def sines(freqs, amps, length: int) -> np.ndarray:
    n = np.arange(length) - CONFIG.padding  # the note's sample 0 lies after the padding
    return sum(a * np.cos(2 * np.pi * f * n / SAMPLE_RATE) for f, a in zip(freqs, amps))


def note_part(wav: np.ndarray) -> np.ndarray:
    return wav[CONFIG.padding:CONFIG.padding + CONFIG.note_samples]


@pytest.mark.parametrize("f0", [27.5, 50.0, 261.63, 440.0, 500.0, 1975.5, 4186.0])
@pytest.mark.parametrize("stretch", [0.0, 4e-4])
def test_partials_match_time_domain_sines(f0, stretch):
    k = np.arange(1, 9)
    # as the synthesis holds them: in float32 (within 0.001 cents)
    freqs = (k * f0 * np.sqrt(1 + stretch * k ** 2)).astype(np.float32).astype(np.float64)
    amps = 0.3 / k
    out = synthesise(list(freqs), list(amps))
    audible = freqs < HIGHEST_PARTIAL_HZ
    expected = sines(freqs[audible], amps[audible], len(out))
    error = np.abs(note_part(out) - note_part(expected)).max()
    assert 20 * np.log10(error / np.abs(expected).max()) < -60, (f0, stretch, error)


def test_no_aliased_peak_above_minus_80_db():
    freqs = [6100.0, 7300.0, 7749.0, 7900.0, 9100.0]  # the last two are masked
    out = note_part(synthesise(freqs, [0.3] * len(freqs)))
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    hz = np.fft.rfftfreq(len(out), 1 / SAMPLE_RATE)
    peak = spectrum.max()
    for f in freqs:
        alias = 16_000 - f
        if alias < 8_000:
            near = np.abs(hz - alias) < 20
            assert 20 * np.log10(spectrum[near].max() / peak) < -80, f
    # and nothing at all where the masked partials would sound
    assert 20 * np.log10(spectrum[np.abs(hz - 7900) < 20].max() / peak) < -80


def test_hann_kernel_is_the_windows_dft_at_integer_and_fractional_bins():
    n = 64
    window = torch.hann_window(n, periodic=True, dtype=torch.float64)
    for nu in (0.0, 1.0, 2.5, -3.25, 7.0):
        t = torch.arange(n, dtype=torch.float64)
        expected = (window * torch.exp(-2j * math.pi * nu * t / n)).sum()
        re, im = hann_dtft(torch.tensor([nu], dtype=torch.float64), n)
        assert abs(complex(re.item(), im.item()) - complex(expected)) < 1e-9, nu


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = get_config("sing-unittest", n_instruments=3, decoder="harmonic", inharmonicity=True, residual=True)
    sing = SING(config).eval()
    with torch.no_grad():  # audible controls, a tuning and a stretch, so the tests see a real note
        sing.decoder.controls.bias[0] += 4
        sing.decoder.tuning.copy_(torch.tensor([0.0, 1.0, -0.01]))
        sing.decoder.inharmonicity.copy_(torch.tensor([0.5, 0.0, 1.0]))
    return sing


def test_the_same_note_twice_is_identical(model):
    w = model.instrument_weights(torch.tensor([0, 1]))
    with torch.no_grad():
        first = model(w, torch.tensor([60, 33]), torch.tensor([100, 50]))
        second = model(w, torch.tensor([60, 33]), torch.tensor([100, 50]))
    assert torch.equal(first, second)
    assert first.abs().max() > 0.01


@pytest.mark.parametrize("first,steps", [(8, 64), (1, 1), (3, 17)])
def test_streaming_equals_the_whole_note(model, first, steps):
    w = model.instrument_weights(torch.tensor([0, 2]))
    w[1] = torch.tensor([0.3, 0.0, 0.7])  # a blend too
    pitch, velocity = torch.tensor([60, 40]), torch.tensor([100, 12])
    with torch.no_grad():
        whole = model(w, pitch, velocity)
        streamed = torch.cat(list(model.stream(w, pitch, velocity, first_steps=first, steps=steps)), dim=1)
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max() < 1e-6


def test_tuning_moves_the_fundamental(model):
    """Instrument 1 sounds an octave above its key; the synthesis puts its f0 there."""
    freqs = model.decoder.partial_frequencies(model.instrument_weights(torch.tensor([0, 1])), torch.tensor([69, 69]))
    assert freqs[1, 0].item() == pytest.approx(880.0)
    assert freqs[1, 3].item() == pytest.approx(4 * 880.0)
    # instrument 0 is stretched: f_k = k f0 sqrt(1 + B k^2) with B = (0.02 * 0.5)^2
    assert freqs[0, 3].item() == pytest.approx(4 * 440.0 * math.sqrt(1 + 1e-4 * 16), rel=1e-6)


def test_presets_of_both_decoders_save_and_load(model, tmp_path):
    instruments = [Instrument(i, f"inst{i}", f"inst{i}", i) for i in range(3)]
    conv = SING(get_config("sing-unittest", n_instruments=3)).eval()
    for name, sing in (("harmonic", model), ("conv", conv)):
        folder = save_preset(tmp_path / name, sing, instruments, {"name": name})
        preset = load_preset(folder)
        assert preset.model.config == sing.config
        w = preset.instrument_weights([0, 1])
        expected = sing(w, torch.tensor([60, 61]), torch.tensor([100, 100])).detach().numpy()
        # fp16 weights: close, not equal; the tuning is kept in float32, so pitch is exact
        got = preset.generate(w, [60, 61], [100, 100])
        assert np.abs(got - expected).max() < 0.02 * np.abs(expected).max() + 1e-4
    assert torch.equal(load_preset(tmp_path / "harmonic").model.decoder.tuning, model.decoder.tuning)


def test_multiscale_loss_is_zero_on_identical_notes_and_sees_silence():
    torch.manual_seed(0)
    x = torch.randn(2, 16_000) * 0.1
    assert losses.multiscale_loss(x, x).item() == 0
    quiet = x * 1e-3
    silence = torch.zeros_like(x)
    # the log term still tells a quiet note from silence, which log(1 + |X|^2) barely does
    assert losses.multiscale_loss(silence, quiet).item() > 10 * losses.multiscale_loss(quiet * 1.1, quiet).item()
    per_note = losses.multiscale_loss(x, x * 0.5, reduction="none")
    assert per_note.shape == (2,) and (per_note > 0).all()


def test_harmonic_training_from_the_command_line(tmp_path, capsys):
    data = make_nsynth(tmp_path / "data")
    out = tmp_path / "preset"
    args = ["train", "--data", str(data), "--out", str(out), "--config", "sing-unittest", "--decoder", "harmonic",
            "--end-to-end-loss", "multiscale", "--epochs", "1,1,2", "--autoencoder-loss", "multiscale",
            "--batch-size", "4", "--checkpoint", str(tmp_path / "ck"), "--quiet"]
    assert main(args) == 0
    preset = load_preset(out)
    assert preset.model.config.decoder == "harmonic"
    assert preset.meta["training"]["valid_loss"] == "multiscale"
    assert preset.meta["training"]["best"]["epoch"] in (1, 2)
    # the synthetic notes are tuned to their keys: measured within a few cents, key by key
    assert preset.model.decoder.tuning.shape == (2, 128)
    assert preset.model.decoder.tuning.abs().max().item() < 5 / 1200
    capsys.readouterr()
    assert main(["info", "--preset", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["decoder"] == "harmonic"
    assert main(["info", "--config", "sing-tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["decoder"] == "conv"


def test_harmonic_options_need_the_harmonic_decoder(tmp_path, capsys):
    data = make_nsynth(tmp_path / "data")
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "p"), "--config", "sing-unittest",
                 "--decoder", "conv", "--residual"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--decoder harmonic" in err[0]
    assert not (tmp_path / "p").exists()


def test_default_recipe_is_the_harmonic_one(tmp_path):
    data = make_nsynth(tmp_path / "data")
    out = tmp_path / "preset"
    assert main(["train", "--data", str(data), "--out", str(out), "--config", "sing-unittest", "--epochs", "0,0,1",
                 "--checkpoint", str(tmp_path / "ck"), "--quiet"]) == 0
    meta = load_preset(out).meta
    assert meta["model"]["decoder"] == "harmonic" and meta["model"]["key_tuning"] and meta["model"]["harmonics"] == 128
    recipe = meta["training"]["recipe"]
    assert (recipe["end_to_end_loss"], recipe["lr"], recipe["batch_size"]) == ("multiscale", 1e-3, 16)


def test_key_tuning_follows_each_key_and_streams_exactly():
    torch.manual_seed(0)
    sing = SING(get_config("sing-unittest", n_instruments=2, decoder="harmonic", key_tuning=True)).eval()
    with torch.no_grad():
        sing.decoder.controls.bias[0] += 4
        sing.decoder.tuning[1, 70:] = -1.0  # a sample zone an octave down from key 70
    w = sing.instrument_weights(torch.tensor([0, 1, 1]))
    freqs = sing.decoder.partial_frequencies(w, torch.tensor([69, 69, 81]))
    assert freqs[:, 0].tolist() == pytest.approx([440.0, 440.0, 440.0])
    w[0] = torch.tensor([0.5, 0.5])  # a blend mixes the two instruments' offsets for its own key
    assert sing.decoder.partial_frequencies(w[:1], torch.tensor([81]))[0, 0].item() == pytest.approx(880 * 2 ** -0.5)
    pitch, velocity = torch.tensor([81, 69, 81]), torch.tensor([100, 100, 64])
    with torch.no_grad():
        whole = sing(w, pitch, velocity)
        streamed = torch.cat(list(sing.stream(w, pitch, velocity, first_steps=3, steps=17)), dim=1)
    assert (streamed - whole).abs().max() < 1e-6


def test_key_tuning_is_measured_per_key_without_one_notes_slip():
    from synthetic import harmonic_note

    from singsynth.train.tuning import measure_key_tuning
    keys = list(range(50, 66))
    # keys 58.. sound an octave up (a sample zone); key 53 is a lone octave slip; key 55 has no note
    played = [k + (12 if k >= 58 else 0) + (12 if k == 53 else 0) for k in keys]
    notes = [(k, p) for k, p in zip(keys, played) if k != 55]
    audio = np.stack([harmonic_note(p, 100, 3) for _, p in notes])
    tables = measure_key_tuning(audio.__getitem__, [0] * len(notes), [k for k, _ in notes], [100.0] * len(notes),
                                [False, True], 2)
    table = np.array(tables[0]) * 1200
    assert np.abs(table[50:57]).max() < 5  # the slip at 53 outvoted, 55 interpolated
    assert np.abs(table[59:66] - 1200).max() < 5  # the zone kept
    assert np.abs(table[66:] - 1200).max() < 5 and np.abs(table[:50]).max() < 5  # flat beyond the ends
    assert tables[1] == [0.0] * 128  # the kit


def test_control_offsets_of_zeros_add_nothing_and_a_row_moves_its_own_notes_and_streams_exactly():
    """ModelConfig.instrument_controls: a model with the offsets at zero plays bit for bit as the same model without
    them; an offset row changes its instrument's notes only, its slope not at the pivot key, and a stream of such a
    note equals the whole note."""
    from singsynth.model.harmonic import control_offsets
    torch.manual_seed(0)
    plain = SING(get_config("sing-unittest", n_instruments=2, decoder="harmonic", key_tuning=True)).eval()
    with torch.no_grad():
        plain.decoder.controls.bias[0] += 4
    offsets = SING(get_config("sing-unittest", n_instruments=2, decoder="harmonic", key_tuning=True,
                              instrument_controls=True)).eval()
    offsets.load_state_dict({**plain.state_dict(), "decoder.control_offsets": offsets.decoder.control_offsets})
    w = plain.instrument_weights(torch.tensor([0, 1, 1]))
    pitch, velocity = torch.tensor([60, 48, 72]), torch.tensor([100.0, 64.0, 127.0])
    with torch.no_grad():
        before = plain(w, pitch, velocity)
        assert torch.equal(offsets(w, pitch, velocity), before)
        offsets.decoder.control_offsets[1, 0].normal_(0, 1.0)
        offsets.decoder.control_offsets[1, 1].normal_(0, 1.0)
        after = offsets(w, pitch, velocity)
        streamed = torch.cat(list(offsets.stream(w, pitch, velocity, first_steps=3, steps=17)), dim=1)
    assert torch.equal(after[0], before[0])  # instrument 0's row is still zeros
    assert (after[1:] - before[1:]).abs().max() > 0.1 * before[1:].abs().max()
    assert (streamed - after).abs().max() < 1e-6
    rows = offsets.decoder.control_offsets.detach()
    at = control_offsets(rows, w, torch.tensor([60, 60, 72]))
    assert torch.equal(at[1], rows[1, 0]) and torch.allclose(at[2], rows[1, 0] + rows[1, 1])  # one octave up
