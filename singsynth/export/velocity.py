"""Velocity within a layer: the engine plays each of its 16 velocity steps with its own note, and the notes of
one instrument grow louder with velocity (by tens of dB from the softest step to the loudest). A layer plays one
note for several steps; a modulator from velocity to attenuation gives it the loudness of the step played, after a
straight line (in dB against velocity) fitted to the instrument's notes at one key, step by step.

Modulator amounts are 0.1 dB a centibel in FluidSynth, as the specification has it (only the initialAttenuation
generator gets the EMU8000's 0.4), and FluidSynth scales velocity by 1/128; both measured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..io import sf2
from ..synth.cache import quantize_velocity
from .layout import Layer

MOD_DB_PER_CENTIBEL = 0.1
VELOCITY_SCALE = 128  # FluidSynth's: a modulator's velocity source is velocity / 128
LEVEL_FLOOR = 1e-10  # a silent note's level counts as -200 dB


@dataclass(frozen=True)
class Curve:
    """A layer's loudness against velocity: the line level(v) = at_zero + slope * v (dB), and the level of the
    note the layer plays (dB), which the line is measured from."""
    at_zero: float
    slope: float
    note_level: float

    def gain_db(self, velocity: float) -> float:
        """How much louder than its note the layer plays at this velocity."""
        return self.at_zero + self.slope * velocity - self.note_level

    def headroom_db(self, layer: Layer) -> float:
        """The most the line raises the note over the layer's velocities (and at 0, where the modulator starts)."""
        return max(0.0, self.gain_db(0), self.gain_db(layer.high))


FLAT = Curve(0.0, 0.0, 0.0)


def level_db(data: np.ndarray) -> float:
    return 10 * math.log10(max(float(np.mean(np.square(data, dtype=np.float64))), LEVEL_FLOOR))


def layer_curve(step_levels: list[float], layer: Layer, steps: int) -> Curve:
    """The line through the levels the engine plays the layer's velocities at (each its step's note's)."""
    velocities = np.arange(layer.low, layer.high + 1, dtype=np.float64)
    levels = np.array([step_levels[quantize_velocity(int(v), steps)] for v in velocities])
    if len(velocities) < 2 or np.ptp(levels) == 0:
        return Curve(step_levels[layer.step], 0.0, step_levels[layer.step])
    slope, at_zero = np.polyfit(velocities, levels, 1)
    return Curve(float(at_zero), float(slope), step_levels[layer.step])


def modulator(curve: Curve) -> sf2.Modulator | None:
    """velocity -> initialAttenuation, linear: the line's slope (None for a flat one)."""
    amount = round(-curve.slope * VELOCITY_SCALE / MOD_DB_PER_CENTIBEL)
    if amount == 0:
        return None
    return sf2.Modulator(sf2.VELOCITY, sf2.INITIAL_ATTENUATION, int(np.clip(amount, -32768, 32767)))
