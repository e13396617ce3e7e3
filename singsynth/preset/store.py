"""Presets on disk: found by name in presets/ or by path, loaded and checked, saved and updated atomically."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..model.config import SAMPLE_RATE, ModelConfig
from .checks import (
    MAX_METADATA_BYTES,
    PresetError,
    check_model_config,
    flag,
    parameter_count,
    read_regular,
    read_safetensors_header,
    send_levels,
)
from .files import FORMAT, METADATA_FILE, VERSION, WEIGHTS_FILE, file_sha256, read_model
from .levels import Levels
from .preset import Instrument, Preset

if TYPE_CHECKING:
    import torch

    from ..model.sing import SING

# An installed wheel carries the presets inside the package (setup.cfg maps presets/ to singsynth/presets);
# a checkout or an editable install keeps them at the repository's top level.
_PACKAGE = Path(__file__).resolve().parent.parent  # singsynth/
PRESETS_DIR = _PACKAGE / "presets" if (_PACKAGE / "presets").is_dir() else _PACKAGE.parent / "presets"
DEFAULT_PRESET = "default"
# Rates a model may be trained at; below or above, resampling a note to the output rate makes absurd buffers.
SAMPLE_RATES = (8_000, 192_000)


def resolve_path(name_or_path: str | os.PathLike | None) -> Path:
    """A preset name in presets/, a preset folder, or its preset.json -> the preset folder."""
    value = str(name_or_path or DEFAULT_PRESET)
    path = Path(value).expanduser()
    if path.is_file() and path.name.endswith(".json"):
        return path.parent
    if path.is_dir():
        return path
    shipped = PRESETS_DIR / value
    if (shipped / METADATA_FILE).is_file():
        return shipped
    known = ", ".join(list_presets()) or "none"
    raise PresetError(f"{value}: no such preset (shipped presets: {known}; or give a preset folder)")


def list_presets() -> list[str]:
    if not PRESETS_DIR.is_dir():
        return []
    return sorted(p.name for p in PRESETS_DIR.iterdir() if (p / METADATA_FILE).is_file())


def load_metadata(folder: Path) -> dict:
    """preset.json of a preset folder, its format and version checked; else PresetError."""
    meta_path = folder / METADATA_FILE
    try:
        text = read_regular(meta_path, MAX_METADATA_BYTES)
    except FileNotFoundError:
        raise PresetError(f"{meta_path}: missing; a preset folder holds {METADATA_FILE} and {WEIGHTS_FILE}") from None
    except OSError as exc:
        raise PresetError(f"{meta_path}: unreadable ({exc.strerror or exc})") from None
    try:
        meta = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        why = "nested too deep" if isinstance(exc, RecursionError) else exc
        raise PresetError(f"{meta_path}: not valid JSON ({why}); the preset is damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PresetError(f"{meta_path}: not a singsynth preset (no \"format\": \"{FORMAT}\")")
    if meta.get("version") != VERSION:
        raise PresetError(f"{meta_path}: preset format version {meta.get('version')!r}; this singsynth reads {VERSION}")
    return meta


def _midi_number(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 127:
        raise ValueError(f"{what} {value!r} is not a MIDI number 0..127")
    return value


def _instrument(index: int, d: dict) -> Instrument:
    low, high = d.get("pitch_range", (21, 108))
    if _midi_number(low, "pitch") > _midi_number(high, "pitch"):
        raise ValueError(f"pitch range {low}-{high} runs backwards")
    program = d.get("gm_program")
    return Instrument(index=index, name=str(d["name"]), id=str(d.get("id", d["name"])),
                      gm_program=None if program is None else _midi_number(program, "gm_program"),
                      drums=bool(d.get("drums", False)), pitch_range=(low, high), source=str(d.get("source", "")),
                      levels=Levels.from_dict(d), sustains=flag(d.get("sustains", False), "sustains"),
                      **send_levels(d))


def _instruments(meta: dict, meta_path: Path) -> list[Instrument]:
    try:
        if not isinstance(meta["instruments"], list):
            raise TypeError("not a list")
        return [_instrument(i, d) for i, d in enumerate(meta["instruments"])]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PresetError(f"{meta_path}: bad \"instruments\" list ({exc})") from None


def _gain(meta: dict, meta_path: Path, key: str) -> float:
    """A finite number above 0: json reads NaN and Infinity, and either would spread to every note."""
    value = meta.get(key, 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise PresetError(f"{meta_path}: \"{key}\" is {value!r}; give a finite number above 0")
    return float(value)


def _sample_rate(meta: dict, meta_path: Path) -> int:
    value = meta.get("sample_rate", SAMPLE_RATE)
    low, high = SAMPLE_RATES
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PresetError(f"{meta_path}: \"sample_rate\" is {value!r}; give a whole number of Hz "
                          f"from {low} to {high}")
    return value


def _weights_path(folder: Path, meta: dict, meta_path: Path) -> Path:
    """The weights file that preset.json names: a plain file name in the preset's own folder, never a path
    that leads out of it."""
    name = meta.get("weights", WEIGHTS_FILE)
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        raise PresetError(f"{meta_path}: \"weights\" is {name!r}; give the name of a file in the preset folder")
    return folder / name


def _model_config(meta: dict, meta_path: Path, sample_rate: int) -> ModelConfig:
    try:
        if not isinstance(meta["model"], dict):
            raise TypeError("not an object")
        config = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PresetError(f"{meta_path}: bad \"model\" config ({exc})") from None
    check_model_config(config, meta_path, sample_rate)
    return config


def load_preset(name_or_path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                lazy: bool = False) -> Preset:
    """Load and check a preset; anything wrong raises PresetError with one line naming the file.

    Everything preset.json says is checked against the weights file's header before a model of that size is
    built, and the weights are read as safetensors only: no pickle, so nothing in a preset can run. `lazy`:
    the model is built and its weights read (and checked) only when first used."""
    folder = resolve_path(name_or_path)
    meta = load_metadata(folder)
    meta_path = folder / METADATA_FILE
    sample_rate = _sample_rate(meta, meta_path)
    gain = _gain(meta, meta_path, "output_gain")
    playback_gain = _gain(meta, meta_path, "playback_gain")
    config = _model_config(meta, meta_path, sample_rate)
    instruments = _instruments(meta, meta_path)
    if len(instruments) != config.n_instruments:
        raise PresetError(f"{meta_path}: lists {len(instruments)} instruments but the model has {config.n_instruments}")
    weights_path = _weights_path(folder, meta, meta_path)
    if not weights_path.exists():
        raise PresetError(f"{weights_path}: missing weights file")
    _, data_size = read_safetensors_header(weights_path)
    digest = meta.get("weights_sha256")
    if digest and file_sha256(weights_path) != digest:
        raise PresetError(f"{weights_path}: checksum does not match {METADATA_FILE}; the file is corrupted or replaced")
    parameters = parameter_count(config)
    if 2 * parameters > data_size:  # 2 bytes: the smallest dtype a preset may hold
        raise PresetError(f"{weights_path}: too small for the model shapes in {METADATA_FILE} "
                          f"({parameters} parameters; the file holds {data_size} bytes of tensors)")
    # eager: the model now, from the file just checked (load_model checks the digest again, for a lazy preset
    # whose file may change before its first note)
    model = None if lazy else read_model(config, weights_path, device)
    return Preset(folder, config, instruments, meta, gain, digest or "", playback_gain, weights_path,
                  _model=model, _device=str(device))


def save_preset(folder: str | os.PathLike, model: SING, instruments: list[Instrument], meta: dict,
                output_gain: float = 1.0, half: bool = True) -> Path:
    """Write weights (fp16 by default: half the size, inaudible; tuning stays float32) and metadata, each
    atomically."""
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    from ..model.harmonic import FULL_PRECISION
    state = {k: (v.half() if half and k not in FULL_PRECISION else v.float()).contiguous().cpu()
             for k, v in model.state_dict().items()}
    weights = folder / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights)
    full = {"format": FORMAT, "version": VERSION, **meta, "model": model.config.to_dict(),
            "sample_rate": model.config.sample_rate, "output_gain": output_gain,
            "instruments": [i.to_dict() for i in instruments],
            "weights": WEIGHTS_FILE, "weights_sha256": file_sha256(weights)}
    tmp_meta = folder / (METADATA_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp_meta, folder / METADATA_FILE)
    return folder


def update_metadata(folder: str | os.PathLike, **values) -> None:
    """Merge values into a preset's metadata (for example evaluation figures), atomically."""
    folder = resolve_path(folder)
    meta = load_metadata(folder)
    meta.update(values)
    tmp = folder / (METADATA_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / METADATA_FILE)
