"""Where an exported instrument's zones lie: a root key every few keys, and the keys outside the instrument's range
folded by octaves, as the engine folds them. (Velocity layers: velocity.py.)"""
from __future__ import annotations

from dataclasses import dataclass

from ..synth.instruments import fold_into_range


@dataclass(frozen=True)
class Layer:
    low: int  # MIDI velocities low..high play this layer
    high: int
    step: int  # the velocity step (synth/cache.py) whose note the layer plays


@dataclass(frozen=True)
class KeyRun:
    """Keys low..high played by the sample of `root` (a key of the instrument's range), `shift` semitones off:
    a key folded by octaves into the range sounds `shift` semitones from where it is played (a multiple of 12)."""
    low: int
    high: int
    root: int
    shift: int = 0


def root_keys(low: int, high: int, spacing: int) -> list[int]:
    """The zones' root keys over low..high, one for every `spacing` keys, each in the middle of the keys it plays
    so that no key is played more than spacing // 2 semitones from its root."""
    return [start + (min(start + spacing - 1, high) - start) // 2 for start in range(low, high + 1, spacing)]


def root_of(key: int, low: int, spacing: int, roots: list[int]) -> int:
    """The root that plays `key` (within the range)."""
    return roots[(key - low) // spacing]


def key_runs(low: int, high: int, spacing: int) -> list[KeyRun]:
    """Every MIDI key 0..127 in runs sharing a root and a shift: the range's keys play their nearest root, keys
    outside play the root of the key they fold into (the engine's octave rule, synth/instruments.py)."""
    roots = root_keys(low, high, spacing)
    runs: list[KeyRun] = []
    for key in range(128):
        folded = fold_into_range(key, low, high)
        root, shift = root_of(folded, low, spacing, roots), key - folded
        last = runs[-1] if runs else None
        if last is not None and last.root == root and last.shift == shift and last.high == key - 1:
            runs[-1] = KeyRun(last.low, key, root, shift)
        else:
            runs.append(KeyRun(key, key, root, shift))
    return runs
