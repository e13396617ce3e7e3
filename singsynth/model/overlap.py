"""The paper's synthesis of a waveform from frames: a transposed convolution whose kernel is windowed, overlap-adding
1024-sample frames at stride 256."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def transposed_overlap_add(features: torch.Tensor, weight: torch.Tensor, window: torch.Tensor,
                           stride: int) -> torch.Tensor:
    """Features [B, H, T] -> the frames' overlap-added waveform [B, (T-1)*stride + frame]. On the CPU it runs in
    float32, under bfloat16 autocast too: torch's bfloat16 CPU kernel for it takes half a second a call. Elsewhere
    it runs as autocast has it."""
    if features.device.type != "cpu":
        return F.conv_transpose1d(features, weight * window, None, stride)[:, 0]
    with torch.autocast("cpu", enabled=False):
        return F.conv_transpose1d(features.float(), weight.float() * window, None, stride)[:, 0]
