"""What a preset may tell about each instrument's playing beyond its notes: release time and vibrato LFO.

Optional fields of an instrument in preset.json, each from the source SoundFont (preset/soundfont.py adds them):
- "release_seconds": [[low key, high key, seconds], ...]: the source's releaseVolEnv (generator 38) over each
  key range, the time FluidSynth's envelope takes to fall 96 dB after note-off;
- "vibrato_hz", "vibrato_delay": the source's vibrato LFO rate (generator 24) and delay (generator 23, seconds).
A preset without them plays as before: the engine's release, SoundFont 2.01's default LFO.
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


def _ranges(value: Any) -> list[tuple[int, int, float]]:
    if not isinstance(value, list):
        raise ValueError("release_seconds is not a list of [low key, high key, seconds]")
    ranges = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(k, int) and not isinstance(k, bool)
                                                                  and 0 <= k <= 127 for k in item[:2])):
            raise ValueError(f"release_seconds entry {item!r} is not [low key, high key, seconds]")
        ranges.append((item[0], item[1], _seconds(item[2], "release", 0.001, 100.0)))
    return ranges


class InstrumentSounds:
    """Each instrument's release and vibrato LFO as the preset gives them, looked up by instrument index."""

    def __init__(self, preset: Preset):
        raw = {d.get("id"): d for d in preset.meta.get("instruments", []) if isinstance(d, dict)}
        self._release: dict[int, list[tuple[int, int, float]]] = {}
        self._lfo: dict[int, tuple[float | None, float | None]] = {}
        for inst in preset.instruments:
            d = raw.get(inst.id, {})
            try:
                if "release_seconds" in d:
                    self._release[inst.index] = _ranges(d["release_seconds"])
                hz = _seconds(d["vibrato_hz"], "vibrato_hz", 0.001, 100.0) if "vibrato_hz" in d else None
                delay = _seconds(d["vibrato_delay"], "vibrato_delay", 0.0, 20.0) if "vibrato_delay" in d else None
            except ValueError as exc:
                raise PresetError(f"{preset.path}: instrument {inst.id!r}: {exc}; fix preset.json or remove "
                                  "the field") from None
            self._lfo[inst.index] = (hz, delay)

    def release(self, instrument: int, key: int) -> float | None:
        """Seconds from note-off to -60 dB for this key, the source's envelope slope; None: not given."""
        for low, high, seconds in self._release.get(instrument, ()):
            if low <= key <= high:
                return seconds * 60.0 / RELEASE_FLOOR_DB
        return None

    def lfo(self, instrument: int) -> tuple[float | None, float | None]:
        """The vibrato LFO's (rate in Hz, delay in seconds); None where the preset does not give it."""
        return self._lfo.get(instrument, (None, None))
