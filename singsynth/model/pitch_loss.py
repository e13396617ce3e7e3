"""What teaches the vibrato head (model/vibrato.py): the depth, rate and phase of the source note's own pitch movement.

A spectral loss barely sees a 6-cent vibrato: at 48 kHz and 3072-sample frames a partial at 4 kHz moves by 14 Hz,
within one bin. So the source's pitch is tracked in the model's own framing: per frame, the peak of one of the
note's partials (the one whose pitch the spectrum tells most precisely), placed between bins by a parabola through
its log magnitudes; its ratio to the note's median is the pitch the frame has (frame_ratios). The sine that fits
that curve best over the note's tracked frames gives the depth (its amplitude, cents), the rate (Hz) and the phase
the head is taught (vibrato_targets); depth is one term and rate and phase others, so a phase that neighbouring
keys do not share cannot pull the depth to nothing (model/vibrato.py). Notes without enough tracked
frames (silence, noise, drums) ask for no vibrato, with a tenth of the weight.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .config import ModelConfig
from .vibrato import DEEPEST_CENTS, HIGHEST_RATE_HZ, LOWEST_RATE_HZ, Vibrato

# Every partial moves by the same cents, and a peak placed to a tenth of a bin is a smaller share of a higher one:
# the tracked partial is the one of the first PARTIALS, under HIGHEST_HZ, with the most energy times frequency
# squared (the precision of its pitch).
PARTIALS = 16
HIGHEST_HZ = 8000.0
QUIET_DB = -30.0  # frames whose partial is further under the note's loudest are not tracked
LARGEST_DEVIATION = 0.03  # 51 cents: further off is a wrong peak, not a vibrato
UNTRACKED_WEIGHT = 0.1
MIN_TRACKED_SECONDS = 0.5  # fewer tracked frames cannot tell a vibrato's rate
RATE_STEPS = 160  # rates tried, evenly in log frequency: 1.6 % apart
DEPTH_SCALE_CENTS = 3.0  # a depth error of this much weighs as much as an octave of rate


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


def vibrato_targets(target: torch.Tensor, f0: torch.Tensor, config: ModelConfig) -> tuple[Vibrato, torch.Tensor]:
    """Notes [B, note_samples] and their f0 [B] -> the Vibrato (depth in cents, rate in Hz, phase at the note's
    first sample) of the sine that fits each one's pitch curve best, and whether the note had enough tracked
    frames to tell [B] (bool)."""
    first, last = config.note_frames
    ratio, tracked = frame_ratios(target, f0, config, first, last - first + 1)
    cents = 1200 * torch.log2(ratio.double())
    mask = tracked.double()
    count = mask.sum(1)
    mean = (cents * mask).sum(1) / count.clamp(min=1)
    centred = (cents - mean[:, None]) * mask
    t = (torch.arange(first, last + 1, device=target.device, dtype=torch.float64) * config.stride
         + config.frame / 2 - config.padding) / config.sample_rate
    rates = torch.exp(torch.linspace(math.log(LOWEST_RATE_HZ), math.log(HIGHEST_RATE_HZ), RATE_STEPS,
                                     device=target.device, dtype=torch.float64))
    basis = torch.exp(-2j * math.pi * rates[None, :] * t[:, None])  # [T, rates]
    fitted = (centred.to(basis.dtype) @ basis).abs()  # [B, rates]
    best = fitted.argmax(1).clamp(1, RATE_STEPS - 2)
    # the peak placed between the rates tried by a parabola: a rate 1 % off turns the phase at the note's start
    # by 2 pi 0.01 f t over the t of the frames the fit sees, 0.5 rad at 5 Hz
    rows = torch.arange(target.shape[0], device=target.device)
    a, b, c = (fitted[rows, best + d] for d in (-1, 0, 1))
    curvature = a - 2 * b + c
    offset = torch.where(curvature < 0, 0.5 * (a - c) / curvature.clamp(max=-1e-12), torch.zeros_like(a))
    step = math.log(HIGHEST_RATE_HZ / LOWEST_RATE_HZ) / (RATE_STEPS - 1)
    rate = rates[best] * torch.exp(offset.clamp(-0.5, 0.5) * step)
    at_rate = torch.exp(-2j * math.pi * rate[:, None] * t[None, :])  # [B, T]
    amplitude = (centred.to(at_rate.dtype) * at_rate).sum(1) / count.clamp(min=1)
    enough = count >= MIN_TRACKED_SECONDS * config.sample_rate / config.stride
    depth = torch.where(enough, 2 * amplitude.abs(), torch.zeros_like(count)).clamp(max=DEEPEST_CENTS)
    phase = torch.angle(1j * amplitude)  # A sin(w t + p) correlates with exp(-i w t) as A exp(i p) / 2i
    return Vibrato(depth.float(), rate.float(), phase.float()), enough


def vibrato_error(predicted: Vibrato, wanted: Vibrato, enough: torch.Tensor) -> torch.Tensor:
    """The weighted mean over notes of the squared depth error in DEPTH_SCALE_CENTS, the squared rate error in
    octaves and the phase error (1 - cos), the latter two counted as much as the source's vibrato can be heard
    (depth / (depth + DEPTH_SCALE_CENTS)). Notes not tracked ask for no vibrato, with UNTRACKED_WEIGHT."""
    weight = torch.where(enough, torch.ones_like(wanted.depth), torch.full_like(wanted.depth, UNTRACKED_WEIGHT))
    heard = torch.where(enough, wanted.depth / (wanted.depth + DEPTH_SCALE_CENTS), torch.zeros_like(wanted.depth))
    depth_error = ((predicted.depth.float() - wanted.depth) / DEPTH_SCALE_CENTS).square()
    rate_error = torch.log2(predicted.rate.float() / wanted.rate).square()
    phase_error = 1 - torch.cos(predicted.phase.float() - wanted.phase)
    return (weight * depth_error + heard * (rate_error + phase_error)).sum() / weight.sum()


def vibrato_loss(predicted: Vibrato, target: torch.Tensor, f0: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """The head's Vibrato per note against the source notes' [B, note_samples] (vibrato_error)."""
    with torch.no_grad():
        wanted, enough = vibrato_targets(target, f0, config)
    return vibrato_error(predicted, wanted, enough)
