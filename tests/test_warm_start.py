"""Training on from a preset (`singsynth train --init`): its weights, held-out pairs and training time carry on,
and a preset of another model, other instruments or another level is refused in one line."""

import pytest
import torch
from synthetic import make_nsynth

from singsynth.cli import main
from singsynth.preset import load_preset, update_metadata


def train_args(data, out, checkpoint, *extra, epochs="0,0,2"):
    return ["train", "--data", str(data), "--out", str(out), "--config", "sing-unittest", "--decoder", "harmonic",
            "--epochs", epochs, "--batch-size", "4", "--checkpoint", str(checkpoint), "--quiet", *extra]


@pytest.fixture(scope="module")
def first(synthetic_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("first")
    assert main(train_args(synthetic_data, root / "preset", root / "ck")) == 0
    return root / "preset"


def copy_of(preset, folder):
    folder.mkdir()
    for f in preset.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def test_training_goes_on_from_the_preset(synthetic_data, first, tmp_path):
    # five hours of training so far, as a preset trained elsewhere would record them
    earlier = copy_of(first, tmp_path / "earlier")
    update_metadata(earlier, training={**load_preset(first).meta["training"], "hours": 5.0})
    args = train_args(synthetic_data, tmp_path / "on", tmp_path / "ck", "--init", str(earlier), epochs="0,0,1")
    assert main(args) == 0
    before, after = load_preset(earlier).meta, load_preset(tmp_path / "on").meta
    assert after["held_out"] == before["held_out"]
    assert 5.0 <= after["training"]["hours"] < 5.1  # hours are kept to 3.6 s
    assert after["training"]["history"][:2] == before["training"]["history"]
    assert len(after["training"]["history"]) == 3
    assert after["training"]["history"][2]["seconds"] > 5 * 3600
    assert after["training"]["recipe"]["init"] == str(earlier.resolve())


def test_with_no_epochs_the_preset_comes_back_unchanged(synthetic_data, first, tmp_path):
    """The preset's weights are where training starts, and they compete for the best epoch."""
    args = train_args(synthetic_data, tmp_path / "same", tmp_path / "ck", "--init", str(first), epochs="0,0,0")
    assert main(args) == 0
    a, b = load_preset(first), load_preset(tmp_path / "same")
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    assert b.meta["training"]["best"]["epoch"] == 0


def test_the_presets_held_out_pairs_stay_held_out(synthetic_data, first, tmp_path):
    """Even where they are not the data's own split (a preset made under another rule)."""
    copy = copy_of(first, tmp_path / "moved")
    held = load_preset(first).meta["held_out"]
    train_pair = next(p for p in ([i, n] for i in ("synth_sine_000", "synth_bright_001") for n in range(55, 63))
                      if p not in held["valid"] + held["test"])
    update_metadata(copy, held_out={"valid": [train_pair], "test": []})
    args = train_args(synthetic_data, tmp_path / "on", tmp_path / "ck", "--init", str(copy), epochs="0,0,1")
    assert main(args) == 0
    assert load_preset(tmp_path / "on").meta["held_out"] == {"valid": [train_pair], "test": []}


@pytest.mark.parametrize("change, words", [
    (["--config", "sing-tiny"], "its model differs in"),
    (["--no-key-tuning"], "key_tuning True (asked: False)"),
    (["--target-rms", "3"], "--target-rms"),
    (["--epochs", "1,0,1"], "--epochs 0,0,N"),
])
def test_another_model_or_level_is_refused_in_one_line(synthetic_data, first, tmp_path, capsys, change, words):
    args = train_args(synthetic_data, tmp_path / "p", tmp_path / "ck", "--init", str(first))
    flag = change[0]
    if len(change) == 1:
        args.append(flag)
    elif flag in args:
        args[args.index(flag) + 1] = change[1]
    else:
        args += change
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "p").exists()


def test_other_instruments_or_a_missing_preset_are_refused(first, tmp_path, capsys):
    three = make_nsynth(tmp_path / "three", instruments=("synth_sine_000", "synth_bright_001", "synth_dull_002"))
    assert main(train_args(three, tmp_path / "p", tmp_path / "ck", "--init", str(first))) == 2
    assert main(train_args(three, tmp_path / "p", tmp_path / "ck", "--init", str(tmp_path / "nowhere"))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "its 2 instruments are not the data's 3 (the data adds synth_dull_002)" in err[0]
    assert "nowhere" in err[1]


def test_a_run_stopped_midway_through_an_epoch_keeps_its_weights_if_they_score_best(
        synthetic_data, first, tmp_path, monkeypatch):
    """Stopped in its first epoch and written with --epochs 0,0,0: the part epoch competes with the preset it
    started from, and the preset gets whichever scores the lower validation loss."""
    from singsynth.train.solver import Trainer
    step_end_to_end = Trainer._step_end_to_end
    calls = []

    def stop_at_the_third_step(self, batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return step_end_to_end(self, batch)
    monkeypatch.setattr(Trainer, "_step_end_to_end", stop_at_the_third_step)
    stopped = train_args(synthetic_data, tmp_path / "on", tmp_path / "ck", "--init", str(first),
                         "--checkpoint-every", "0", epochs="0,0,1")
    assert main(stopped) == 130 and not (tmp_path / "on").exists()
    monkeypatch.undo()

    args = train_args(synthetic_data, tmp_path / "on", tmp_path / "ck", "--init", str(first), epochs="0,0,0")
    assert main(args) == 0
    start, written = load_preset(first), load_preset(tmp_path / "on")
    best = written.meta["training"]["best"]
    assert 0 < best["epoch"] < 1 or best["epoch"] == 0, best  # two of the epoch's steps, or the start
    from safetensors.torch import load_file
    reached = {k.removeprefix("model.sing."): v
               for k, v in load_file(str(tmp_path / "ck" / "checkpoint.safetensors")).items()
               if k.startswith("model.sing.")}
    expected = reached if best["epoch"] > 0 else start.model.state_dict()
    for key, value in written.model.state_dict().items():
        assert torch.allclose(value.float(), expected[key].float(), atol=2e-3), key


def test_a_model_widened_to_48_khz_starts_out_sounding_as_the_16_khz_one():
    """Carried across rates (train --init with --config sing-gm48): below the old Nyquist the new model's note has
    the old one's spectrum; above it, only what training adds. (Pitches whose partials all lie below the old
    Nyquist: a partial the old model silenced there comes back in the new one with whatever level its weights give.)"""
    import numpy as np
    import soxr

    from singsynth.model.config import get_config
    from singsynth.model.sing import SING
    from singsynth.train.warm_start import widen_state
    torch.manual_seed(0)
    old = SING(get_config("sing-unittest", n_instruments=2, decoder="harmonic", harmonics=24)).eval()
    new_config = get_config("sing-unittest48", n_instruments=2, noise_bands=193)  # 125 Hz apart, as the old 65
    new = SING(new_config)
    new.load_state_dict(widen_state(old.state_dict(), old.config, new.state_dict(), new_config))
    new.eval()
    args = old.instrument_weights(torch.tensor([0, 1])), torch.tensor([45, 57]), torch.tensor([100.0, 100.0])
    with torch.no_grad():
        low, full = old(*args).numpy(), new(*args).numpy()
    for a, b in zip(soxr.resample(low.T, 16_000, 48_000).T, full):
        spectra = [np.abs(np.fft.rfft(x[48_000:144_000])) ** 2 for x in (a, b)]  # 1 s to 3 s: past the rise
        hz = np.fft.rfftfreq(96_000, 1 / 48_000)
        for lo, hi in ((0, 1000), (1000, 3000), (3000, 7000)):
            band = (hz >= lo) & (hz < hi)
            ratio = 10 * np.log10(spectra[1][band].sum() / spectra[0][band].sum())
            assert abs(ratio) < 1.0, (lo, hi, ratio)
        above = (hz >= 9000) & (hz < 23000)  # new partials and noise bands start silent, not as a hiss
        assert 10 * np.log10(spectra[1][above].sum() / spectra[1][hz < 7000].sum()) < -60
