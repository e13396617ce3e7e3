"""The validation loss of each training stage, over the validation notes kept on the device."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from ..model.sing import SING, Autoencoder, Encoder
from .config import TrainConfig
from .device_notes import DeviceNotes
from .stage_losses import autocast, conditioning, end_to_end_loss, named_loss, valid_loss_name


@torch.no_grad()
def validate(stage: str, sing: SING, encoder: Encoder, notes: DeviceNotes, args: TrainConfig) -> float | None:
    """The mean of the stage's validation loss (valid_loss_name) over notes.valid_index; None without any.
    The models are used as they are: the caller puts them in eval mode."""
    if not len(notes.valid_index):
        return None
    losses = []
    for chunk in notes.valid_index.split(args.batch_size):
        batch = notes.batch(chunk)
        with autocast(args, notes.device):
            if stage == "autoencoder":
                out = Autoencoder(encoder, sing.decoder)(
                    batch["wav"], sing.instrument_weights(batch["instrument"]), batch["pitch"])
            elif stage == "sequence":
                out, _ = sing.sequence(conditioning(sing, batch))
                losses.append(F.mse_loss(out.float(), encoder(batch["wav"]).float()).item() * len(chunk))
                continue
            else:
                out = sing(sing.instrument_weights(batch["instrument"]), batch["pitch"], batch["velocity"])
                losses.append(end_to_end_loss(valid_loss_name(stage, args), out.float(), batch["wav"], args,
                                              sing.config).item() * len(chunk))
                continue
        loss = named_loss(valid_loss_name(stage, args), out.float(), batch["wav"], args)
        losses.append(loss.item() * len(chunk))
    return sum(losses) / len(notes.valid_index)
