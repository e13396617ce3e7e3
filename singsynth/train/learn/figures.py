"""How well a learnt instrument plays notes it did not learn: in tune, and its multi-scale distance to the
recordings against the base's nearest instruments and against a sampler playing the nearest recording."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ...model.losses import multiscale_loss
from ...preset import Preset
from ..eval_figures import shift_pitch
from ..pitch import cents, estimate_f0
from .fit import loudness

IN_TUNE_CENTS = 25.0
BATCH = 32


@dataclass
class Figures:
    notes: int
    in_tune: float | None  # share of the notes with a clear pitch in the truth that the instrument plays within 25 c
    pitched: int  # notes whose truth has a clear pitch
    learnt: float  # mean multi-scale distance to the truth
    base: float  # the same for the nearest of the base instruments compared (each brought to the truth's loudness)
    base_name: str
    sampler: float  # the same for the nearest training recording, transposed

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def line(self) -> str:
        tune = "n/a" if self.in_tune is None else f"{100 * self.in_tune:.0f} %"
        return (f"held-out notes: {self.notes}; in tune (25 cents) {tune} of {self.pitched}; multi-scale distance "
                f"{self.learnt:.3f}, {self.learnt / self.base:.2f}x the nearest base instrument's ({self.base_name}, "
                f"{self.base:.3f}), {self.learnt / self.sampler:.2f}x a sampler's ({self.sampler:.3f})")


def generate(preset: Preset, instrument: int, pitch: list[int], velocity: list[int]) -> np.ndarray:
    """Whole notes as the preset plays them (its levels and gain), in float32 arithmetic."""
    out = []
    for start in range(0, len(pitch), BATCH):
        p, v = pitch[start:start + BATCH], velocity[start:start + BATCH]
        out.append(preset.generate(preset.instrument_weights([instrument] * len(p)), p, v))
    return np.concatenate(out)


def distance(notes: np.ndarray, truth: np.ndarray) -> float:
    return float(multiscale_loss(torch.from_numpy(np.ascontiguousarray(notes, dtype=np.float32)),
                                 torch.from_numpy(np.ascontiguousarray(truth, dtype=np.float32))))


def sampler_notes(train_audio: np.ndarray, train_pitch: list[int], pitch: list[int]) -> np.ndarray:
    """A resampling sampler: each key played from the nearest training recording, transposed."""
    out = []
    for p in pitch:
        nearest = min(range(len(train_pitch)), key=lambda i: (abs(train_pitch[i] - p), train_pitch[i]))
        out.append(shift_pitch(train_audio[nearest], p - train_pitch[nearest], train_audio.shape[1]))
    return np.stack(out)


def in_tune(notes: np.ndarray, truth: np.ndarray, rate: int) -> tuple[float | None, int]:
    hits, pitched = 0, 0
    for note, true in zip(notes, truth):
        reference = estimate_f0(true, rate)
        if reference is None:
            continue
        pitched += 1
        f0 = estimate_f0(note, rate)
        hits += f0 is not None and abs(cents(f0, reference)) <= IN_TUNE_CENTS
    return (hits / pitched if pitched else None), pitched


def evaluate(preset: Preset, instrument: int, truth: np.ndarray, pitch: list[int], velocity: list[int],
             train_audio: np.ndarray, train_pitch: list[int], base: list[int]) -> Figures:
    """The figures on notes `truth` [N, samples] (at the loudness the instrument learnt) of these keys and
    velocities; `base`: the base instruments to compare with."""
    rate = preset.sample_rate
    played = generate(preset, instrument, pitch, velocity)
    share, pitched = in_tune(played, truth, rate)
    truth_level = loudness(truth, rate)
    best, best_name = np.inf, ""
    for other in base:
        notes = generate(preset, other, pitch, velocity)
        level = loudness(notes, rate)
        gain = np.sqrt(truth_level / level) if level > 0 else 1.0  # its most favourable loudness
        d = distance(notes * gain, truth)
        if d < best:
            best, best_name = d, preset.instruments[other].name
    sampler = distance(sampler_notes(train_audio, train_pitch, pitch), truth)
    return Figures(len(pitch), share, pitched, distance(played, truth), float(best), best_name, sampler)
