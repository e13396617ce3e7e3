"""Presets: safetensors weights + JSON metadata, found by name in presets/ or by path. Never pickle."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import SAMPLE_RATE, ModelConfig
from .model import SING

logger = logging.getLogger(__name__)

FORMAT = "singsynth-preset"
VERSION = 1
METADATA_FILE = "preset.json"
WEIGHTS_FILE = "model.safetensors"
PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
DEFAULT_PRESET = "default"
# A real header of a model this size is a few kB; refuse to parse anything absurd.
MAX_HEADER_BYTES = 16 * 1024 * 1024
SAFETENSORS_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}


class PresetError(Exception):
    """A preset that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Instrument:
    index: int
    name: str
    id: str
    gm_program: int | None  # 0..127; None for the drum kit
    drums: bool = False
    pitch_range: tuple[int, int] = (21, 108)
    source: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "id": self.id, "gm_program": self.gm_program, "drums": self.drums,
                "pitch_range": list(self.pitch_range), "source": self.source}


@dataclass
class Preset:
    path: Path
    model: SING
    instruments: list[Instrument]
    meta: dict = field(default_factory=dict)
    # restores the loudness that training normalised away
    output_gain: float = 1.0
    weights_sha256: str = ""

    @property
    def name(self) -> str:
        return self.meta.get("name", self.path.name)

    @property
    def sample_rate(self) -> int:
        return int(self.meta.get("sample_rate", SAMPLE_RATE))

    @property
    def device(self) -> torch.device:
        return self.model.decoder.window.device

    def to(self, device: str | torch.device) -> "Preset":
        self.model.to(device)
        return self

    def instrument_weights(self, instruments: list[int] | torch.Tensor) -> torch.Tensor:
        index = torch.as_tensor(instruments, dtype=torch.long, device=self.device)
        return self.model.instrument_weights(index)

    @torch.inference_mode()
    def generate(self, instrument_weights: torch.Tensor, pitch, velocity) -> np.ndarray:
        """Weights over instruments [B, I] (one-hot or a blend), MIDI pitches and velocities [B]
        -> float32 notes [B, note_samples] at the preset's loudness."""
        dev = self.device
        wav = self.model(instrument_weights.to(dev, torch.float32),
                         torch.as_tensor(pitch, dtype=torch.long, device=dev),
                         torch.as_tensor(velocity, dtype=torch.float32, device=dev))
        return (wav * self.output_gain).float().cpu().numpy()

    @torch.inference_mode()
    def stream(self, instrument_weights: torch.Tensor, pitch, velocity, first_steps: int = 8, steps: int = 64):
        """Yield float32 chunks [B, n] whose concatenation is generate()'s output."""
        dev = self.device
        for chunk in self.model.stream(instrument_weights.to(dev, torch.float32),
                                       torch.as_tensor(pitch, dtype=torch.long, device=dev),
                                       torch.as_tensor(velocity, dtype=torch.float32, device=dev),
                                       first_steps, steps):
            yield (chunk * self.output_gain).float().cpu().numpy()


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_safetensors_header(path: Path) -> dict:
    """Parse and check a safetensors header without trusting it; raise PresetError if it lies."""
    try:
        return _check_header(path, *_read_header(path))
    except OSError as exc:
        raise PresetError(f"{path}: unreadable ({exc.strerror or exc})") from None


def _read_header(path: Path) -> tuple[dict, int]:
    """(header, size of the data after it); the length is checked before anything is parsed."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise PresetError(f"{path}: truncated safetensors file (no header); re-download or retrain the preset")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES or length > size - 8:
            raise PresetError(f"{path}: not a valid safetensors file (header claims {length} bytes of {size})")
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PresetError(f"{path}: not a valid safetensors file (header is not JSON: {exc})") from None
    return header, size - 8 - length


def _check_header(path: Path, header: dict, data_size: int) -> dict:
    if not isinstance(header, dict):
        raise PresetError(f"{path}: not a valid safetensors file (header is not an object)")
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise PresetError(f"{path}: not a valid safetensors file (bad entry for {key!r})") from None
        if dtype not in SAFETENSORS_DTYPES:
            raise PresetError(f"{path}: tensor {key!r} has dtype {dtype}; a preset holds F16, BF16 or F32 weights")
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_size):
            raise PresetError(f"{path}: truncated or corrupted (tensor {key!r} lies outside the file)")
        expected = int(np.prod(shape, dtype=np.int64)) * SAFETENSORS_DTYPES[dtype].itemsize
        if end - begin != expected:
            raise PresetError(f"{path}: corrupted (tensor {key!r} has {end - begin} bytes for shape {shape})")
    return header


def _load_metadata(folder: Path) -> dict:
    meta_path = folder / METADATA_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PresetError(f"{meta_path}: missing; a preset folder holds {METADATA_FILE} and {WEIGHTS_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"{meta_path}: not valid JSON ({exc}); the preset is damaged") from None
    except OSError as exc:
        raise PresetError(f"{meta_path}: unreadable ({exc.strerror or exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PresetError(f"{meta_path}: not a singsynth preset (no \"format\": \"{FORMAT}\")")
    if meta.get("version") != VERSION:
        raise PresetError(f"{meta_path}: preset format version {meta.get('version')!r}; this singsynth reads {VERSION}")
    return meta


def _instruments(meta: dict, meta_path: Path) -> list[Instrument]:
    try:
        return [Instrument(index=i, name=str(d["name"]), id=str(d.get("id", d["name"])),
                           gm_program=None if d.get("gm_program") is None else int(d["gm_program"]),
                           drums=bool(d.get("drums", False)),
                           pitch_range=(int(d.get("pitch_range", (21, 108))[0]), int(d.get("pitch_range", (21, 108))[1])),
                           source=str(d.get("source", "")))
                for i, d in enumerate(meta["instruments"])]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PresetError(f"{meta_path}: bad \"instruments\" list ({exc!r})") from None


def load_preset(name_or_path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Preset:
    """Load and check a preset; anything wrong raises PresetError with one line naming the file."""
    folder = resolve_path(name_or_path)
    meta = _load_metadata(folder)
    meta_path = folder / METADATA_FILE
    try:
        config = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PresetError(f"{meta_path}: bad \"model\" config ({exc})") from None
    instruments = _instruments(meta, meta_path)
    if len(instruments) != config.n_instruments:
        raise PresetError(f"{meta_path}: lists {len(instruments)} instruments but the model has {config.n_instruments}")
    weights_path = folder / meta.get("weights", WEIGHTS_FILE)
    if not weights_path.is_file():
        raise PresetError(f"{weights_path}: missing weights file")
    header = read_safetensors_header(weights_path)
    digest = meta.get("weights_sha256")
    if digest and _sha256(weights_path) != digest:
        raise PresetError(f"{weights_path}: checksum does not match {METADATA_FILE}; the file is corrupted or replaced")
    model = SING(config)
    expected = model.state_dict()
    found = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        raise PresetError(f"{weights_path}: does not fit the model in {METADATA_FILE} "
                          f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for key, shape in found.items():
        if shape != tuple(expected[key].shape):
            raise PresetError(f"{weights_path}: tensor {key!r} has shape {list(shape)}, "
                              f"the config in {METADATA_FILE} needs {list(expected[key].shape)}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PresetError(f"{weights_path}: unreadable safetensors file ({exc})") from None
    model.load_state_dict({k: v.float() for k, v in state.items()})
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise PresetError(f"{weights_path}: tensor {name!r} holds NaN or infinite values")
    model.eval().to(device)
    try:
        gain = float(meta.get("output_gain", 1.0))
    except (TypeError, ValueError):
        raise PresetError(f"{meta_path}: \"output_gain\" is not a number") from None
    return Preset(folder, model, instruments, meta, gain, digest or "")


def save_preset(folder: str | os.PathLike, model: SING, instruments: list[Instrument], meta: dict,
                output_gain: float = 1.0, half: bool = True) -> Path:
    """Write weights (fp16 by default: half the size, inaudible) and metadata, each atomically."""
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half else v.float()).contiguous().cpu() for k, v in model.state_dict().items()}
    weights = folder / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights)
    full = {"format": FORMAT, "version": VERSION, **meta, "model": model.config.to_dict(),
            "sample_rate": SAMPLE_RATE, "output_gain": output_gain,
            "instruments": [i.to_dict() for i in instruments],
            "weights": WEIGHTS_FILE, "weights_sha256": _sha256(weights)}
    tmp_meta = folder / (METADATA_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp_meta, folder / METADATA_FILE)
    return folder


def update_metadata(folder: str | os.PathLike, **values) -> None:
    """Merge values into a preset's metadata (for example evaluation figures), atomically."""
    folder = resolve_path(folder)
    meta = _load_metadata(folder)
    meta.update(values)
    tmp = folder / (METADATA_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / METADATA_FILE)
