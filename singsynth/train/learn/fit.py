"""Fitting the new instrument: the base instrument to start from, then Adam on its rows alone.

The start is the base instrument whose notes are nearest the recordings: a shortlist by the front of a few recorded
keys, then the nearest of it on those keys' whole notes (a pad can match a clarinet's first second and be far from
its four), each instrument brought to the recordings' loudness first, since the distance is level-sensitive.
Training runs on the first part of each note, widened as the run goes on: the LSTM runs per frame, so a note's
first second costs a quarter of the whole note, and the front (attack, timbre) is what tells instruments apart.
The learning rate falls to zero over the run's time, and the rows kept are those of the step whose whole notes were
nearest a few training recordings set aside for that (never the held-out ones), the start included: a run ends no
further from what it can check than it began."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ...io.progress import progress_bar
from ...model.losses import multiscale_loss
from ...model.sing import SING
from ..calibration import loudest_window_energy
from .rows import CONTROLS, EMBEDDING, LEARNT, front

logger = logging.getLogger(__name__)

# Adam's first rate for each learnt tensor, falling as a half cosine to 0 at the run's end: the base's embedding
# entries are of the order of 1 (0.02 and 0.3 fitted worse in 40 steps); the control offsets are logits
LEARNING_RATES = {EMBEDDING: 0.1, CONTROLS: 0.05}
OTHER_LEARNING_RATE = 0.1
SELECT_KEYS = 4  # recordings the start is chosen on, spread over their keys
SELECT_SECONDS = 1.0
SHORTLIST = 6  # base instruments nearest on the fronts, then judged on whole notes
CHECKS = 8  # validations over the run (and one at the start)
BATCH = 64
# (share of the run, seconds of each note trained on): the front first, then longer stretches, then whole notes
SCHEDULE = ((0.35, 0.5), (0.35, 1.0), (0.15, 2.0), (0.15, None))


@dataclass
class Targets:
    """The notes to learn [N, samples] (float32, at the loudness the model is fitted to) and their labels."""
    audio: torch.Tensor
    pitch: torch.Tensor
    velocity: torch.Tensor


@dataclass
class Fitted:
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    history: list[float] = field(default_factory=list)
    kept_step: int | None = None  # the step whose rows were kept (0: the start), where there was a validation
    validation: list[tuple[int, float]] = field(default_factory=list)  # (step, whole-note distance)


def one_hot(index: int, count: int, batch: int) -> torch.Tensor:
    return F.one_hot(torch.full((batch,), index), count).float()


def spread(count: int, wanted: int) -> list[int]:
    return sorted({round(k * (count - 1) / max(wanted - 1, 1)) for k in range(min(wanted, count))})


def loudness(notes: np.ndarray, rate: int) -> float:
    """The mean energy of notes' loudest 400 ms (as calibration measures a note's level)."""
    return float(np.mean(loudest_window_energy(np.asarray(notes, dtype=np.float64), rate)))


def choose_start(model: SING, new: int, targets: Targets, rate: int,
                 candidates: list[int]) -> tuple[int, float, list[float]]:
    """The base instrument to start from (one of `candidates`), the gain that brings the recordings to its loudness,
    and every base instrument's distance (infinite for those not candidates). Each is played with the new row's tuning (measured from the recordings), so a base
    instrument tuned an octave off its keys is judged by its timbre, which is what the new row takes from it."""
    picks = spread(len(targets.pitch), SELECT_KEYS)
    samples = min(round(SELECT_SECONDS * rate), targets.audio.shape[1])
    truth = targets.audio[picks, :samples]
    truth_level = loudness(truth.numpy(), rate)
    count = model.config.n_instruments
    pitch, velocity = targets.pitch[picks], targets.velocity[picks]
    distances, gains = [math.inf] * new, [1.0] * new
    with torch.inference_mode():
        per_batch = max(1, BATCH // len(picks))
        for start in range(0, len(candidates), per_batch):
            group = candidates[start:start + per_batch]
            timbre = torch.cat([one_hot(c, count, len(picks)) for c in group])
            notes = front(model, one_hot(new, count, len(timbre)), pitch.repeat(len(group)),
                          velocity.repeat(len(group)), samples, timbre=timbre)
            for k, c in enumerate(group):
                played = notes[k * len(picks):(k + 1) * len(picks)]
                level = loudness(played.numpy(), rate)
                gain = math.sqrt(level / truth_level) if level > 0 and truth_level > 0 else 1.0
                distances[c], gains[c] = float(multiscale_loss(played, truth * gain)), gain
        shortlist = [int(c) for c in np.argsort(distances)[:SHORTLIST] if np.isfinite(distances[c])]
        whole = whole_distances(model, new, Targets(targets.audio[picks], pitch, velocity), rate, shortlist)
    best = min(whole, key=lambda c: whole[c][0])
    return best, whole[best][1], distances


def whole_distances(model: SING, new: int, targets: Targets, rate: int,
                    candidates: list[int]) -> dict[int, tuple[float, float]]:
    """Each candidate's (distance, gain) on the targets' whole notes, brought to their loudness."""
    count, size = model.config.n_instruments, len(targets.pitch)
    truth_level = loudness(targets.audio.numpy(), rate)
    out = {}
    for c in candidates:
        notes = front(model, one_hot(new, count, size), targets.pitch, targets.velocity, targets.audio.shape[1],
                      timbre=one_hot(c, count, size))
        level = loudness(notes.numpy(), rate)
        gain = math.sqrt(level / truth_level) if level > 0 and truth_level > 0 else 1.0
        out[c] = (float(multiscale_loss(notes, targets.audio * gain)), gain)
    return out


def front_samples(fraction: float, note_samples: int, rate: int) -> int:
    done = 0.0
    for share, seconds in SCHEDULE:
        done += share
        if fraction < done:
            return note_samples if seconds is None else min(round(seconds * rate), note_samples)
    return note_samples


def falling(first_rate: float, fraction: float) -> float:
    """The learning rate at `fraction` of the run: a half cosine from `first_rate` to 0, so the last steps settle
    where Adam's fixed-size steps would have the rows jump about the minimum."""
    return first_rate * 0.5 * (1 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def whole_distance(model: SING, new: int, targets: Targets) -> float:
    with torch.inference_mode():
        weights = one_hot(new, model.config.n_instruments, len(targets.pitch))
        return float(multiscale_loss(model(weights, targets.pitch, targets.velocity), targets.audio))


def fit(model: SING, new: int, targets: Targets, seconds: float, max_steps: int | None, rate: int,
        shown: bool = True, validation: Targets | None = None) -> Fitted:
    """Adam on the new instrument's learnt rows against the targets' multi-scale distance, for `seconds` (or
    `max_steps` steps, whichever ends first). With `validation`, the rows kept are those of the check (CHECKS over
    the run, and the start) whose whole notes were nearest it."""
    learnt = {name: p for name, p in model.named_parameters() if name in LEARNT}
    optimizer = torch.optim.Adam([{"params": [p], "lr": LEARNING_RATES.get(name, OTHER_LEARNING_RATE)}
                                  for name, p in learnt.items()])
    first_rates = [group["lr"] for group in optimizer.param_groups]
    count, batch = model.config.n_instruments, len(targets.pitch)
    weights = one_hot(new, count, batch)
    history: list[float] = []
    checks: list[tuple[int, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None

    check_seconds = 0.0  # what the last check took: as much is kept in hand for the one after the last step

    def check(step: int) -> None:
        nonlocal best, check_seconds
        if validation is None:
            return
        begun_check = time.monotonic()
        checks.append((step, whole_distance(model, new, validation)))
        check_seconds = time.monotonic() - begun_check
        if best is None or checks[-1][1] < best[0]:
            best = (checks[-1][1], step, {k: p.detach().clone() for k, p in learnt.items()})
    begun = time.monotonic()
    total = max_steps if max_steps is not None else None
    bar_total = round(seconds) if total is None else total
    with progress_bar(shown, total=bar_total, unit="s" if total is None else "step", desc="learning",
                      bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]") as bar:
        step, per_sample, counted = 0, 0.0, 0  # seconds a step took per sample of note trained on, the last step
        check(0)
        while True:
            elapsed = time.monotonic() - begun
            fraction = max(elapsed / seconds if seconds > 0 else 1.0, step / max_steps if max_steps else 0.0)
            if fraction >= 1.0:
                break
            samples = front_samples(fraction, targets.audio.shape[1], rate)
            if max_steps is None and step and elapsed + per_sample * samples + check_seconds > seconds:
                break  # the step (and the last check) would end past the time given: the run's time is a promise
            if validation is not None and checks[-1][0] != step and fraction >= len(checks) / CHECKS:
                check(step)
                continue  # the time is measured again
            for group, first_rate in zip(optimizer.param_groups, first_rates):
                group["lr"] = falling(first_rate, fraction)
            stepped = time.monotonic()
            played = front(model, weights, targets.pitch, targets.velocity, samples)
            loss = multiscale_loss(played, targets.audio[:, :samples])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            per_sample = (time.monotonic() - stepped) / samples
            history.append(loss.item())
            step += 1
            if total is None:  # the bar counts seconds: the time left is what a user waits for
                now = min(round(time.monotonic() - begun), bar_total)
                bar.update(now - counted)
                counted = now
            else:
                bar.update(1)
            if hasattr(bar, "set_postfix_str"):
                bar.set_postfix_str(f"loss {history[-1]:.3f} on {samples / rate:.1f} s", refresh=False)
        if validation is not None and checks[-1][0] != step:
            check(step)
    kept = None
    if best is not None:
        _, kept, rows = best
        with torch.no_grad():
            for name, p in learnt.items():
                p.copy_(rows[name])
        logger.info("kept the rows of step %d of %d: whole-note distance to %d training recordings set aside %s",
                    kept, step, len(validation.pitch), ", ".join(f"{d:.3f}@{s}" for s, d in checks))
    spent = time.monotonic() - begun
    logger.debug("%d steps in %.1f s", len(history), spent)
    return Fitted(len(history), spent, history[0] if history else math.nan, history[-1] if history else math.nan,
                  history, kept, checks)
