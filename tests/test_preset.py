"""Presets: safetensors + JSON round trip, and damaged or hostile files refused with one line."""
import json
import pickle
import struct

import numpy as np
import pytest
import torch

from singsynth.cli import main
from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, PresetError, load_preset, save_preset

INSTRUMENTS = [Instrument(0, "Flute", "sf_flute", 73), Instrument(1, "Violin", "sf_violin", 40),
               Instrument(2, "Standard Drum Kit", "sf_drums", None, drums=True, pitch_range=(35, 81))]


@pytest.fixture()
def preset_dir(tmp_path):
    torch.manual_seed(0)
    model = SING(get_config("sing-unittest", n_instruments=3))
    return save_preset(tmp_path / "p", model, INSTRUMENTS, {"name": "p", "license": "MIT"}, output_gain=2.0)


def test_round_trip_keeps_weights_instruments_and_gain(preset_dir):
    preset = load_preset(preset_dir)
    assert [i.name for i in preset.instruments] == ["Flute", "Violin", "Standard Drum Kit"]
    assert preset.instruments[2].drums and preset.instruments[2].pitch_range == (35, 81)
    assert preset.output_gain == 2.0
    torch.manual_seed(0)
    reference = SING(get_config("sing-unittest", n_instruments=3))
    for key, value in reference.state_dict().items():
        assert torch.allclose(preset.model.state_dict()[key], value.half().float())
    preset.full_precision = True  # as streamed chunks are made (model/precision.py)
    out = preset.generate(preset.instrument_weights([0, 1]), [60, 62], [100, 50])
    assert out.shape == (2, 64_000) and out.dtype == np.float32
    streamed = np.concatenate(list(preset.stream(preset.instrument_weights([0, 1]), [60, 62], [100, 50])), axis=1)
    assert np.allclose(streamed, out, atol=1e-5 * np.abs(out).max())


def test_preset_found_by_json_path(preset_dir):
    assert load_preset(preset_dir / "preset.json").name == "p"


def test_unknown_name_is_refused():
    with pytest.raises(PresetError, match="no such preset"):
        load_preset("no-such-preset-anywhere")


def _weights(preset_dir):
    return preset_dir / "model.safetensors"


def test_truncated_weights_are_refused(preset_dir):
    data = _weights(preset_dir).read_bytes()
    _weights(preset_dir).write_bytes(data[: len(data) // 2])
    with pytest.raises(PresetError, match="model.safetensors.*(truncated|corrupted)"):
        load_preset(preset_dir)


def test_flipped_bytes_fail_the_checksum(preset_dir):
    data = bytearray(_weights(preset_dir).read_bytes())
    data[-100] ^= 0xFF
    _weights(preset_dir).write_bytes(bytes(data))
    with pytest.raises(PresetError, match="checksum"):
        load_preset(preset_dir)


def _strip_checksum(preset_dir):
    meta = json.loads((preset_dir / "preset.json").read_text())
    meta.pop("weights_sha256")
    (preset_dir / "preset.json").write_text(json.dumps(meta))
    return meta


def test_pickle_is_never_loaded(preset_dir, tmp_path):
    _strip_checksum(preset_dir)
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    _weights(preset_dir).write_bytes(pickle.dumps(Payload()))
    with pytest.raises(PresetError, match="model.safetensors"):
        load_preset(preset_dir)
    assert not marker.exists()


def test_huge_header_claim_is_refused(preset_dir):
    _strip_checksum(preset_dir)
    _weights(preset_dir).write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(PresetError, match="not a valid safetensors"):
        load_preset(preset_dir)


def test_json_lying_about_the_config_is_refused(preset_dir):
    meta = json.loads((preset_dir / "preset.json").read_text())
    meta["model"]["hidden"] = 64
    (preset_dir / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="shape"):
        load_preset(preset_dir)


def test_wrong_dtype_is_refused(preset_dir):
    from safetensors.torch import save_file
    _strip_checksum(preset_dir)
    state = {k: v.to(torch.int32) for k, v in SING(get_config("sing-unittest", n_instruments=3)).state_dict().items()}
    save_file(state, str(_weights(preset_dir)))
    with pytest.raises(PresetError, match="dtype I32"):
        load_preset(preset_dir)


def test_foreign_json_is_refused(preset_dir):
    (preset_dir / "preset.json").write_text('{"hello": 1}')
    with pytest.raises(PresetError, match="not a singsynth preset"):
        load_preset(preset_dir)


def test_instrument_count_must_match_the_model(preset_dir):
    meta = json.loads((preset_dir / "preset.json").read_text())
    meta["instruments"] = meta["instruments"][:2]
    (preset_dir / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="lists 2 instruments"):
        load_preset(preset_dir)


def test_cli_prints_one_line_and_exits_2(preset_dir, capsys):
    (preset_dir / "preset.json").write_text("{not json")
    assert main(["info", "--preset", str(preset_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "preset.json" in err and "Traceback" not in err


def test_unreadable_metadata_is_one_line(preset_dir):
    (preset_dir / "preset.json").unlink()
    (preset_dir / "preset.json").mkdir()  # reading it raises an OSError, as an unreadable file does
    with pytest.raises(PresetError, match="preset.json: unreadable"):
        load_preset(preset_dir)
