"""Where an exported instrument's zones lie: a root key every few keys, and the keys outside the instrument's range
played by the nearest zone at their own pitch, as the engine plays them from the nearest learnt note. (Velocity
layers: velocity.py.)"""
from __future__ import annotations

from dataclasses import dataclass

@dataclass(frozen=True)
class Layer:
    low: int  # MIDI velocities low..high play this layer
    high: int
    step: int  # the velocity step (synth/cache.py) whose note the layer plays


@dataclass(frozen=True)
class KeyRun:
    """Keys low..high played by the sample of `root` (a key of the instrument's range), each at its own pitch."""
    low: int
    high: int
    root: int


def root_keys(low: int, high: int, spacing: int) -> list[int]:
    """The zones' root keys over low..high, one for every `spacing` keys, each in the middle of the keys it plays
    so that no key is played more than spacing // 2 semitones from its root."""
    return [start + (min(start + spacing - 1, high) - start) // 2 for start in range(low, high + 1, spacing)]


def root_of(key: int, low: int, spacing: int, roots: list[int]) -> int:
    """The root that plays `key` (within the range)."""
    return roots[(key - low) // spacing]


def key_runs(low: int, high: int, spacing: int) -> list[KeyRun]:
    """Every MIDI key 0..127 in runs sharing a root: the range's keys play their nearest root, keys outside the
    root of the range's nearest end, at their own pitch (the engine's rule, synth/planner.py and synth/legato.py)."""
    roots = root_keys(low, high, spacing)
    runs: list[KeyRun] = []
    for key in range(128):
        root = root_of(min(max(key, low), high), low, spacing, roots)
        last = runs[-1] if runs else None
        if last is not None and last.root == root and last.high == key - 1:
            runs[-1] = KeyRun(last.low, key, root)
        else:
            runs.append(KeyRun(key, key, root))
    return runs
