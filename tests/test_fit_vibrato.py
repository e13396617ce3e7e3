"""Fitting a preset's vibrato head to its source (train/fit_vibrato.py): an instrument whose notes have a vibrato
gets its depth, rate and phase, at the keys it learnt and between them; one without gets none; nothing else in the
weights file changes; bad input is one line and exit 2."""
import json
import wave

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, load_preset, save_preset
from singsynth.train.fit_vibrato import main

RATE = 48_000
CENTS, VIBRATO_HZ = 15.0, 5.0
IDS = ("synth_vibrato_000", "synth_plain_001")


def note(pitch: int, cents: float) -> np.ndarray:
    """Four seconds of a three-partial note whose pitch moves by +-cents at VIBRATO_HZ, held 3 s then released."""
    t = np.arange(4 * RATE) / RATE
    ratio = 2 ** (cents / 1200 * np.sin(2 * np.pi * VIBRATO_HZ * t))
    phase = 2 * np.pi * 440.0 * 2 ** ((pitch - 69) / 12) * np.cumsum(ratio) / RATE
    envelope = np.minimum(t / 0.01, 1) * np.where(t < 3, 1.0, np.exp(-(t - 3) * 8))
    return 0.3 * envelope * sum(a * np.sin(k * phase) for k, a in ((1, 0.5), (2, 0.3), (3, 0.2)))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("vibrato-data")
    (root / "audio").mkdir()
    examples = {}
    for index, (name, cents) in enumerate(zip(IDS, (CENTS, 0.0))):
        for pitch in range(57, 70, 2):
            key = f"{name}-{pitch:03d}-100"
            with wave.open(str(root / "audio" / f"{key}.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(RATE)
                f.writeframes((note(pitch, cents) * 32767).astype("<i2").tobytes())
            examples[key] = {"note_str": key, "instrument": index, "instrument_str": name, "pitch": pitch,
                             "velocity": 100, "sample_rate": RATE, "instrument_family_str": "synth_lead",
                             "instrument_source_str": "synthetic", "qualities_str": []}
    (root / "examples.json").write_text(json.dumps(examples))
    return root


@pytest.fixture
def preset(tmp_path):
    torch.manual_seed(0)
    sing = SING(get_config("sing-unittest48", n_instruments=2)).eval()
    instruments = [Instrument(i, name, name, 80 + i) for i, name in enumerate(IDS)]
    return save_preset(tmp_path / "p", sing, instruments, {"name": "p", "license": "MIT"})


def test_the_head_learns_each_instrument_s_depth_and_rate_and_nothing_else_changes(preset, data, capsys):
    before = load_file(str(preset / "model.safetensors"))
    assert main([str(preset), str(data), "--steps", "600"]) == 0
    assert "fitted to" in capsys.readouterr().out
    after = load_file(str(preset / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("decoder.warp.") for k in changed)
    head = load_preset(preset).model.decoder.warp  # the checksum was updated: it loads
    with torch.no_grad():
        depth, rate, phase = head(torch.eye(2)[[0, 0, 1]], torch.tensor([60, 63, 60]))  # 60, 63: not in the data
    # the measure sees a 64 ms frame's average pitch: a little under the vibrato's depth
    assert 0.8 * CENTS < float(depth[0]) < 1.05 * CENTS and 0.8 * CENTS < float(depth[1]) < 1.05 * CENTS
    assert float(rate[0]) == pytest.approx(VIBRATO_HZ, rel=0.05)
    assert abs(float(phase[0])) < 0.3  # every note's vibrato starts at phase 0
    assert float(depth[2]) < 1.0


def test_data_at_another_rate_is_one_line_and_exit_2(preset, synthetic_data, capsys):
    before = (preset / "model.safetensors").read_bytes()
    assert main([str(preset), str(synthetic_data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Hz" in err and err.count("\n") == 1
    assert (preset / "model.safetensors").read_bytes() == before


def test_training_teaches_the_head_towards_the_source_s_vibrato(data, tmp_path):
    from singsynth.train.config import TrainConfig
    from singsynth.train.data import NSynthData
    from singsynth.train.solver import build_trainer
    torch.manual_seed(0)
    trainer = build_trainer(NSynthData(data), TrainConfig(config="sing-unittest48", batch_size=4, lr=1e-2,
                                                          show_progress=False, checkpoint_every=1e9),
                            tmp_path / "ck.safetensors")
    head = trainer.sing.decoder.warp
    order = [i.id for i in trainer.data.instruments]
    weights, keys = torch.eye(2)[[order.index(IDS[0]), order.index(IDS[1])]], torch.tensor([61, 61])
    with torch.no_grad():
        before = head(weights, keys).depth
    for _ in range(16):
        trainer.train_step("end_to_end", torch.randint(0, len(trainer.train_index), (4,)))
    with torch.no_grad():
        after = head(weights, keys).depth
    assert float(after[0]) > 10 * float(before[0])  # the instrument with a vibrato grows one
    assert float(after[0]) > 3 * float(after[1])  # more than the one without
