"""A note's rise from silence: a raised cosine from its first sample over a time learnt per note.

Frames of 64 ms cannot rise in a millisecond, so without this a frame-synthesised note either starts in the padding
before its first sample, and the crop there is a step heard as a click, or rises far slower than a piano does. The
rise is applied at sample resolution to the note the frames make, so the note starts at exactly zero and its front
is as sharp or as slow as the source's: the time comes from the note's instrument, pitch and velocity."""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import RISE_HIDDEN

# SoundFont 2's shortest attack (attackVolEnv -12000 timecents) and a slow string or pad swell
SHORTEST_RISE_SECONDS = 1e-3
LONGEST_RISE_SECONDS = 1.0
# A fresh head starts near 10 ms: sigmoid(-0.69) = 1/3 of the way from 1 ms to 1 s in log time
RISE_START = -0.69


class RiseHead(nn.Module):
    """Each note's conditioning (instrument, pitch and velocity embeddings) [B, C] -> its rise time in samples [B]."""

    def __init__(self, conditioning: int, sample_rate: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(conditioning, RISE_HIDDEN), nn.ReLU(), nn.Linear(RISE_HIDDEN, 1))
        nn.init.zeros_(self.layers[2].weight)
        nn.init.constant_(self.layers[2].bias, RISE_START)
        self.shortest = math.log(SHORTEST_RISE_SECONDS * sample_rate)
        self.longest = math.log(LONGEST_RISE_SECONDS * sample_rate)

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        u = torch.sigmoid(self.layers(conditioning.float())[:, 0])
        return torch.exp(self.shortest + u * (self.longest - self.shortest))


def rise(samples: torch.Tensor, start: int, count: int) -> torch.Tensor:
    """Rise times [B] (samples) -> the gain of note samples [start, start + count): [B, count], 0 at sample 0,
    1 from the rise time on, a raised cosine between (flat at both ends, so neither end is a corner)."""
    n = torch.arange(start, start + count, device=samples.device, dtype=torch.float32)
    u = (n[None, :] / samples.float()[:, None]).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * u)


def apply_rise(wav: torch.Tensor, samples: torch.Tensor, start: int) -> torch.Tensor:
    """Note samples [B, n] starting at note sample `start` -> the same with the rise applied; only the samples
    before the longest rise are touched."""
    reach = min(wav.shape[1], max(int(math.ceil(float(samples.detach().max()))) - start, 0))
    if reach <= 0:
        return wav
    head = wav[:, :reach] * rise(samples, start, reach).to(wav.dtype)
    return torch.cat([head, wav[:, reach:]], dim=1)
