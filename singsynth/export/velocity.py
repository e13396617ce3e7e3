"""Velocity layers: the engine plays each of its 16 velocity steps with its own note, and the notes of one
instrument grow louder with velocity, by tens of dB from the softest step to the loudest and not evenly (the
default preset's notes: -70 dB at velocity 1, -29 dB at 26, -10 dB at 35, then a dip, then a steady climb to 0 dB
at 127). A layer plays one note for several steps; a modulator from velocity to attenuation gives it the loudness
of the step played, after a straight line (in dB against velocity) fitted to the instrument's notes at one key,
and the steps are split into layers where such lines fit them best.

Modulator amounts are 0.1 dB a centibel in FluidSynth, as the specification has it (only the initialAttenuation
generator gets the EMU8000's 0.4), and FluidSynth scales velocity by 1/128; both measured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..io import sf2
from ..synth.cache import quantize_velocity, step_velocity
from .layout import Layer

MOD_DB_PER_CENTIBEL = 0.1
VELOCITY_SCALE = 128  # FluidSynth's: a modulator's velocity source is velocity / 128
LEVEL_FLOOR = 1e-10  # a silent note's level counts as -200 dB
# Lines are fitted to the levels with those further under the loudest step raised to this: a velocity-1 note 70 dB
# down and one 40 dB down are both lost in any mix, and fitting the first would bend the line where it is heard.
FIT_RANGE_DB = 40.0


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


def _floored(step_levels: list[float]) -> list[float]:
    top = max(step_levels)
    return [max(level, top - FIT_RANGE_DB) for level in step_levels]


def _middle_step(first: int, last: int, steps: int) -> int:
    """The step in the middle of first..last, by velocity: the one a layer of those steps plays."""
    return quantize_velocity(round(step_velocity(first, steps) / 2 + step_velocity(last, steps) / 2), steps)


def _line(step_levels: list[float], first: int, last: int, steps: int) -> tuple[float, float]:
    """The line's slope through the levels the engine plays steps first..last at (each velocity its step's note's),
    held to pass through the middle step's note at its own velocity, so that the layer plays that note as it is;
    and the squared error left (least squares)."""
    middle = _middle_step(first, last, steps)
    v0, y0 = step_velocity(middle, steps), step_levels[middle]
    velocities = np.array([v for v in range(1, 128) if first <= quantize_velocity(v, steps) <= last], dtype=float)
    levels = np.array([step_levels[quantize_velocity(int(v), steps)] for v in velocities])
    dv, dy = velocities - v0, levels - y0
    slope = float(np.dot(dv, dy) / np.dot(dv, dv)) if np.dot(dv, dv) > 0 else 0.0
    return slope, float(np.sum((dy - slope * dv) ** 2))


def layer_curve(step_levels: list[float], layer: Layer, steps: int) -> Curve:
    """The layer's line (see _line)."""
    step_levels = _floored(step_levels)
    first, last = quantize_velocity(layer.low, steps), quantize_velocity(layer.high, steps)
    slope, _ = _line(step_levels, first, last, steps)
    level = step_levels[layer.step]
    return Curve(level - slope * step_velocity(layer.step, steps), slope, level)


def modulator(curve: Curve) -> sf2.Modulator | None:
    """velocity -> initialAttenuation, linear: the line's slope (None for a flat one)."""
    amount = round(-curve.slope * VELOCITY_SCALE / MOD_DB_PER_CENTIBEL)
    if amount == 0:
        return None
    return sf2.Modulator(sf2.VELOCITY, sf2.INITIAL_ATTENUATION, int(np.clip(amount, -32768, 32767)))


def fitted_layers(step_levels: list[float], count: int, steps: int) -> list[Layer]:
    """`count` layers of whole steps whose lines fit the levels best (least squares, split found by dynamic
    programming); each plays the note of its middle step."""
    count = min(count, steps)
    step_levels = _floored(step_levels)
    cost = {(a, b): _line(step_levels, a, b, steps)[1] for a in range(steps) for b in range(a, steps)}
    # best[k][j]: the least error splitting steps 0..j-1 into k layers, and where the last one starts
    best = [[(math.inf, 0)] * (steps + 1) for _ in range(count + 1)]
    best[0][0] = (0.0, 0)
    for k in range(1, count + 1):
        for j in range(k, steps + 1):
            best[k][j] = min((best[k - 1][i][0] + cost[(i, j - 1)], i) for i in range(k - 1, j))
    bounds, j = [], steps
    for k in range(count, 0, -1):
        i = best[k][j][1]
        bounds.append((i, j - 1))
        j = i
    layers = []
    for first, last in reversed(bounds):
        velocities = [v for v in range(1, 128) if first <= quantize_velocity(v, steps) <= last]
        layers.append(Layer(velocities[0], velocities[-1], _middle_step(first, last, steps)))
    return layers
