"""The training and validation notes, kept whole on the device so that loading never waits."""
from __future__ import annotations

import logging

import numpy as np
import torch

from ..model import losses
from .config import TrainConfig

logger = logging.getLogger(__name__)


class DeviceNotes:
    """The notes of the data's training and validation splits with their labels, training notes first.

    train_index: the training notes; valid_index: the validation subset judged each epoch (args.valid_notes);
    gain: what scales the notes to args.target_rms (1 without args.normalize)."""

    def __init__(self, data, args: TrainConfig, device: torch.device, show_progress: bool):
        self.device = device
        train, valid = data.split("train"), data.split("valid")
        if not train:
            raise ValueError(f"{data.root}: no training notes after the split")
        audio = data.load_audio(train + valid, progress=show_progress)
        notes = [data.notes[i] for i in train + valid]
        self.labels = {
            "instrument": torch.tensor([n.instrument for n in notes], device=device),
            "pitch": torch.tensor([n.pitch for n in notes], device=device),
            "velocity": torch.tensor([n.velocity for n in notes], dtype=torch.float32, device=device),
        }
        # int16 [N, T]: a quarter of float32; on the device, or read from the files where the set is too large
        self.audio = torch.from_numpy(audio).to(device) if isinstance(audio, np.ndarray) else audio
        self.train_index = torch.arange(len(train))
        generator = torch.Generator().manual_seed(args.seed)
        valid_index = torch.arange(len(train), len(train) + len(valid))
        self.valid_index = valid_index[torch.randperm(len(valid), generator=generator)[:args.valid_notes]]
        if args.normalize:
            sample = self.notes(self.train_index[torch.randperm(len(train), generator=generator)[:1024]]).float() / 32768
            mean_rms = float(losses.rms(sample).mean())
            self.gain = args.target_rms / max(mean_rms, 1e-6)
        else:
            self.gain = 1.0
        logger.info("data: %d training notes, %d validation notes, %d instruments; loudness gain %.2f",
                    len(train), len(valid), len(data.instruments), self.gain)

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The notes at `index`, scaled by the gain to float [B, T], with their labels."""
        idx = index.to(self.device)
        wav = self.notes(idx).float() * (self.gain / 32768)
        return {"wav": wav, **{k: v[idx] for k, v in self.labels.items()}}

    def notes(self, index) -> torch.Tensor:
        """int16 notes of self.audio on the device, read from their files first where they stay there."""
        notes = self.audio[index.cpu() if isinstance(index, torch.Tensor) else index]
        return notes if isinstance(notes, torch.Tensor) else torch.from_numpy(notes).to(self.device)
