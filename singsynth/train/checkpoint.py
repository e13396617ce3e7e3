"""Training checkpoints as one safetensors file: weights, Adam state and progress, written atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError

PROGRESS_KEY = "singsynth_progress"


class CheckpointError(UsageError):
    """An unreadable checkpoint; the message is one line naming the file."""


def _optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: dict, info: dict) -> None:
    state: dict[int, dict] = {}
    prefix = name + "."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[field] = value
    for key, value in info["scalars"].items():
        index, field = key.split(".", 1)
        state.setdefault(int(index), {})[field] = value
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def save_checkpoint(path: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                    progress: dict) -> None:
    from safetensors.torch import save_file
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"model.{name}.{key}"] = value.detach().cpu().contiguous()
    optim_info = {}
    for name, optimizer in optimizers.items():
        opt_tensors, optim_info[name] = _optimizer_tensors(f"optim.{name}", optimizer)
        tensors.update(opt_tensors)
    meta = {PROGRESS_KEY: json.dumps({"progress": progress, "optimizers": optim_info})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path, modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer]) -> dict:
    """Restore modules and optimizers in place; returns the saved progress."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})[PROGRESS_KEY])
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc}); delete it to start over") from None
    try:
        for name, module in modules.items():
            prefix = f"model.{name}."
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        for name, optimizer in optimizers.items():
            if name in meta["optimizers"]:
                _restore_optimizer(f"optim.{name}", optimizer, tensors, meta["optimizers"][name])
    except (RuntimeError, ValueError, KeyError) as exc:  # another model size, data set or optimizer
        raise CheckpointError(f"{path}: checkpoint does not fit this run ({str(exc).splitlines()[0]}); "
                              "use another --checkpoint or delete it") from None
    return meta["progress"]
