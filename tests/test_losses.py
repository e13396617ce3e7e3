"""The multi-scale and onset losses give autograd's own figures and gradients (model/losses.py computes the
gradient of its magnitude distance by hand, for speed)."""

import pytest
import torch

from singsynth.model import losses


def autograd_distance(output, target, n_fft, start=None):
    """The loss term as autograd's chain of operations computes it: the reference."""
    window = torch.hann_window(n_fft)
    mags = [torch.stft(x[:, :start].float(), n_fft, n_fft // 4, window=window, center=False, return_complex=True).abs()
            for x in (output, target)]
    eps = losses.MULTISCALE_EPS
    return ((mags[0] - mags[1]).abs().flatten(1).mean(1)
            + (torch.log(mags[0] + eps) - torch.log(mags[1] + eps)).abs().flatten(1).mean(1))


@pytest.fixture
def notes():
    torch.manual_seed(0)
    output = torch.randn(3, 8000) * 0.1
    output[0, :3000] = 0  # silent frames: |X| = 0, where the gradient is 0
    output[1] *= torch.linspace(0, 1, 8000)  # a rise
    target = torch.randn(3, 8000) * 0.1
    target[2, 4000:] = 0
    return output, target


def gradient(loss_of, output, target):
    x = output.clone().requires_grad_(True)
    loss = loss_of(x, target)
    loss.backward()
    return loss.detach(), x.grad


def test_the_multiscale_loss_and_its_gradient_are_autograds(notes):
    output, target = notes
    ours, our_grad = gradient(losses.multiscale_loss, output, target)
    reference, reference_grad = gradient(
        lambda x, t: sum(autograd_distance(x, t, n) for n in losses.MULTISCALE_FFTS).mean(), output, target)
    assert torch.allclose(ours, reference, rtol=1e-6)
    assert torch.allclose(our_grad, reference_grad, rtol=1e-4, atol=1e-6 * reference_grad.abs().max())
    assert torch.all(our_grad[0, :3000 - 2048] == 0)  # frames wholly silent get no gradient, and no NaN
    per_note = losses.multiscale_loss(output, target, reduction="none")
    assert torch.allclose(per_note, sum(autograd_distance(output, target, n) for n in losses.MULTISCALE_FFTS),
                          rtol=1e-6)


def test_the_onset_loss_and_its_gradient_are_autograds(notes):
    output, target = notes
    rate = 16000
    n = round(losses.ONSET_SECONDS * rate)
    ours, our_grad = gradient(lambda x, t: losses.onset_loss(x, t, rate), output, target)
    reference, reference_grad = gradient(
        lambda x, t: sum(autograd_distance(x, t, f, n).mean() for f in losses.ONSET_FFTS if 2 * f <= n),
        output, target)
    assert torch.allclose(ours, reference, rtol=1e-6)
    assert torch.allclose(our_grad, reference_grad, rtol=1e-4, atol=1e-6 * reference_grad.abs().max())
    assert torch.all(our_grad[:, n:] == 0)  # past the front, nothing
