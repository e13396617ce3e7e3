"""The source's own pitch movement as the vibrato head's target (model/pitch_loss.py): tracked in the model's
framing, its depth and rate recovered, and the head that says them scores far better than one without vibrato."""
import math

import numpy as np
import pytest
import torch

from singsynth.model.config import get_config
from singsynth.model.pitch_loss import frame_ratios, vibrato_loss, vibrato_targets

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


def test_the_targets_are_the_depth_and_rate_of_the_vibrato():
    depth, rate, enough = vibrato_targets(vibrato_note(), torch.tensor([F0]), CONFIG)
    assert bool(enough[0])
    # a 64 ms frame averages the pitch over its length: a little under the depth
    assert 0.85 * CENTS < float(depth[0]) <= 1.02 * CENTS
    assert float(rate[0]) == pytest.approx(VIBRATO_HZ, rel=0.03)


def test_the_right_depth_and_rate_score_far_better_than_none_or_another_rate():
    note, f0 = vibrato_note(), torch.tensor([F0])
    target_depth, _, _ = vibrato_targets(note, f0, CONFIG)
    loss = lambda depth, rate: float(vibrato_loss(torch.tensor([depth]), torch.tensor([rate]), note, f0, CONFIG))
    right, none, slower = loss(float(target_depth[0]), VIBRATO_HZ), loss(0.0, VIBRATO_HZ), loss(CENTS, 2.5)
    assert right < 0.05 and none > 20 * right + 1 and slower > 0.5


def test_silence_asks_for_no_vibrato_with_little_weight():
    silence = torch.zeros(1, CONFIG.note_samples)
    depth, _, enough = vibrato_targets(silence, torch.tensor([F0]), CONFIG)
    assert not bool(enough[0]) and float(depth[0]) == 0.0
    loss = vibrato_loss(torch.tensor([6.0]), torch.tensor([5.0]), silence, torch.tensor([F0]), CONFIG)
    assert float(loss) == pytest.approx((6.0 / 3.0) ** 2)  # alone in its batch, its small weight divides out
