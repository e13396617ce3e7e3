"""Spectral loss as published, the waveform loss of the ablation, and small signal helpers."""
from __future__ import annotations

import torch

N_FFT = 1024
HOP = 256


def log_power_spectrogram(wav: torch.Tensor, eps: float = 1.0, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """[B, T] -> log(eps + |STFT|^2) [B, F, frames]; Hann window, no centring."""
    window = torch.hann_window(n_fft, device=wav.device, dtype=torch.float32)
    spec = torch.stft(wav.float(), n_fft, hop, window=window, center=False, return_complex=True)
    return torch.log(eps + spec.real.square() + spec.imag.square())


def spectral_loss(output: torch.Tensor, target: torch.Tensor, eps: float = 1.0,
                  reduction: str = "mean") -> torch.Tensor:
    """SING's loss: L1 between log power spectrograms; phase-free. reduction 'none' gives [B]."""
    diff = (log_power_spectrogram(output, eps) - log_power_spectrogram(target, eps)).abs()
    return diff.mean() if reduction == "mean" else diff.flatten(1).mean(1)


def waveform_loss(output: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The ablation: mean squared error on samples."""
    diff = (output.float() - target.float()).square()
    return diff.mean() if reduction == "mean" else diff.flatten(1).mean(1)


def waveform_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute sample error per note [B]."""
    return (output.float() - target.float()).abs().flatten(1).mean(1)


# DDSP's multi-scale spectral loss (Engel et al., ICLR 2020): FFT sizes, Hann windows at 75 % overlap
MULTISCALE_FFTS = (2048, 1024, 512, 256, 128, 64)
MULTISCALE_EPS = 1e-5


def multiscale_loss(output: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Sum over FFT sizes of mean |mag - mag'| + mean |log(mag + 1e-5) - log(mag' + 1e-5)|; no centring.

    Unlike log(1 + |X|^2), its logarithm keeps a gradient down to silence, whatever the data's level.
    reduction 'none' gives [B]."""
    total = output.new_zeros(output.shape[0], dtype=torch.float32)
    for n_fft in MULTISCALE_FFTS:
        window = torch.hann_window(n_fft, device=output.device, dtype=torch.float32)
        mags = [torch.stft(x.float(), n_fft, n_fft // 4, window=window, center=False, return_complex=True).abs()
                for x in (output, target)]
        total = total + (mags[0] - mags[1]).abs().flatten(1).mean(1)
        total = total + (torch.log(mags[0] + MULTISCALE_EPS) - torch.log(mags[1] + MULTISCALE_EPS)).abs().flatten(1).mean(1)
    return total.mean() if reduction == "mean" else total


# The front of a note, where a click or a smeared attack lives: 50 ms, seen at short FFT sizes only
ONSET_SECONDS = 0.05
ONSET_FFTS = (512, 256, 128, 64)


def onset_loss(output: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """multiscale_loss over each note's first 50 ms at the FFT sizes that fit twice in it: weighted on its own,
    the front counts as much as the rest of the note, where in the whole note's mean it is 1 % of it."""
    n = round(ONSET_SECONDS * sample_rate)
    total = output.new_zeros((), dtype=torch.float32)
    for n_fft in (f for f in ONSET_FFTS if 2 * f <= n):
        window = torch.hann_window(n_fft, device=output.device, dtype=torch.float32)
        mags = [torch.stft(x[:, :n].float(), n_fft, n_fft // 4, window=window, center=False, return_complex=True).abs()
                for x in (output, target)]
        total = total + (mags[0] - mags[1]).abs().mean()
        total = total + (torch.log(mags[0] + MULTISCALE_EPS) - torch.log(mags[1] + MULTISCALE_EPS)).abs().mean()
    return total


LOSSES = {"spectral": spectral_loss, "waveform": waveform_loss, "multiscale": multiscale_loss}


def rms(wav: torch.Tensor) -> torch.Tensor:
    return wav.float().square().mean(-1).sqrt()
