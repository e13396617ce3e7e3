"""What a preset may tell about each instrument's playing beyond its notes: release time and vibrato LFO.

Optional fields of an instrument in preset.json, each from the source SoundFont (preset/soundfont.py adds them):
- "release_seconds": [[low key, high key, low velocity, high velocity, seconds], ...] (or [low key, high key,
  seconds] for every velocity): the source's releaseVolEnv (generator 38) over each key and velocity range,
  the time FluidSynth's envelope takes to fall 96 dB after note-off; where ranges overlap (layers), the
  longest;
- "vibrato_hz", "vibrato_delay": the source's vibrato LFO rate (generator 24) and delay (generator 23, seconds);
- "source_keys": [low key, high key]: the keys the source plays; a melodic key outside them is silent, as there.
A preset without them plays as before: the engine's release, SoundFont 2.01's default LFO, every key.
"""
from __future__ import annotations

import math
from typing import Any

from . import Preset, PresetError

RELEASE_FLOOR_DB = 96.0  # FluidSynth's release falls this far over releaseVolEnv's time


def _seconds(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and
                                                                            low <= value <= high):
        raise ValueError(f"{what} {value!r} is not a number of {low:g}..{high:g}")
    return float(value)


def _ranges(value: Any) -> list[tuple[int, int, int, int, float]]:
    """(low key, high key, low velocity, high velocity, seconds) for each entry."""
    if not isinstance(value, list):
        raise ValueError("release_seconds is not a list of [low key, high key, (low velocity, high velocity,) "
                         "seconds]")
    ranges = []
    for item in value:
        if not (isinstance(item, list) and len(item) in (3, 5) and all(
                isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= 127 for k in item[:-1])):
            raise ValueError(f"release_seconds entry {item!r} is not [low key, high key, (low velocity, "
                             "high velocity,) seconds]")
        keys, velocities = item[:2], (item[2:4] if len(item) == 5 else [0, 127])
        ranges.append((*keys, *velocities, _seconds(item[-1], "release", 0.001, 100.0)))
    return ranges


def _keys(value: Any) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= 127 for k in value) and value[0] <= value[1]):
        raise ValueError(f"source_keys {value!r} is not [low key, high key] (0..127, low first)")
    return value[0], value[1]


class InstrumentSounds:
    """Each instrument's release and vibrato LFO as the preset gives them, looked up by instrument index."""

    def __init__(self, preset: Preset):
        raw = {d.get("id"): d for d in preset.meta.get("instruments", []) if isinstance(d, dict)}
        self._release: dict[int, list[tuple[int, int, int, int, float]]] = {}
        self._lfo: dict[int, tuple[float | None, float | None]] = {}
        self._keys: dict[int, tuple[int, int]] = {}
        for inst in preset.instruments:
            d = raw.get(inst.id, {})
            try:
                if "release_seconds" in d:
                    self._release[inst.index] = _ranges(d["release_seconds"])
                hz = _seconds(d["vibrato_hz"], "vibrato_hz", 0.001, 100.0) if "vibrato_hz" in d else None
                delay = _seconds(d["vibrato_delay"], "vibrato_delay", 0.0, 20.0) if "vibrato_delay" in d else None
                if "source_keys" in d:
                    self._keys[inst.index] = _keys(d["source_keys"])
            except ValueError as exc:
                raise PresetError(f"{preset.path}: instrument {inst.id!r}: {exc}; fix preset.json or remove "
                                  "the field") from None
            self._lfo[inst.index] = (hz, delay)

    def release(self, instrument: int, key: int, velocity: int) -> float | None:
        """Seconds from note-off to -60 dB for this key and velocity, at the source's envelope slope; None:
        not given."""
        found = [s for k0, k1, v0, v1, s in self._release.get(instrument, ())
                 if k0 <= key <= k1 and v0 <= velocity <= v1]
        return max(found) * 60.0 / RELEASE_FLOOR_DB if found else None

    def plays(self, instrument: int, key: int) -> bool:
        """Whether the instrument's source plays this key (True where the preset does not say)."""
        low, high = self._keys.get(instrument, (0, 127))
        return low <= key <= high

    def lfo(self, instrument: int) -> tuple[float | None, float | None]:
        """The vibrato LFO's (rate in Hz, delay in seconds); None where the preset does not give it."""
        return self._lfo.get(instrument, (None, None))
