"""The learnt preset on disk, written whole or not at all: a folder beside DIR, renamed to DIR at the end."""
from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from pathlib import Path

import torch

from ...model.config import ModelConfig
from ...preset import METADATA_FILE, WEIGHTS_FILE, file_sha256, load_metadata
from ...preset.checks import PresetError
from .recordings import LearnError

logger = logging.getLogger(__name__)

WORK_SUFFIX = ".learning-"
OLD_SUFFIX = ".replaced-"


def work_folder(out: Path) -> Path:
    return out.parent / f".{out.name}{WORK_SUFFIX}{os.getpid()}"


def check_out(out: Path, base: Path) -> bool:
    """Whether DIR holds a preset the run will replace; LearnError where DIR is the base or holds anything else
    (a run never deletes what it did not write)."""
    if out.exists() and base.exists() and out.resolve() == base.resolve():
        raise LearnError(f"--out {out}: is the base preset itself; give a new folder")
    if not out.exists():
        if not out.parent.is_dir():
            raise LearnError(f"--out {out}: its folder {out.parent} does not exist; create it first")
        return False
    if not out.is_dir():
        raise LearnError(f"--out {out}: exists and is not a folder; give a new folder")
    if not any(out.iterdir()):
        return False
    try:
        load_metadata(out)
    except PresetError:
        raise LearnError(f"--out {out}: a folder that is not a preset; give a new folder (nothing is deleted)") from None
    return True


def clear_stale(out: Path) -> None:
    """Folders a killed run left beside DIR (never DIR itself)."""
    for stale in out.parent.glob(f".{out.name}{WORK_SUFFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in out.parent.glob(f".{out.name}{OLD_SUFFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def write(folder: Path, state: dict[str, torch.Tensor], config: ModelConfig, base_meta: dict, name: str,
          instrument: dict, learnt: dict) -> None:
    """The weights and preset.json in `folder`: the base's metadata with the new instrument appended."""
    from safetensors.torch import save_file
    folder.mkdir(parents=True)
    weights = folder / WEIGHTS_FILE
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    meta = copy.deepcopy(base_meta)
    meta.pop("evaluation", None)  # the base's figures; its instruments play as before, but the file is new
    base_name = base_meta.get("name", "")
    meta.update({"name": name, "model": config.to_dict(), "sample_rate": config.sample_rate,
                 "description": f"{base_name} with {instrument['name']} learnt from {instrument['source']}",
                 "instruments": list(meta["instruments"]) + [instrument], "weights": WEIGHTS_FILE,
                 "weights_sha256": file_sha256(weights), "learnt": learnt})
    (folder / METADATA_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def publish(work: Path, out: Path) -> None:
    """Rename the finished folder to DIR; a preset already there is moved aside first, then deleted."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}{OLD_SUFFIX}{os.getpid()}"
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
