"""Training's view of the model's own vibrato: the vibrato head's output for a batch's notes, taught by the sine
that fits each source note's pitch curve (model/pitch_loss.py). Training only: validation stays the figure it was."""
from __future__ import annotations

import torch

from ..model.pitch_loss import vibrato_loss
from ..model.sing import SING
from .config import TrainConfig


def vibrato_term(sing: SING, args: TrainConfig, batch: dict, weights: torch.Tensor) -> torch.Tensor | None:
    """The weighted vibrato loss of the batch's notes, where the model learns a vibrato and its loss counts;
    else None. `weights`: the batch's instrument weights, as the forward pass had them."""
    warp = getattr(sing.decoder, "warp", None)
    if warp is None or not args.vibrato_weight:
        return None
    f0 = sing.decoder.partial_frequencies(weights, batch["pitch"])[:, 0].detach()
    return args.vibrato_weight * vibrato_loss(warp(weights, batch["pitch"]), batch["wav"], f0, sing.config)
