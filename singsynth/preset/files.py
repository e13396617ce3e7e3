"""A preset's files: their names, and its weights read as safetensors only (never pickle) and checked."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..model.config import ModelConfig
from .checks import PresetError, read_safetensors_header

if TYPE_CHECKING:  # torch is imported only where a model runs
    import torch

    from ..model.sing import SING

FORMAT = "singsynth-preset"
VERSION = 1
METADATA_FILE = "preset.json"
WEIGHTS_FILE = "model.safetensors"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read a MiB at a time, as hex: what preset.json's "weights_sha256" holds."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_shapes(model: SING, header: dict, weights_path: Path) -> None:
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


def read_model(config: ModelConfig, weights_path: Path, device: str | torch.device = "cpu") -> SING:
    """Build SING(config) and read its weights from a safetensors file whose header was checked already."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..model.sing import SING
    header, _ = read_safetensors_header(weights_path)
    model = SING(config)
    _check_shapes(model, header, weights_path)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PresetError(f"{weights_path}: unreadable safetensors file ({exc})") from None
    model.load_state_dict({k: v.float() for k, v in state.items()})
    # Refused, not repaired: a NaN or infinite weight makes every note of some instrument NaN, which a mix
    # would spread to every other voice; no weight can be chosen in its place.
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise PresetError(f"{weights_path}: tensor {name!r} holds NaN or infinite values")
    return model.eval().to(device)
