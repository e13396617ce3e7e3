"""Velocity layers: the engine plays each of its 16 velocity steps with its own note, and the notes of one
instrument grow louder with velocity, by tens of dB from the softest step to the loudest and not evenly (the
default preset's notes: -70 dB at velocity 1, -29 dB at 26, -10 dB at 35, then a dip, then a steady climb to 0 dB
at 127). A layer plays one note for several steps, and two modulators from velocity to attenuation give it the
loudness of the step played: a straight line in dB, and the square law (the players' own velocity curve, steep at
low velocities and flat at high ones) in some measure, both fitted to the instrument's notes at one key; the steps
are split into layers where such curves fit them best.

Measured in FluidSynth 2.3: modulator amounts are 0.1 dB a centibel, as the specification has it (only the
initialAttenuation generator gets the EMU8000's 0.04), a linear velocity source is velocity / 128, and the concave
one is the square law, 40 log10(127 / velocity) dB for 960 centibels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..io import sf2
from ..synth.cache import quantize_velocity, step_velocity
from .layout import Layer

MOD_DB_PER_CENTIBEL = 0.1
VELOCITY_SCALE = 128  # FluidSynth's: a modulator's linear velocity source is velocity / 128
SQUARE_LAW_CENTIBELS = 960  # the concave source's full amount: the square law
MAX_SQUARE_LAW_DB = 96.0  # where the concave source stops (velocity 0)
MAX_SQUARE = 2.0  # at most twice the square law: a steeper fit is following noise
LEVEL_FLOOR = 1e-10  # a silent note's level counts as -200 dB
# Curves are fitted to the levels with those further under the loudest step raised to this: a velocity-1 note 70 dB
# down and one 40 dB down are both lost in any mix, and fitting the first would bend the curve where it is heard.
FIT_RANGE_DB = 40.0


def square_law_db(velocity: float) -> float:
    """The concave velocity source as attenuation in dB at its full amount (960 centibels)."""
    return MAX_SQUARE_LAW_DB if velocity < 1 else min(40 * math.log10(127 / velocity), MAX_SQUARE_LAW_DB)


@dataclass(frozen=True)
class Curve:
    """A layer's loudness against velocity: its modulators attenuate by -slope * v + square * square_law_db(v)
    (dB), measured from its note, played at `velocity` as it is."""
    slope: float  # dB a velocity step
    square: float  # the share of the square law
    velocity: float  # the velocity of the layer's note

    def attenuation_db(self, velocity: float) -> float:
        """What the modulators add at this velocity."""
        return -self.slope * velocity + self.square * square_law_db(velocity)

    def gain_db(self, velocity: float) -> float:
        """How much louder than its note the layer plays at this velocity."""
        return self.attenuation_db(self.velocity) - self.attenuation_db(velocity)


def level_db(data: np.ndarray) -> float:
    return 10 * math.log10(max(float(np.mean(np.square(data, dtype=np.float64))), LEVEL_FLOOR))


def _floored(step_levels: list[float]) -> list[float]:
    top = max(step_levels)
    return [max(level, top - FIT_RANGE_DB) for level in step_levels]


def _middle_step(first: int, last: int, steps: int) -> int:
    """The step in the middle of first..last, by velocity: the one a layer of those steps plays."""
    return quantize_velocity(round(step_velocity(first, steps) / 2 + step_velocity(last, steps) / 2), steps)


def _fit(step_levels: list[float], first: int, last: int, steps: int) -> tuple[Curve, float]:
    """The curve through the levels the engine plays steps first..last at (each velocity its step's note's), held
    to pass through the middle step's note at its own velocity, so that the layer plays that note as it is; and the
    squared error left (least squares)."""
    middle = _middle_step(first, last, steps)
    v0, y0 = step_velocity(middle, steps), step_levels[middle]
    velocities = np.array([v for v in range(1, 128) if first <= quantize_velocity(v, steps) <= last], dtype=float)
    dy = np.array([step_levels[quantize_velocity(int(v), steps)] for v in velocities]) - y0
    linear = velocities - v0
    square = np.array([square_law_db(v0) - square_law_db(v) for v in velocities])
    best = (Curve(0.0, 0.0, v0), float(np.sum(dy ** 2)))
    for columns in ([linear], [linear, square]):  # the square law only where it fits better, within bounds
        a = np.stack(columns, axis=1)
        if np.linalg.matrix_rank(a) < len(columns):
            continue
        coef = np.linalg.lstsq(a, dy, rcond=None)[0]
        if len(coef) == 2 and not 0 <= coef[1] <= MAX_SQUARE:
            continue
        error = float(np.sum((dy - a @ coef) ** 2))
        if error < best[1]:
            best = (Curve(float(coef[0]), float(coef[1]) if len(coef) == 2 else 0.0, v0), error)
    return best


def layer_curve(step_levels: list[float], layer: Layer, steps: int) -> Curve:
    """The layer's curve (see _fit)."""
    first, last = quantize_velocity(layer.low, steps), quantize_velocity(layer.high, steps)
    return _fit(_floored(step_levels), first, last, steps)[0]


def modulators(curve: Curve) -> list[sf2.Modulator]:
    """velocity -> initialAttenuation: linear for the slope, concave for the square law. The concave one has the
    sources of the players' default velocity curve, so it replaces it (amount 0: switched off)."""
    linear = round(-curve.slope * VELOCITY_SCALE / MOD_DB_PER_CENTIBEL)
    source, destination, amount_source = sf2.DEFAULT_VELOCITY_TO_ATTENUATION
    mods = [sf2.Modulator(source, destination, round(curve.square * SQUARE_LAW_CENTIBELS), amount_source)]
    if linear:
        mods.append(sf2.Modulator(sf2.VELOCITY, sf2.INITIAL_ATTENUATION, int(np.clip(linear, -32768, 32767))))
    return mods


def fitted_layers(step_levels: list[float], count: int, steps: int) -> list[Layer]:
    """`count` layers of whole steps whose curves fit the levels best (least squares, the split found by dynamic
    programming); each plays the note of its middle step."""
    count = min(count, steps)
    step_levels = _floored(step_levels)
    cost = {(a, b): _fit(step_levels, a, b, steps)[1] for a in range(steps) for b in range(a, steps)}
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
