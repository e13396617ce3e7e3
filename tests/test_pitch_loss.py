"""The source's own pitch movement as the vibrato head's target (model/pitch_loss.py): tracked in the model's
framing, its depth and rate recovered, and the head that says them scores far better than one without vibrato."""
import math

import numpy as np
import pytest
import torch

from singsynth.model.config import get_config
from singsynth.model.pitch_loss import frame_ratios, vibrato_loss, vibrato_targets
from singsynth.model.vibrato import Vibrato

CONFIG = get_config("sing-unittest48")
RATE, STRIDE, FRAME = CONFIG.sample_rate, CONFIG.stride, CONFIG.frame
CENTS, VIBRATO_HZ, F0 = 20.0, 5.0, 440.0


def vibrato_note(shift: float = 0.0) -> torch.Tensor:
    """A three-partial note of F0 whose pitch moves by +-CENTS at VIBRATO_HZ, from its first sample (at phase
    `shift`)."""
    t = np.arange(CONFIG.note_samples) / RATE
    ratio = 2 ** (CENTS / 1200 * np.sin(2 * np.pi * VIBRATO_HZ * t + shift))
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


def test_the_targets_are_the_depth_rate_and_phase_of_the_vibrato():
    (depth, rate, phase), enough = vibrato_targets(vibrato_note(), torch.tensor([F0]), CONFIG)
    assert bool(enough[0])
    # a 64 ms frame averages the pitch over its length: a little under the depth
    assert 0.85 * CENTS < float(depth[0]) <= 1.02 * CENTS
    assert float(rate[0]) == pytest.approx(VIBRATO_HZ, rel=0.03)
    assert abs(float(phase[0])) < 0.15  # vibrato_note's sine starts at phase 0 on its first sample


def test_a_shifted_vibrato_is_told_by_its_phase():
    (_, _, phase), _ = vibrato_targets(vibrato_note(shift=1.0), torch.tensor([F0]), CONFIG)
    assert float(phase[0]) == pytest.approx(1.0, abs=0.15)


def test_the_right_depth_and_rate_score_far_better_than_none_or_another_rate():
    note, f0 = vibrato_note(), torch.tensor([F0])
    (target_depth, _, _), _ = vibrato_targets(note, f0, CONFIG)

    def loss(depth, rate, phase=0.0):
        vibrato = Vibrato(torch.tensor([depth]), torch.tensor([rate]), torch.tensor([phase]))
        return float(vibrato_loss(vibrato, note, f0, CONFIG))
    right = loss(float(target_depth[0]), VIBRATO_HZ)
    assert right < 0.05 and loss(0.0, VIBRATO_HZ) > 20 * right + 1
    assert loss(CENTS, 2.5) > 0.5 and loss(float(target_depth[0]), VIBRATO_HZ, phase=3.0) > 1.0


def test_silence_asks_for_no_vibrato_with_little_weight():
    silence = torch.zeros(1, CONFIG.note_samples)
    (depth, _, _), enough = vibrato_targets(silence, torch.tensor([F0]), CONFIG)
    assert not bool(enough[0]) and float(depth[0]) == 0.0
    vibrato = Vibrato(torch.tensor([6.0]), torch.tensor([5.0]), torch.tensor([1.0]))
    loss = vibrato_loss(vibrato, silence, torch.tensor([F0]), CONFIG)
    assert float(loss) == pytest.approx((6.0 / 3.0) ** 2)  # alone in its batch, its small weight divides out
