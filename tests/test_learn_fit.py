"""learn's fit: the learning rate's fall, the step kept by the recordings set aside, the start chosen on whole
notes, and which recordings are set aside."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from learn_fixtures import make_harmonic_preset, one_shot
from singsynth.preset import load_preset
from singsynth.train.learn import fit as fitting
from singsynth.train.learn import rows
from singsynth.train.learn.recordings import Recording
from singsynth.train.learn.run import VALIDATE_EVERY, set_aside, split


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_harmonic_preset(tmp_path_factory.mktemp("base") / "base")


def model_and_targets(base):
    preset = load_preset(base)
    config = preset.config
    state = rows.with_controls(rows.read_state(preset.weights_path), config)
    model = rows.build(config, state, rows.start_rows(state, 1, torch.zeros(128)))
    pitches = [55, 57, 60, 62]
    audio = torch.from_numpy(np.stack([one_shot(p, 4.0) for p in pitches]).astype(np.float32)) * 1e-3
    targets = fitting.Targets(audio, torch.tensor(pitches), torch.full((len(pitches),), 100.0))
    return model, config.n_instruments, targets


def test_the_rate_falls_from_its_first_value_to_zero():
    assert fitting.falling(0.1, 0.0) == 0.1
    assert fitting.falling(0.1, 0.5) == pytest.approx(0.05)
    assert fitting.falling(0.1, 1.0) == pytest.approx(0.0, abs=1e-12)
    rates = [fitting.falling(0.1, f / 10) for f in range(11)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("worsening", [True, False])
def test_the_rows_kept_are_the_checks_nearest_the_recordings_set_aside(base, monkeypatch, worsening):
    """Where the set-aside notes only get further, the start's rows come back bit for bit; where they get nearer,
    the last check's are kept."""
    model, new, targets = model_and_targets(base)
    learnt = {n: p for n, p in model.named_parameters() if n in rows.LEARNT}
    assert rows.CONTROLS in learnt and rows.EMBEDDING in learnt
    start = {n: p.detach().clone() for n, p in learnt.items()}
    distances = iter(range(100)) if worsening else iter(range(100, 0, -1))
    monkeypatch.setattr(fitting, "whole_distance", lambda *args: float(next(distances)))
    fitted = fitting.fit(model, new, targets, 60.0, 6, 16_000, shown=False, validation=targets)
    assert fitted.steps == 6
    assert [s for s, _ in fitted.validation][0] == 0 and fitted.validation[-1][0] == 6
    if worsening:
        assert fitted.kept_step == 0
        assert all(torch.equal(p, start[n]) for n, p in learnt.items())
    else:
        assert fitted.kept_step == 6
        assert not torch.equal(learnt[rows.CONTROLS], start[rows.CONTROLS])
        assert not torch.equal(learnt[rows.EMBEDDING], start[rows.EMBEDDING])


def test_without_recordings_set_aside_the_last_step_is_kept(base):
    model, new, targets = model_and_targets(base)
    fitted = fitting.fit(model, new, targets, 60.0, 3, 16_000, shown=False)
    assert fitted.kept_step is None and fitted.validation == [] and fitted.steps == 3
    assert math.isfinite(fitted.last_loss)


def test_the_start_is_the_shortlisted_instrument_nearest_on_whole_notes(base, monkeypatch):
    """Fronts only shortlist: the whole notes decide, so an instrument nearest on its first second but far over the
    note is not the start."""
    model, new, targets = model_and_targets(base)
    shortlists = []

    def whole(model, new, targets, rate, shortlist):  # the last of the shortlist (the furthest front) is nearest
        shortlists.append(shortlist)
        return {c: (0.0 if c == shortlist[-1] else 10.0, 0.5) for c in shortlist}
    monkeypatch.setattr(fitting, "whole_distances", whole)
    best, gain, distances = fitting.choose_start(model, new, targets, 16_000, [0, 1])
    assert shortlists == [sorted([0, 1], key=lambda c: distances[c])]
    assert best == shortlists[0][-1] and distances[best] > min(distances) and gain == 0.5
    assert distances[2] == math.inf  # the kit is no candidate


def test_a_sixth_of_the_training_recordings_is_set_aside_in_the_gaps():
    recordings = [Recording(str(k), k, 100, np.zeros(16, np.float32)) for k in range(48, 72)]
    train, held = split(recordings)
    fitted_on, aside = set_aside(train)
    assert len(aside) == len(train) // VALIDATE_EVERY == 3
    assert not {r.pitch for r in aside} & {r.pitch for r in held}
    assert train[0] in fitted_on and train[-1] in fitted_on  # the range's ends are fitted on
    assert set_aside(train[:VALIDATE_EVERY - 1]) == (train[:VALIDATE_EVERY - 1], [])
