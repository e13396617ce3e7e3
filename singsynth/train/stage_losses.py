"""What each training stage is judged by: the named losses, the onset term, and what validation reports."""
from __future__ import annotations

from contextlib import nullcontext

import torch

from ..model import losses
from ..model.config import ModelConfig
from ..model.sing import SING, velocity_weights
from .config import TrainConfig


def named_loss(name: str, output: torch.Tensor, target: torch.Tensor, args: TrainConfig) -> torch.Tensor:
    """The loss called `name` (config.LOSSES) between notes [B, T]."""
    if name == "spectral":
        return losses.spectral_loss(output, target, eps=args.eps)
    if name == "multiscale":
        return losses.multiscale_loss(output, target)
    return losses.waveform_loss(output, target)


def end_to_end_loss(name: str, output: torch.Tensor, target: torch.Tensor, args: TrainConfig,
                    config: ModelConfig) -> torch.Tensor:
    """The named loss, plus the loss on each note's front where the model learns its rise."""
    loss = named_loss(name, output, target, args)
    if config.attack and args.onset_weight:
        loss = loss + args.onset_weight * losses.onset_loss(output, target, config.sample_rate)
    return loss


def valid_loss_name(stage: str, args: TrainConfig) -> str:
    """The loss validation reports: the stage's own, except that the waveform loss is judged spectrally."""
    name = {"autoencoder": args.autoencoder_loss, "end_to_end": args.end_to_end_loss}.get(stage, "mse")
    return "spectral" if name == "waveform" else name


def conditioning(sing: SING, batch: dict) -> torch.Tensor:
    """The sequence model's input for a batch's instruments, pitches and velocities."""
    vel_weights, _ = velocity_weights(batch["velocity"])
    return sing.sequence.conditioning(sing.instrument_weights(batch["instrument"]), batch["pitch"], vel_weights)


def autocast(args: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA where asked for; else nothing."""
    if args.bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()
