"""What a training run keeps on disk: its checkpoint, and the weights of its best end-to-end epoch beside it."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..model.sing import SING, Encoder
from .checkpoint import load_checkpoint, save_checkpoint


class RunFiles:
    """The checkpoint (weights, Adam state and progress, whole after a SIGKILL) and best.safetensors beside it.
    Only rank 0 writes."""

    def __init__(self, checkpoint: Path, sing: SING, encoder: Encoder,
                 optimizers: dict[str, torch.optim.Optimizer], rank: int = 0):
        self.checkpoint = checkpoint
        self.sing, self.encoder, self.optimizers = sing, encoder, optimizers
        self.rank = rank

    @property
    def best_path(self) -> Path:
        return self.checkpoint.with_name("best.safetensors")

    def save(self, progress: dict, gain: float) -> None:
        if self.rank == 0:
            modules = {"sing": self.sing, "encoder": self.encoder}
            save_checkpoint(self.checkpoint, modules, self.optimizers, {**progress, "gain": gain})

    def resume(self, lr: float) -> dict | None:
        """The checkpoint's progress, its weights and Adam state loaded; None without a checkpoint."""
        if not self.checkpoint.is_file():
            return None
        progress = load_checkpoint(self.checkpoint, {"sing": self.sing, "encoder": self.encoder}, self.optimizers)
        progress.pop("gain", None)
        # the rate this run asks for, not the one saved: lowering it for the rest of a run is how one goes on
        # once the validation loss stalls, and the recipe the preset records says this run's rate
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = lr
        return progress

    def keep_if_best(self, progress: dict, stage: str, epoch: float, valid: float | None) -> None:
        """End to end, the weights of the epoch with the lowest validation loss are what the preset gets;
        progress["best"] records which."""
        best = progress.get("best")
        if stage != "end_to_end" or valid is None or (best and best["valid_loss"] <= valid):
            return
        progress["best"] = {"epoch": epoch, "valid_loss": valid}
        if self.rank == 0:
            from safetensors.torch import save_file
            tmp = self.best_path.with_suffix(".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().cpu().contiguous() for k, v in self.sing.state_dict().items()}, str(tmp))
            os.replace(tmp, self.best_path)

    def load_best(self, progress: dict) -> dict | None:
        """Put the best end-to-end epoch's weights in the model; returns its record, or None."""
        best = progress.get("best")
        if not best or not self.best_path.is_file():
            return None
        from safetensors.torch import load_file
        self.sing.load_state_dict(load_file(str(self.best_path)))
        return best
