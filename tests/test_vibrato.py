"""A note's own vibrato (model/vibrato.py): the note read at a displaced time moves every partial's pitch by the
displacement's slope, the head's oscillator gives the depth and rate it says, a displacement of zero changes
nothing, and a streamed note equals the whole note."""
import math

import numpy as np
import pytest
import torch

from singsynth.model.config import get_config
from singsynth.model.sing import SING, split_state, stack_states
from singsynth.model.vibrato import (DEEPEST_CENTS, HIGHEST_RATE_HZ, LOWEST_RATE_HZ, MAX_DISPLACEMENT_SECONDS,
                                     Framing, Vibrato, VibratoHead, displacement_at, oscillator, read_displaced,
                                     warp_note)

RATE = 48_000


def tone(hz: float, n: int = RATE // 4) -> torch.Tensor:
    return torch.sin(2 * math.pi * hz * torch.arange(n, dtype=torch.float64) / RATE).float()[None]


def test_no_displacement_reads_the_samples_as_they_are():
    x = torch.randn(2, 5000)
    out = read_displaced(x, 100, torch.zeros(2, 4000))
    torch.testing.assert_close(out, x[:, 100:4100], rtol=0, atol=0)


@pytest.mark.parametrize("hz", [1000.0, 8000.0, 15000.0])
def test_a_fractional_displacement_delays_a_tone_by_exactly_that(hz):
    x = tone(hz)
    g = torch.full((1, 2000), 0.37)
    out = read_displaced(x, 3000, g)
    expected = torch.sin(2 * math.pi * hz * (torch.arange(3000, 5000, dtype=torch.float64) + 0.37) / RATE).float()[None]
    assert float((out - expected).abs().max()) < 3e-3  # Lanczos-8: flat to 15 kHz at 48 kHz


def test_a_row_without_displacement_is_copied_beside_one_with():
    x = torch.randn(2, 3000)
    g = torch.zeros(2, 1000)
    g[1] = 2.5
    out = read_displaced(x, 500, g)
    torch.testing.assert_close(out[0], x[0, 500:1500], rtol=0, atol=0)
    assert float((out[1] - x[1, 500:1500]).abs().max()) > 0.1


def instantaneous_cents(wav: np.ndarray, hz: float) -> np.ndarray:
    """The pitch of a tone from its zero crossings, in cents from hz."""
    crossings = np.nonzero((wav[:-1] < 0) & (wav[1:] >= 0))[0]
    exact = crossings + wav[crossings] / (wav[crossings] - wav[crossings + 1])
    periods = np.diff(exact)
    return 1200 * np.log2(RATE / periods / hz)


def test_a_sinusoidal_displacement_is_a_vibrato_of_the_depth_its_slope_gives():
    frame, stride, hz, rate_hz = 3072, 768, 440.0, 5.0
    frames = 80
    centres = np.arange(frames) * stride + frame / 2
    depth = 0.11e-3 * RATE  # samples: a 6-cent vibrato at 5 Hz
    g = torch.tensor(depth * np.sin(2 * np.pi * rate_hz * centres / RATE), dtype=torch.float32)[None]
    x = tone(hz, frames * stride + frame)
    out = warp_note(x, 0, g, 0, frame, frames * stride - frame, frame, stride)[0].numpy()
    cents = instantaneous_cents(out, hz)
    expected = 1200 * np.log2(1 + depth * 2 * np.pi * rate_hz / RATE)
    assert abs(cents.max() - expected) < 0.6 and abs(cents.min() + expected) < 0.6
    assert abs(cents.mean()) < 0.3  # the mean pitch stays the note's


@pytest.mark.parametrize("cents,rate_hz,phase", [(6.0, 5.0, 0.0), (25.0, 1.0, 2.0), (12.0, 9.0, -1.0)])
def test_the_oscillator_is_a_vibrato_of_its_depth_rate_and_phase_from_the_note_s_first_sample(cents, rate_hz, phase):
    frame, stride, hz, padding = 3072, 768, 440.0, 3072
    framing = Framing(frame, stride, padding, RATE)
    frames = 330
    g = oscillator(Vibrato(torch.tensor([cents]), torch.tensor([rate_hz]), torch.tensor([phase])), 0, frames, framing)
    assert torch.all(g[0, :3] == 0) and g[0, 3] != 0  # frames centred before or at the note's first sample
    x = tone(hz, frames * stride + frame)
    start, count = padding, frames * stride - frame - padding
    out = warp_note(x, 0, g, 0, start, count, frame, stride)[0].numpy()
    cents_seen = instantaneous_cents(out, hz)
    # the pitch between frame centres is the slope of a line: a staircase under the sine, a little shallower; a
    # pitch from zero crossings is good to about half a cent
    low, high = cents * 0.9 - 0.6, cents + 0.6
    assert low < cents_seen.max() < high and -high < cents_seen.min() < -low
    spectrum = np.abs(np.fft.rfft(cents_seen - cents_seen.mean(), 1 << 16))
    seen_rate = np.fft.rfftfreq(1 << 16, 1 / hz)[np.argmax(spectrum[1:]) + 1]  # one value per period of the tone
    assert seen_rate == pytest.approx(rate_hz, rel=0.05)
    # in phase with cents * sin(w t + phase), t from the note's first sample
    t = np.arange(len(cents_seen)) / hz
    expected = cents * np.sin(2 * np.pi * rate_hz * t + phase)
    assert np.corrcoef(cents_seen, expected)[0, 1] > 0.95


def test_the_head_starts_without_vibrato_and_stays_within_its_range():
    framing = Framing(3072, 768, 3072, RATE)
    head = VibratoHead(3, framing).eval()
    weights, pitch = torch.eye(3), torch.tensor([30, 60, 100])
    assert torch.all(head.displacement(weights, pitch, 0, 300) == 0)  # under the play dead zone
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 30)
        depth, rate, _ = head(weights, pitch)
        g = head.displacement(weights, pitch, 0, 300)
    assert torch.all(depth <= DEEPEST_CENTS) and torch.all((rate >= LOWEST_RATE_HZ) & (rate <= HIGHEST_RATE_HZ))
    assert float(g.abs().max()) <= MAX_DISPLACEMENT_SECONDS * RATE + 1e-3


def test_displacement_holds_before_the_first_centre_and_after_the_last():
    g = torch.tensor([[1.0, 3.0]])
    at = displacement_at(g, 0, 0, 4000, 3072, 768)
    assert at[0, 0] == 1.0 and at[0, -1] == 3.0
    assert at[0, 1536 + 384] == pytest.approx(2.0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    sing = SING(get_config("sing-unittest48", n_instruments=2)).eval()
    with torch.no_grad():  # a vibrato of several samples' displacement
        sing.decoder.controls.bias[0] = 3.0
        sing.decoder.warp.layers[2].bias.copy_(torch.tensor([2.0, 0.5, 0.3, 1.0]))
        sing.decoder.warp.layers[2].weight.normal_(0, 0.5)
    return sing


def notes(sing):
    return sing.instrument_weights(torch.tensor([0, 1])), torch.tensor([60, 40]), torch.tensor([100.0, 70.0])


@pytest.mark.parametrize("first,steps", [(1, 4), (2, 64), (300, 300)])
def test_a_streamed_note_with_vibrato_equals_the_whole_note(model, first, steps):
    with torch.no_grad():
        whole = model(*notes(model))
        streamed = torch.cat(list(model.stream(*notes(model), first_steps=first, steps=steps)), dim=1)
        warp = model.decoder.warp.displacement(*notes(model)[:2], 0, model.config.steps)
    assert float(warp.abs().max()) > 1.0  # the test's displacement is more than a sample
    assert streamed.shape == whole.shape
    torch.testing.assert_close(streamed, whole, rtol=0, atol=1e-5)


def test_streams_split_and_stacked_mid_note_equal_the_whole_note(model):
    with torch.no_grad():
        whole = model(*notes(model))
        state = model.start_stream(*notes(model))
        parts = [model.stream_chunk(state, model.first_chunk_steps(3))]
        a, b = split_state(state)
        parts.append(torch.cat([model.stream_chunk(a, 5), model.stream_chunk(b, 5)]))
        joined = stack_states([a, b])
        while not model.stream_done(joined):
            parts.append(model.stream_chunk(joined, 16))
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=0, atol=1e-5)


def test_a_fresh_head_leaves_the_note_as_the_frames_made_it():
    torch.manual_seed(2)
    with_head = SING(get_config("sing-unittest48", n_instruments=2)).eval()
    without = SING(get_config("sing-unittest48", n_instruments=2, vibrato=False)).eval()
    without.load_state_dict({k: v for k, v in with_head.state_dict().items() if not k.startswith("decoder.warp.")})
    with torch.no_grad():
        torch.testing.assert_close(with_head(*notes(with_head)), without(*notes(without)), rtol=0, atol=0)


def test_training_reaches_the_head_from_its_zero_start():
    torch.manual_seed(3)
    sing = SING(get_config("sing-unittest48", n_instruments=2)).train()
    sing(*notes(sing)).pow(2).mean().backward()
    assert float(sing.decoder.warp.layers[2].bias.grad.abs().sum()) > 0
