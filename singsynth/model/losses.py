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


class _MagnitudeDistance(torch.autograd.Function):
    """Per note [B]: mean |mag - target| + mean |log(mag + eps) - log(target + eps)| over a spectrogram, mag = |spec|.

    The same figures and gradients as autograd's chain of abs, log, sub and mean (tests/test_losses.py), in half
    its time: autograd makes and keeps a full-size tensor at each of those steps, for six spectrograms of every note
    of a batch, and the loss was the largest part of a 48 kHz training step."""

    @staticmethod
    def forward(ctx, spec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mag = spec.abs()
        count = mag[0].numel()
        linear = (mag - target).abs_().flatten(1).sum(1)
        logs = torch.log(mag + MULTISCALE_EPS).sub_(torch.log(target + MULTISCALE_EPS)).abs_().flatten(1).sum(1)
        ctx.save_for_backward(spec, mag, target)
        return (linear + logs) / count

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        spec, mag, target = ctx.saved_tensors
        count = mag[0].numel()
        # d/dmag of both terms: the log is monotonic, so both differences have the sign of mag - target
        scale = torch.sign(mag - target)
        scale.mul_((mag + MULTISCALE_EPS).reciprocal_().add_(1.0))
        scale.mul_((grad / count).view(-1, *([1] * (mag.dim() - 1))))
        # d|X|/dX = X / |X|; none where |X| = 0, as autograd's abs gives
        scale.div_(mag).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        return spec * scale, None


def spectral_distance(output: torch.Tensor, target: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Per note [B]: mean |mag - mag'| + mean |log(mag + 1e-5) - log(mag' + 1e-5)| of the two notes' STFTs (Hann,
    hop n_fft / 4, no centring); the target's spectrogram carries no gradient."""
    window = torch.hann_window(n_fft, device=output.device, dtype=torch.float32)
    spec = torch.stft(output.float(), n_fft, n_fft // 4, window=window, center=False, return_complex=True)
    with torch.no_grad():
        truth = torch.stft(target.float(), n_fft, n_fft // 4, window=window, center=False, return_complex=True).abs()
    return _MagnitudeDistance.apply(spec, truth)


def multiscale_loss(output: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Sum over FFT sizes of mean |mag - mag'| + mean |log(mag + 1e-5) - log(mag' + 1e-5)|; no centring.

    Unlike log(1 + |X|^2), its logarithm keeps a gradient down to silence, whatever the data's level.
    reduction 'none' gives [B]."""
    total = output.new_zeros(output.shape[0], dtype=torch.float32)
    for n_fft in MULTISCALE_FFTS:
        total = total + spectral_distance(output, target, n_fft)
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
        total = total + spectral_distance(output[:, :n], target[:, :n], n_fft).mean()
    return total


LOSSES = {"spectral": spectral_loss, "waveform": waveform_loss, "multiscale": multiscale_loss}


def rms(wav: torch.Tensor) -> torch.Tensor:
    return wav.float().square().mean(-1).sqrt()
