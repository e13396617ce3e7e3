"""The source's own pitch movement as the vibrato head's target (model/pitch_loss.py): tracked in the model's
framing, and the displacement that reproduces it scores far better than none."""
import math

import numpy as np
import torch

from singsynth.model.config import get_config
from singsynth.model.pitch_loss import frame_ratios, pitch_slope_loss

CONFIG = get_config("sing-unittest48")
RATE, STRIDE, FRAME = CONFIG.sample_rate, CONFIG.stride, CONFIG.frame
CENTS, VIBRATO_HZ, F0 = 20.0, 5.0, 440.0


def vibrato_note() -> torch.Tensor:
    """A three-partial note of F0 whose pitch moves by +-CENTS at VIBRATO_HZ, from its first sample."""
    t = np.arange(CONFIG.note_samples) / RATE
    ratio = 2 ** (CENTS / 1200 * np.sin(2 * np.pi * VIBRATO_HZ * t))
    phase = 2 * np.pi * F0 * np.cumsum(ratio) / RATE
    wav = sum(a * np.sin(k * phase) for k, a in ((1, 0.3), (2, 0.5), (3, 0.2)))
    return torch.tensor(wav, dtype=torch.float32)[None]


def expected_ratio(frames: np.ndarray) -> np.ndarray:
    centre = (frames * STRIDE + FRAME / 2 - CONFIG.padding) / RATE
    return 2 ** (CENTS / 1200 * np.sin(2 * np.pi * VIBRATO_HZ * centre))


def test_the_tracked_pitch_follows_the_vibrato():
    first, count = CONFIG.note_frames[0], 200
    ratio, tracked = frame_ratios(vibrato_note(), torch.tensor([F0]), CONFIG, first, count)
    frames = np.arange(first, first + count)
    inside = (frames * STRIDE >= CONFIG.padding) & (frames * STRIDE + FRAME <= CONFIG.padding + CONFIG.note_samples)
    assert tracked[0, inside].all()
    cents = 1200 * np.log2(ratio[0, inside].numpy())
    want = 1200 * np.log2(expected_ratio(frames[inside]))
    # a 64 ms frame averages the pitch over its length: a little under the peak, never off in phase
    assert np.corrcoef(cents, want)[0, 1] > 0.98
    assert 0.7 * CENTS < np.percentile(np.abs(cents), 99) <= 1.05 * CENTS


def test_the_displacement_that_makes_the_vibrato_scores_far_better_than_none():
    first, count = CONFIG.note_frames[0], 200
    frames = np.arange(first, first + count)
    ratio = expected_ratio(frames)
    steps = (ratio[1:] + ratio[:-1]) / 2 - 1
    moving = torch.tensor(np.concatenate([[0.0], np.cumsum(steps * STRIDE)]), dtype=torch.float32)[None]
    note, f0 = vibrato_note(), torch.tensor([F0])
    still = pitch_slope_loss(torch.zeros(1, count), note, f0, CONFIG, first)
    right = pitch_slope_loss(moving, note, f0, CONFIG, first)
    assert float(still) > 0.5 and float(right) < 0.2 * float(still)


def test_silence_asks_for_no_movement_and_a_drift_costs():
    first, count = CONFIG.note_frames[0], 50
    silence = torch.zeros(1, CONFIG.note_samples)
    assert float(pitch_slope_loss(torch.zeros(1, count), silence, torch.tensor([F0]), CONFIG, first)) == 0.0
    drift = torch.linspace(0, 20, count)[None]
    assert float(pitch_slope_loss(drift, silence, torch.tensor([F0]), CONFIG, first)) > 0.1
