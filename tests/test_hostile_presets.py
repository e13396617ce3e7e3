"""Hostile and broken presets through the real command line: exit 2, one line naming the file and the problem,
no traceback, nothing executed, nothing left hanging."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_fixtures import make_preset
from safetensors.torch import save_file

from singsynth.model.config import CONFIGS, get_config
from singsynth.model.sing import SING, Encoder, count_parameters
from singsynth.preset import PresetError, load_preset
from singsynth.preset.checks import encoder_parameter_count, parameter_count

SINGSYNTH = [sys.executable, "-c", "from singsynth.cli import console; console()"]  # as installed
DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.mid"
META, WEIGHTS = "preset.json", "model.safetensors"


@pytest.fixture(scope="module")
def sound_preset(tmp_path_factory) -> Path:
    return make_preset(tmp_path_factory.mktemp("hostile") / "good")


@pytest.fixture()
def preset(sound_preset, tmp_path) -> Path:
    return Path(shutil.copytree(sound_preset, tmp_path / "preset"))


# --- ways to break a preset: each changes the copy in `folder` and returns what must be in the one line ---

def edit_meta(folder: Path, change) -> dict:
    meta = json.loads((folder / META).read_text())
    change(meta)
    (folder / META).write_text(json.dumps(meta))
    return meta


def unsigned(folder: Path) -> None:
    """Drop the checksum, so the damage itself is what the loader meets."""
    edit_meta(folder, lambda m: m.pop("weights_sha256"))


def truncated(folder: Path) -> str:
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[:len(data) // 2])
    return "truncated"


def truncated_to_four_bytes(folder: Path) -> str:
    (folder / WEIGHTS).write_bytes(b"\x10\x00\x00\x00")
    return "truncated"


def empty_weights(folder: Path) -> str:
    (folder / WEIGHTS).write_bytes(b"")
    return "truncated"


def state_of(**overrides) -> dict[str, torch.Tensor]:
    return SING(get_config("sing-unittest", n_instruments=3, **overrides)).state_dict()


def wrong_shapes(folder: Path) -> str:
    unsigned(folder)
    save_file({k: v.contiguous() for k, v in state_of(hidden=24).items()}, str(folder / WEIGHTS))
    return "shape"


def missing_tensor(folder: Path) -> str:
    unsigned(folder)
    state = state_of()
    state.pop(sorted(state)[0])
    save_file(state, str(folder / WEIGHTS))
    return "missing"


def dtype(name: str, torch_dtype: torch.dtype):
    def damage(folder: Path) -> str:
        unsigned(folder)
        save_file({k: v.to(torch_dtype) for k, v in state_of().items()}, str(folder / WEIGHTS))
        return f"dtype {name}"
    damage.__name__ = f"dtype_{name}"
    return damage


def non_finite(value: float):
    def damage(folder: Path) -> str:
        unsigned(folder)
        state = state_of()
        next(iter(state.values()))[0, 0] = value
        save_file(state, str(folder / WEIGHTS))
        return "NaN or infinite"
    damage.__name__ = f"weights_{value}"
    return damage


def checksum_mismatch(folder: Path) -> str:
    edit_meta(folder, lambda m: m.update(weights_sha256="0" * 64))
    return "checksum"


def replaced_weights(folder: Path) -> str:
    # a well-formed file of the right model, but not the one preset.json vouches for
    save_file({k: v.half().contiguous() for k, v in state_of().items()}, str(folder / WEIGHTS))
    return "checksum"


def config_lie(**values):
    def damage(folder: Path) -> str:
        edit_meta(folder, lambda m: m["model"].update(values))
        return "model"
    damage.__name__ = "config_" + "_".join(f"{k}_{v}" for k, v in values.items())
    return damage


def config_not_an_object(folder: Path) -> str:
    edit_meta(folder, lambda m: m.update(model=[1, 2, 3]))
    return "model"


def config_unknown_key(folder: Path) -> str:
    edit_meta(folder, lambda m: m["model"].update(attention_heads=8))
    return "attention_heads"


def fewer_instruments(folder: Path) -> str:
    edit_meta(folder, lambda m: m.update(instruments=m["instruments"][:2]))
    return "lists 2 instruments"


def gm_program_out_of_range(folder: Path) -> str:
    edit_meta(folder, lambda m: m["instruments"][0].update(gm_program=300))
    return "instruments"


def pitch_range_backwards(folder: Path) -> str:
    edit_meta(folder, lambda m: m["instruments"][0].update(pitch_range=[100, 20]))
    return "instruments"


def meta_value(key: str, value, expected: str):
    def damage(folder: Path) -> str:
        edit_meta(folder, lambda m: m.update({key: value}))
        return expected
    damage.__name__ = f"{key}_{value}"
    return damage


def gain_not_finite(folder: Path) -> str:
    # Python's json reads the NaN literal that a careless writer may leave
    text = (folder / META).read_text().replace('"output_gain": 1.0', '"output_gain": NaN')
    assert "NaN" in text
    (folder / META).write_text(text)
    return "output_gain"


def meta_json(name: str, text: str | bytes, expected: str):
    def damage(folder: Path) -> str:
        (folder / META).write_bytes(text if isinstance(text, bytes) else text.encode())
        return expected
    damage.__name__ = f"meta_{name}"
    return damage


def meta_too_large(folder: Path) -> str:
    meta = json.loads((folder / META).read_text())
    meta["description"] = "x" * (20 << 20)
    (folder / META).write_text(json.dumps(meta))
    return "too large"


def meta_version(folder: Path) -> str:
    edit_meta(folder, lambda m: m.update(version=99))
    return "version 99"


def marker_of(folder: Path) -> Path:
    return folder.parent / "MARKER"


class Payload:
    """Unpickling this leaves a marker file: proof that nothing unpickled the preset."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def pickled_weights(folder: Path) -> str:
    unsigned(folder)
    (folder / WEIGHTS).write_bytes(pickle.dumps(Payload(marker_of(folder))))
    return "safetensors"


def torch_saved_weights(folder: Path) -> str:
    unsigned(folder)
    torch.save({"state_dict": Payload(marker_of(folder))}, str(folder / WEIGHTS))
    return "safetensors"


def weights_named_pt(folder: Path) -> str:
    unsigned(folder)
    torch.save(Payload(marker_of(folder)), str(folder / "model.pt"))
    edit_meta(folder, lambda m: m.update(weights="model.pt"))
    return "model.pt"


def header(folder: Path, text: bytes, claimed: int | None = None) -> None:
    unsigned(folder)
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", len(text) if claimed is None else claimed) + text)


def huge_header_claim(folder: Path) -> str:
    header(folder, b"{}", claimed=2**40)
    return "not a valid safetensors"


def header_past_the_end(folder: Path) -> str:
    header(folder, b"{}", claimed=1000)
    return "not a valid safetensors"


def header_nested_deep(folder: Path) -> str:
    header(folder, b"[" * 200_000 + b"]" * 200_000)
    return "not a valid safetensors"


def header_not_json(folder: Path) -> str:
    header(folder, b"\xff\xfe garbage")
    return "not a valid safetensors"


def header_lies_about_shape(folder: Path) -> str:
    header(folder, json.dumps({"w": {"dtype": "F32", "shape": "lots", "data_offsets": [0, 0]}}).encode())
    return "not a valid safetensors"


def header_points_outside(folder: Path) -> str:
    header(folder, json.dumps({"w": {"dtype": "F32", "shape": [1 << 20], "data_offsets": [0, 4 << 20]}}).encode())
    return "outside the file"


def header_overflowing_shape(folder: Path) -> str:
    # 2**62 * 4 elements wrap to 0 in 64-bit arithmetic: an empty tensor, if the product were not exact
    header(folder, json.dumps({"w": {"dtype": "F32", "shape": [2**62, 4], "data_offsets": [0, 0]}}).encode())
    return "not a valid safetensors"


def weights_link_to_dev_zero(folder: Path) -> str:
    unsigned(folder)
    (folder / WEIGHTS).unlink()
    (folder / WEIGHTS).symlink_to("/dev/zero")
    return "not a regular file"


def weights_fifo(folder: Path) -> str:
    unsigned(folder)
    (folder / WEIGHTS).unlink()
    os.mkfifo(folder / WEIGHTS)
    return "not a regular file"


def weights_a_folder(folder: Path) -> str:
    unsigned(folder)
    (folder / WEIGHTS).unlink()
    (folder / WEIGHTS).mkdir()
    return "not a regular file"


def weights_missing(folder: Path) -> str:
    (folder / WEIGHTS).unlink()
    return "missing"


def meta_link_to_dev_zero(folder: Path) -> str:
    (folder / META).unlink()
    (folder / META).symlink_to("/dev/zero")
    return "not a regular file"


def meta_fifo(folder: Path) -> str:
    (folder / META).unlink()
    os.mkfifo(folder / META)
    return "not a regular file"


def weights_outside_the_folder(folder: Path) -> str:
    shutil.copy(folder / WEIGHTS, folder.parent / "elsewhere.safetensors")
    edit_meta(folder, lambda m: m.update(weights="../elsewhere.safetensors"))
    return "weights"


def weights_absolute(folder: Path) -> str:
    edit_meta(folder, lambda m: m.update(weights="/dev/zero"))
    return "weights"


def weights_not_a_name(folder: Path) -> str:
    edit_meta(folder, lambda m: m.update(weights=123))
    return "weights"


# (damage, file named in the line); each case through `singsynth instruments`
CASES = [
    (truncated, WEIGHTS), (truncated_to_four_bytes, WEIGHTS), (empty_weights, WEIGHTS),
    (wrong_shapes, WEIGHTS), (missing_tensor, WEIGHTS),
    (dtype("I32", torch.int32), WEIGHTS), (dtype("F64", torch.float64), WEIGHTS),
    (dtype("U8", torch.uint8), WEIGHTS), (dtype("BOOL", torch.bool), WEIGHTS),
    (non_finite(float("nan")), WEIGHTS), (non_finite(float("inf")), WEIGHTS),
    (checksum_mismatch, WEIGHTS), (replaced_weights, WEIGHTS),
    (config_lie(hidden=64), WEIGHTS), (config_lie(hidden=10**7), META), (config_lie(hidden=10**30), META),
    (config_lie(hidden="big"), META), (config_lie(hidden=-1), META), (config_lie(hidden=True), META),
    (config_lie(lstm_hidden=0), META), (config_lie(note_samples=10**12, time_dim=0), META),
    (config_not_an_object, META), (config_unknown_key, META), (fewer_instruments, META),
    (gm_program_out_of_range, META), (pitch_range_backwards, META),
    (meta_value("output_gain", "loud", "output_gain"), META), (gain_not_finite, META),
    (meta_value("sample_rate", 0, "sample_rate"), META), (meta_value("sample_rate", "fast", "sample_rate"), META),
    (meta_value("instruments", "piano", "instruments"), META),
    (meta_json("not_json", "{not json", "not valid JSON"), META),
    (meta_json("a_list", "[1, 2]", "not a singsynth preset"), META),
    (meta_json("a_string", '"preset"', "not a singsynth preset"), META),
    (meta_json("null", "null", "not a singsynth preset"), META),
    (meta_json("not_utf8", b"\xff\xfe{}", "not valid JSON"), META),
    (meta_json("foreign", '{"hello": 1}', "not a singsynth preset"), META),
    (meta_json("nested_deep", "[" * 100_000 + "]" * 100_000, "not valid JSON"), META),
    (meta_too_large, META), (meta_version, META),
    (pickled_weights, WEIGHTS), (torch_saved_weights, WEIGHTS), (weights_named_pt, "model.pt"),
    (huge_header_claim, WEIGHTS), (header_past_the_end, WEIGHTS), (header_nested_deep, WEIGHTS),
    (header_not_json, WEIGHTS), (header_lies_about_shape, WEIGHTS), (header_points_outside, WEIGHTS),
    (header_overflowing_shape, WEIGHTS),
    (weights_link_to_dev_zero, WEIGHTS), (weights_fifo, WEIGHTS), (weights_a_folder, WEIGHTS),
    (weights_missing, WEIGHTS), (meta_link_to_dev_zero, META), (meta_fifo, META),
    (weights_outside_the_folder, META), (weights_absolute, META), (weights_not_a_name, META),
]
# What `render` meets too: the preset is loaded after the MIDI file has been read.
RENDER_CASES = [truncated, pickled_weights, weights_link_to_dev_zero, weights_fifo, meta_fifo, checksum_mismatch,
                non_finite(float("nan")), config_lie(hidden=10**7)]


def cli(*args: str) -> subprocess.CompletedProcess:
    # a loader that blocks on a FIFO or reads /dev/zero for ever fails here instead of hanging the suite
    return subprocess.run([*SINGSYNTH, *args], capture_output=True, text=True, timeout=120)


def assert_one_line(result: subprocess.CompletedProcess, named: str, expected: str) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert named in lines[0] and expected.lower() in lines[0].lower(), lines[0]


# Damage only building the model shows (tensor names, shapes, values): `instruments` and `info` read the
# metadata and the weights file's header, never the tensors (so they need no torch), and so list such a
# preset; every command that generates refuses it, here `note`.
IN_THE_TENSORS = {"wrong_shapes", "missing_tensor", "weights_nan", "weights_inf"}


@pytest.mark.parametrize("damage, named", CASES, ids=[c[0].__name__ for c in CASES])
def test_loading_refuses_with_one_line(preset, damage, named, tmp_path):
    expected = damage(preset)
    if damage.__name__ in IN_THE_TENSORS:
        assert cli("instruments", "--preset", str(preset)).returncode == 0
        assert_one_line(cli("note", "--instrument", "flute", "-o", str(tmp_path / "note.wav"), "--preset", str(preset)),
                        named, expected)
        assert not (tmp_path / "note.wav").exists()
    else:
        assert_one_line(cli("instruments", "--preset", str(preset)), named, expected)
    assert not marker_of(preset).exists()
    with pytest.raises(PresetError, match=named.replace(".", r"\.")):  # the library says the same
        load_preset(preset)
    assert not marker_of(preset).exists()


@pytest.mark.parametrize("damage", RENDER_CASES, ids=[d.__name__ for d in RENDER_CASES])
def test_render_refuses_with_one_line_and_writes_nothing(preset, damage, tmp_path):
    expected = damage(preset)
    named = dict((d.__name__, n) for d, n in CASES)[damage.__name__]
    out = tmp_path / "out.wav"
    assert_one_line(cli("render", str(DEMO), "-o", str(out), "--preset", str(preset), "--no-disk-cache", "--quiet"),
                    named, expected)
    assert not out.exists() and not marker_of(preset).exists()


def test_the_unbroken_copy_loads(preset):
    assert cli("instruments", "--preset", str(preset)).returncode == 0


@pytest.mark.parametrize("name", list(CONFIGS))
def test_parameters_are_counted_without_building_the_model(name):
    # the loader's guard against a lying config is only as good as this count
    for overrides in ({}, {"time_dim": 0}, {"pointwise_layers": 0, "lstm_layers": 3}, {"decoder": "harmonic"},
                      {"decoder": "harmonic", "harmonics": 7, "inharmonicity": True, "residual": True},
                      {"decoder": "harmonic", "instrument_controls": True}):
        config = get_config(name, n_instruments=5, **overrides)
        assert parameter_count(config) == count_parameters(SING(config)), overrides
        assert encoder_parameter_count(config) == count_parameters(Encoder(config)), overrides
