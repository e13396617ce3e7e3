"""Calibrating a preset against the training notes its model learnt: each instrument's level corrections
(preset/levels.py), and whether its source sustains a held note.

A spectral loss on log magnitudes barely notices a note that is a few dB too quiet all through, and a model trained
on it plays its loud notes under their source (short percussive sounds most of all) and its soft ones a little
over. At each velocity the data holds, an instrument's correction is the ratio of the truth's loudness to the
model's over its notes there, so that a mix keeps its source's balance and a key its velocity response; then each
octave of its range gets what that leaves over or under there. A note's loudness is the energy of its loudest
400 ms (the window of momentary loudness, EBU R 128): a drum whose model decays sooner than its source is matched
on its hit, not raised until its tail fills the 4 s."""
from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import NamedTuple

import numpy as np

from ..model.sustain_loop import loop_decay, loop_points
from ..preset import Instrument, Preset
from ..preset.levels import Levels
from .data import NSynthData

NOTES_PER_VELOCITY = 12
WINDOW_SECONDS, HOP_SECONDS = 0.4, 0.1
# A note whose loop is this far under its loudest 400 ms has died away (a marimba, a woodblock): flat, but not held.
SOUNDING_DB = -20.0
# Past this the model has not learnt the sound; raising it further would only make a wrong sound loud.
LIMIT_DB = 12.0
# A drum kit's keys may go further: a short hit learnt with its spectrum right but far too quiet (high percussion,
# 16 dB under its source in the default) is still the right sound, and a kit out of balance is heard in every bar.
DRUM_KEY_LIMIT_DB = 24.0
REGISTER_LIMIT_DB = 6.0  # an octave's own correction, on top of the velocity's
BATCH = 64


class Heard(NamedTuple):
    """One calibration note: its pitch and velocity, the truth's and the model's loudness, whether the truth holds."""
    pitch: int
    velocity: int
    truth: float
    model: float
    holds: bool


def calibration_notes(data: NSynthData, per_velocity: int = NOTES_PER_VELOCITY) -> list[int]:
    """Training notes to measure on: for a melodic instrument `per_velocity` at each velocity, spread over its
    pitches; for a drum kit every one (each key needs its own figures)."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index in data.split("train"):
        note = data.notes[index]
        groups[note.instrument, note.velocity].append(index)
    chosen = []
    for (instrument, _), indices in sorted(groups.items()):
        indices.sort(key=lambda i: data.notes[i].pitch)
        if data.instruments[instrument].drums or len(indices) <= per_velocity:
            chosen += indices
        else:
            chosen += [indices[round(k * (len(indices) - 1) / (per_velocity - 1))] for k in range(per_velocity)]
    return chosen


def loudest_window_energy(notes: np.ndarray, sample_rate: int) -> np.ndarray:
    """[B, T] -> [B]: the energy of each note's loudest 400 ms window (100 ms hops)."""
    window, hop = round(WINDOW_SECONDS * sample_rate), round(HOP_SECONDS * sample_rate)
    total = np.concatenate([np.zeros((len(notes), 1)), np.cumsum(notes.astype(np.float64) ** 2, axis=1)], axis=1)
    starts = np.arange(0, max(notes.shape[1] - window, 0) + 1, hop)
    return (total[:, np.minimum(starts + window, notes.shape[1])] - total[:, starts]).max(axis=1)


def holds_steady(notes: np.ndarray, loudest: np.ndarray, sample_rate: int) -> list[bool]:
    """[B, T] and their loudest_window_energy [B] -> whether each note still sounds over its sustain loop and
    falls less than a steady note may."""
    window = round(WINDOW_SECONDS * sample_rate)
    out = []
    for note, peak in zip(notes, loudest / window):
        l0, l1, x = loop = loop_points(len(note))
        power = float(np.mean(note[l0:l1 - x].astype(np.float64) ** 2))
        out.append(peak > 0 and power >= peak * 10 ** (SOUNDING_DB / 10) and loop_decay(note, loop) == 1.0)
    return out


def _db(truth_energy: float, model_energy: float, limit: float = LIMIT_DB) -> float:
    if truth_energy <= 0 or model_energy <= 0:
        return 0.0
    return round(max(-limit, min(limit, 10 * math.log10(truth_energy / model_energy))), 2) + 0.0  # never -0.0


def _curve(truth: dict, model: dict, limit: float = LIMIT_DB) -> tuple[tuple[int, float], ...]:
    return tuple((v, _db(truth[v], model[v], limit)) for v in sorted(truth))


def measure_levels(preset: Preset, data: NSynthData, indices: list[int]) -> list[Instrument]:
    """The preset's instruments with level corrections measured on these notes of the data it learnt, and
    marked as sustaining where most of their source notes hold steady over the sustain loop."""
    # in float32 throughout: a preset's levels do not depend on the CPU they were measured on
    bare = dataclasses.replace(preset, instruments=[dataclasses.replace(i, levels=Levels())
                                                    for i in preset.instruments], full_precision=True)
    index_of = {i.id: i.index for i in preset.instruments}
    heard: dict[int, list[Heard]] = defaultdict(list)
    for start in range(0, len(indices), BATCH):
        batch = indices[start:start + BATCH]
        notes = [data.notes[i] for i in batch]
        instruments = [index_of[data.instruments[n.instrument].id] for n in notes]
        audio = np.asarray(data.load_audio(batch)) / 32768.0
        wanted = loudest_window_energy(audio, preset.sample_rate)
        steady = holds_steady(audio, wanted, preset.sample_rate)
        played = loudest_window_energy(bare.generate(bare.instrument_weights(instruments), [n.pitch for n in notes],
                                                     [n.velocity for n in notes]), preset.sample_rate)
        for note, instrument, t, m, holds in zip(notes, instruments, wanted, played, steady):
            heard[instrument].append(Heard(note.pitch, note.velocity, float(t), float(m), holds))
    return [dataclasses.replace(inst, levels=_levels(heard[inst.index], inst.drums),
                                sustains=not inst.drums and bool(np.mean([h.holds for h in heard[inst.index]] or [0]) > 0.5))
            for inst in preset.instruments]


def _sums(notes: list[Heard], key) -> tuple[dict, dict]:
    truth, model = defaultdict(float), defaultdict(float)
    for note in notes:
        truth[key(note)] += note.truth
        model[key(note)] += note.model
    return truth, model


def _velocity_curve(notes: list[Heard], limit: float = LIMIT_DB):
    return _curve(*_sums(notes, lambda n: n.velocity), limit)


def _levels(notes: list[Heard], drums: bool) -> Levels:
    if not notes:
        return Levels()
    curve = _velocity_curve(notes)
    if drums:
        keys = sorted({n.pitch for n in notes})
        return Levels(curve, tuple((k, _velocity_curve([n for n in notes if n.pitch == k], DRUM_KEY_LIMIT_DB))
                                   for k in keys))
    # each octave's loudness once the velocity curve is applied: what the curve alone leaves over or under
    corrected = [n._replace(model=n.model * 10 ** (Levels(curve).db(n.pitch, n.velocity) / 10)) for n in notes]
    truth, model = _sums(corrected, lambda n: n.pitch // 12)
    # relative to the whole range: where the curve stopped at its limit, the octaves may not go past it
    heard_truth, heard_model = sum(truth.values()), sum(model.values())
    overall = 10 * math.log10(heard_truth / heard_model) if heard_truth > 0 and heard_model > 0 else 0.0
    registers = []
    for octave in sorted(truth):
        pitches = [n.pitch for n in corrected if n.pitch // 12 == octave]
        db = _db(truth[octave], model[octave] * 10 ** (overall / 10), REGISTER_LIMIT_DB)
        registers.append((round(float(np.mean(pitches))), db))
    return Levels(curve, registers=tuple(registers) if len(registers) > 1 else ())
