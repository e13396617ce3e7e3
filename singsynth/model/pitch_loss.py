"""What teaches the vibrato head (model/vibrato.py): the source note's own pitch movement, measured frame by frame,
as the slope its displacement should have.

A spectral loss barely sees a 6-cent vibrato: at 48 kHz and 3072-sample frames a partial at 4 kHz moves by 14 Hz,
within one bin, and from a head at zero its gradient finds no direction in hundreds of steps (measured on the
48 kHz model: the model's pitch curves stayed uncorrelated with the source's). So the source's pitch is tracked in
the model's own framing: per frame, the peak of one of the note's partials (the one whose pitch the spectrum
tells most precisely), placed between bins by a parabola through its log magnitudes; its ratio to the note's median is the pitch the frame should have. The
displacement between two frame centres then has a slope of (ratio - 1): the loss is the squared difference of the
model's displacement steps from those, in samples. Frames without a clear partial (silence, noise, drums) ask for
no movement, with a tenth of the weight, so a note's tail does not wander.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .config import ModelConfig

# Every partial moves by the same cents, and a peak placed to a tenth of a bin is a smaller share of a higher one:
# the tracked partial is the one of the first PARTIALS, under HIGHEST_HZ, with the most energy times frequency
# squared (the precision of its pitch).
PARTIALS = 16
HIGHEST_HZ = 8000.0
QUIET_DB = -30.0  # frames whose partial is further under the note's loudest are not tracked
LARGEST_DEVIATION = 0.03  # 51 cents: further off is a wrong peak, not a vibrato
UNTRACKED_WEIGHT = 0.1


def frame_ratios(target: torch.Tensor, f0: torch.Tensor, config: ModelConfig, first: int,
                 count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Notes [B, note_samples] and their f0 [B] (Hz) -> each frame's pitch over the note's median [B, count] for
    frames first..first+count-1 of the model's framing, and where that was tracked [B, count] (bool)."""
    n, rate = config.frame, config.sample_rate
    padded = F.pad(target.float(), (config.padding, config.padding))
    frames = padded.unfold(1, n, config.stride)[:, first:first + count]  # [B, T, n]
    spectrum = torch.fft.rfft(frames * torch.hann_window(n, device=target.device), dim=2).abs()  # [B, T, bins]
    bins = torch.arange(spectrum.shape[2], device=target.device, dtype=torch.float32)
    hz_per_bin = rate / n
    centre = f0[:, None] * torch.arange(1, PARTIALS + 1, device=target.device)  # [B, K]
    # the partial whose pitch the spectrum tells most precisely
    lo, hi = (centre - f0[:, None] / 2) / hz_per_bin, (centre + f0[:, None] / 2) / hz_per_bin
    band = (bins[None, None, :] >= lo[:, :, None]) & (bins[None, None, :] < hi[:, :, None])  # [B, K, bins]
    energy = torch.einsum("btf,bkf->bk", spectrum.square(), band.float())
    usable = centre < min(HIGHEST_HZ, rate / 2 - f0.max().item())
    k = torch.where(usable, energy * centre.square(), torch.zeros_like(energy)).argmax(1)  # [B]
    rows = torch.arange(target.shape[0], device=target.device)
    inside = band[rows, k]  # [B, bins]
    masked = torch.where(inside[:, None, :], spectrum, torch.zeros_like(spectrum))
    peak = masked.argmax(2).clamp(1, spectrum.shape[2] - 2)  # [B, T]
    log = torch.log(spectrum.clamp(min=1e-9))
    a, b, c = (log.gather(2, (peak + d)[..., None])[..., 0] for d in (-1, 0, 1))
    curvature = a - 2 * b + c
    offset = torch.where(curvature < 0, 0.5 * (a - c) / curvature.clamp(max=-1e-9), torch.zeros_like(a))
    freq = (peak.float() + offset.clamp(-0.5, 0.5)) * hz_per_bin
    level = spectrum.gather(2, peak[..., None])[..., 0]
    loud = level > level.amax(1, keepdim=True) * 10 ** (QUIET_DB / 20)
    nominal = centre[rows, k][:, None]
    near = (freq / nominal - 1).abs() < LARGEST_DEVIATION
    tracked = loud & near & (energy.amax(1) > 0)[:, None]
    median = torch.stack([f[t].median() if bool(t.any()) else f.new_tensor(1.0) for f, t in zip(freq, tracked)])
    ratio = torch.where(tracked, freq / median[:, None], torch.ones_like(freq))
    return ratio, tracked & (freq / median[:, None] - 1).abs().lt(LARGEST_DEVIATION)


def pitch_slope_loss(displacement: torch.Tensor, target: torch.Tensor, f0: torch.Tensor, config: ModelConfig,
                     first: int) -> torch.Tensor:
    """The model's per-frame displacements [B, T] (frames first..) against the slopes the target's pitch asks
    for: the weighted mean squared difference of each step between frame centres, in samples."""
    with torch.no_grad():
        ratio, tracked = frame_ratios(target, f0, config, first, displacement.shape[1])
        wanted = ((ratio[:, 1:] + ratio[:, :-1]) / 2 - 1) * config.stride
        both = tracked[:, 1:] & tracked[:, :-1]
        wanted = torch.where(both, wanted, torch.zeros_like(wanted))
        weight = torch.where(both, torch.ones_like(wanted), torch.full_like(wanted, UNTRACKED_WEIGHT))
    steps = displacement[:, 1:] - displacement[:, :-1]
    return (weight * (steps - wanted).square()).sum() / weight.sum()
