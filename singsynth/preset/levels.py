"""Level corrections: how many dB to raise (or lower) an instrument's notes so they play as loud as the notes it
learnt (train/calibration.py measures them). One figure per velocity the data holds, interpolated between, since
a model trained on a spectral loss squeezes an instrument's dynamics, plus one per octave of its range, since it
does not play all its registers equally under; a drum kit has figures per key, since each key is its own sound."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# Past this a correction would not restore a note's loudness but amplify a sound the model never learnt.
MAX_DB = 24.0

Curve = tuple[tuple[int, float], ...]  # (velocity, dB), velocities rising


@dataclass(frozen=True)
class Levels:
    curve: Curve = ()
    keys: tuple[tuple[int, Curve], ...] = ()  # (MIDI key, its curve): drum kits
    registers: Curve = ()  # (MIDI pitch, dB) added to the curve: a melodic instrument's octaves

    def __bool__(self) -> bool:
        return bool(self.curve or self.keys or self.registers)

    @functools.cached_property
    def _key_curves(self) -> dict[int, Curve]:
        return dict(self.keys)

    def db(self, pitch: int, velocity: float) -> float:
        key = self._key_curves.get(pitch)
        if key is not None:
            return _at(key, velocity)
        return _at(self.curve, velocity) + _at(self.registers, pitch)

    def to_dict(self) -> dict:
        """The instrument entries' "level_db" and "key_level_db" fields (none when there is no correction)."""
        out = {}
        if self.curve:
            out["level_db"] = _curve_dict(self.curve)
        if self.keys:
            out["key_level_db"] = {str(k): _curve_dict(c) for k, c in self.keys}
        if self.registers:
            out["register_level_db"] = _curve_dict(self.registers)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Levels":
        """From an instrument entry; ValueError or TypeError naming what is wrong."""
        keys = d.get("key_level_db", {})
        if not isinstance(keys, dict):
            raise TypeError("key_level_db is not an object")
        return cls(_curve(d.get("level_db", {}), "level_db"),
                   tuple(sorted((_midi(k, "key_level_db key"), _curve(c, f"key_level_db[{k}]")) for k, c in keys.items())),
                   _curve(d.get("register_level_db", {}), "register_level_db", "pitch"))


def note_gains(levels: list[Levels], weights: np.ndarray, pitch, velocity) -> np.ndarray:
    """[B] linear gains for notes of instrument weights [B, I]; a blend's gain is the blend of its
    instruments' gains."""
    gains = np.ones(len(weights), dtype=np.float64)
    if not any(levels):
        return gains
    for row, (w, p, v) in enumerate(zip(weights, pitch, velocity)):
        gains[row] = sum(float(w[i]) * 10 ** (levels[i].db(int(p), float(v)) / 20) for i in np.flatnonzero(w))
    return gains


def _at(curve: Curve, x: float) -> float:
    if not curve:
        return 0.0
    return float(np.interp(x, [p for p, _ in curve], [d for _, d in curve]))


def _curve_dict(curve: Curve) -> dict:
    return {str(v): d for v, d in curve}


def _midi(value, what: str) -> int:
    if not str(value).isdigit() or not 0 <= int(value) <= 127:
        raise ValueError(f"{what} {value!r} is not a MIDI number 0..127")
    return int(value)


def _curve(value, what: str, axis: str = "velocity") -> Curve:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not an object of {axis}: dB")
    points = []
    for at, db in value.items():
        if isinstance(db, bool) or not isinstance(db, (int, float)) or not abs(db) <= MAX_DB:
            raise ValueError(f"{what} at {axis} {at} is {db!r}; give dB from -{MAX_DB:g} to {MAX_DB:g}")
        points.append((_midi(at, f"{what} {axis}"), float(db)))
    return tuple(sorted(points))
