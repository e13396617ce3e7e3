"""One training step of each of SING's three stages on a batch; each returns the loss as a float."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from ..model.sing import SING, Autoencoder, Encoder
from .config import TrainConfig
from .device_notes import DeviceNotes
from .distributed import Process
from .stage_losses import autocast, conditioning, end_to_end_loss, named_loss
from .vibrato_loss import vibrato_term


class StageSteps:
    """The models as each stage trains them (prepare()), and a step of each stage that optimises its part."""

    def __init__(self, sing: SING, encoder: Encoder, optimizers: dict[str, torch.optim.Optimizer],
                 args: TrainConfig, notes: DeviceNotes, process: Process):
        self.sing, self.encoder, self.optimizers = sing, encoder, optimizers
        self.config = sing.config
        self.args = args
        self.notes = notes
        self.process = process
        self._prepared: str | None = None

    def prepare(self, stage: str) -> None:
        """The stage's model, shared with the other ranks where there are any; the sequence stage's targets."""
        if stage == self._prepared:
            return
        self._prepared = stage
        if stage == "autoencoder":
            self.autoencoder = self.process.wrap(Autoencoder(self.encoder, self.sing.decoder))
        elif stage == "sequence":
            self.encoder.eval()
            self.embeddings = self._encode_training_notes()
            self.sequence = self.process.wrap(self.sing.sequence)
        else:
            self.generator = self.process.wrap(self.sing)

    @torch.no_grad()
    def _encode_training_notes(self) -> torch.Tensor:
        """The frozen encoder's embeddings of every training note, computed once."""
        out = [self.encoder(self.notes.batch(chunk)["wav"]).float()
               for chunk in self.notes.train_index.split(self.args.batch_size)]
        return torch.cat(out)

    def _autocast(self):
        return autocast(self.args, self.process.device)

    def autoencoder_step(self, batch: dict) -> float:
        with self._autocast():
            out = self.autoencoder(batch["wav"], self.sing.instrument_weights(batch["instrument"]), batch["pitch"])
        loss = named_loss(self.args.autoencoder_loss, out.float(), batch["wav"], self.args)
        self._optimize("autoencoder", loss)
        return loss.item()

    def sequence_step(self, batch: dict) -> float:
        target = self.embeddings[batch["index"]]  # [B, D, steps]
        state, total, chunks = None, 0.0, 0
        for start in range(0, self.config.steps, self.args.tbptt):
            steps = min(self.args.tbptt, self.config.steps - start)
            with self._autocast():
                out, state = self.sequence(conditioning(self.sing, batch), start, steps, state)
            loss = F.mse_loss(out.float(), target[:, :, start:start + steps])
            self._optimize("sequence", loss)
            state = tuple(s.detach() for s in state)  # truncate the gradient here
            total, chunks = total + loss.item(), chunks + 1
        return total / chunks

    def end_to_end_step(self, batch: dict) -> float:
        weights = self.sing.instrument_weights(batch["instrument"])
        with self._autocast():
            out = self.generator(weights, batch["pitch"], batch["velocity"])
        loss = end_to_end_loss(self.args.end_to_end_loss, out.float(), batch["wav"], self.args, self.config)
        vibrato = vibrato_term(self.sing, self.args, batch, weights)
        if vibrato is not None:  # training only: validation stays the figure it was
            loss = loss + vibrato
        self._optimize("end_to_end", loss)
        return loss.item()

    def _optimize(self, stage: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[stage]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
