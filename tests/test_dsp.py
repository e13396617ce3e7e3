"""The spectral loss as published: L1 of log(1 + |STFT|^2), n_fft 1024, hop 256, Hann, no centring."""
import math

import pytest
import torch

from singsynth.model import losses


def test_spectral_loss_is_zero_on_identical_input_and_positive_otherwise():
    torch.manual_seed(0)
    x = torch.randn(2, 64_000) * 0.1
    assert losses.spectral_loss(x, x).item() == 0.0
    assert losses.spectral_loss(x, x * 0.5).item() > 0
    assert losses.spectral_loss(x, torch.zeros_like(x)).item() > 0


def test_spectral_loss_ignores_phase():
    t = torch.arange(64_000) / 16_000
    a = torch.sin(2 * math.pi * 440 * t)[None]
    b = torch.cos(2 * math.pi * 440 * t)[None]
    assert losses.spectral_loss(a, b).item() < 0.05 * losses.spectral_loss(a, torch.zeros_like(a)).item()


def test_log_power_spectrogram_matches_the_definition():
    torch.manual_seed(1)
    x = torch.randn(1, 4096)
    spec = losses.log_power_spectrogram(x)
    # no centring: (4096 - 1024) / 256 + 1 frames
    assert spec.shape == (1, 513, 13)
    frame = x[0, 256:1280] * torch.hann_window(1024)
    manual = torch.log(1 + torch.fft.rfft(frame).abs() ** 2)
    assert torch.allclose(spec[0, :, 1], manual, rtol=1e-4, atol=1e-4)


def test_loss_is_the_mean_absolute_log_difference():
    torch.manual_seed(2)
    a, b = torch.randn(1, 8192), torch.randn(1, 8192)
    expected = (losses.log_power_spectrogram(a) - losses.log_power_spectrogram(b)).abs().mean()
    assert losses.spectral_loss(a, b).item() == pytest.approx(expected.item())
    per_note = losses.spectral_loss(torch.cat([a, a]), torch.cat([b, a]), reduction="none")
    assert per_note[0].item() == pytest.approx(expected.item()) and per_note[1].item() == 0


def test_waveform_loss_is_mse():
    a, b = torch.ones(1, 10), torch.zeros(1, 10)
    assert losses.waveform_loss(a, b).item() == 1.0
    assert losses.waveform_l1(a * 0.5, b).tolist() == [0.5]

