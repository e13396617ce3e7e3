"""A note's rise from silence (model/onset.py): it starts at exactly zero and without a step, in whole notes and
streamed alike, however loud its first frames are."""
import math

import numpy as np
import pytest
import torch

from singsynth.model.config import get_config
from singsynth.model.onset import apply_rise, rise
from singsynth.model.sing import SING
from singsynth.train.attacks import step_and_rise

RATE = 48_000


def loud_from_the_first_sample(n: int = RATE) -> torch.Tensor:
    """What frames too long to rise give: a full-level 1 kHz tone from the note's first sample on."""
    t = torch.arange(n) / RATE
    return torch.cos(2 * math.pi * 1000 * t)[None]


def test_a_tone_that_jumps_in_is_a_step_and_the_rise_takes_it_away():
    jump = loud_from_the_first_sample()
    step, rise_s = step_and_rise(jump[0].numpy(), RATE)
    assert step > 0.9 and rise_s == 0.0  # the measure sees the click
    for seconds in (0.002, 0.005, 0.05):
        smooth = apply_rise(jump, torch.tensor([seconds * RATE]), 0)[0].numpy()
        step, rise_s = step_and_rise(smooth, RATE)
        assert smooth[0] == 0.0
        assert step <= 0.04 if seconds == 0.002 else step <= 0.01
        assert seconds / 2 - 0.5e-3 <= rise_s <= seconds / 2 + 0.5e-3  # a raised cosine is at half at half its time
        np.testing.assert_array_equal(smooth[round(seconds * RATE) + 1:], jump[0, round(seconds * RATE) + 1:].numpy())


def test_the_rise_applied_piecewise_equals_the_rise_applied_whole():
    wav = torch.randn(2, 4000)
    times = torch.tensor([300.0, 2500.0])
    whole = apply_rise(wav, times, 0)
    parts = torch.cat([apply_rise(wav[:, a:b], times, a) for a, b in ((0, 7), (7, 1000), (1000, 2600), (2600, 4000))], 1)
    torch.testing.assert_close(parts, whole, rtol=0, atol=0)
    assert torch.all(rise(times, 0, 1) == 0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    sing = SING(get_config("sing-unittest48", n_instruments=2)).eval()
    with torch.no_grad():  # frames already loud at the note's first sample, and a rise of 30 ms
        sing.decoder.controls.bias[0] = 3.0
        sing.rise.layers[2].bias.fill_(0.0)  # 1 ms * 1000 ** 0.5: 32 ms
    return sing


def notes(sing):
    return sing.instrument_weights(torch.tensor([0, 1])), torch.tensor([60, 40]), torch.tensor([100.0, 70.0])


def test_a_model_note_starts_at_zero_and_rises_without_a_step(model):
    with torch.no_grad():
        out = model(*notes(model)).numpy()
        rise_samples = model.rise(model.sequence.conditioning(
            notes(model)[0], notes(model)[1], torch.tensor([[0, 0, 0, 1.0, 0], [0, 0.2, 0.8, 0, 0]]))).numpy()
    assert 0.02 * RATE < rise_samples.min() and rise_samples.max() < 0.05 * RATE
    for note in out:
        assert note[0] == 0.0
        step, _ = step_and_rise(note, RATE)
        assert step <= 0.01
    # the same frames without the rise start with a step: what the rise is there for
    bare = SING(get_config("sing-unittest48", n_instruments=2, attack=False)).eval()
    bare.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("rise.")})
    with torch.no_grad():
        jumps = [step_and_rise(n, RATE)[0] for n in bare(*notes(model)).numpy()]
    assert min(jumps) > 0.2


def test_a_streamed_note_with_its_rise_equals_the_whole_note(model):
    with torch.no_grad():
        whole = model(*notes(model))
        streamed = torch.cat(list(model.stream(*notes(model), first_steps=1, steps=4)), dim=1)
    assert streamed.shape == whole.shape
    torch.testing.assert_close(streamed, whole, rtol=0, atol=1e-6)
