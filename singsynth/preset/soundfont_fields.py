"""Add each instrument's release and vibrato LFO, read from its source SoundFont, to a preset's preset.json.

    python -m singsynth.preset.soundfont_fields PRESET_FOLDER SOUNDFONT [--dry-run]

An instrument whose "source" names the SoundFont's file (or names none) gets "release_seconds" per key range
(generator 38 at velocity 100, the longest of its layers, clipped as FluidSynth clips it) and, where the
source sets them, "vibrato_hz" and "vibrato_delay" (generators 24 and 23); the drum kit is bank 128,
program 0. The fields are what preset/sound.py reads; preset.json is rewritten whole or not at all.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

from ..io.sf2 import DEFAULTS, DELAY_VIB_LFO, FREQ_VIB_LFO, RELEASE_VOL_ENV, SoundFontError, Zone, read_zones
from . import METADATA_FILE, PresetError, _load_metadata

logger = logging.getLogger(__name__)

RELEASE_LIMITS = (-7200, 8000)  # timecents: FluidSynth's clip of releaseVolEnv (its lower end avoids clicks)
VELOCITY = 100  # the layers whose release a key gets: those a firm touch plays
LFO_HZ_AT_0 = 8.176  # absolute cents 0


def seconds(timecents: float) -> float:
    return 2.0 ** (timecents / 1200.0)


def release_ranges(zones: list[Zone]) -> list[list]:
    """[[low key, high key, seconds], ...] over the keys the zones play at VELOCITY (else at any velocity)."""
    heard = [z for z in zones if z.velocities[0] <= VELOCITY <= z.velocities[1]] or zones
    per_key: dict[int, float] = {}
    for z in heard:
        tc = min(max(z.values[RELEASE_VOL_ENV], RELEASE_LIMITS[0]), RELEASE_LIMITS[1])
        for key in range(z.keys[0], z.keys[1] + 1):
            per_key[key] = max(per_key.get(key, -1e9), tc)
    ranges: list[list] = []
    for key in sorted(per_key):
        value = round(seconds(per_key[key]), 4)
        if ranges and ranges[-1][1] == key - 1 and ranges[-1][2] == value:
            ranges[-1][1] = key
        else:
            ranges.append([key, key, value])
    return ranges


def lfo_fields(zones: list[Zone]) -> dict:
    """"vibrato_hz" and "vibrato_delay" where the zones set them away from the defaults (their median)."""
    out = {}
    rates = [z.values[FREQ_VIB_LFO] for z in zones]
    delays = [z.values[DELAY_VIB_LFO] for z in zones]
    if rates and any(r != DEFAULTS[FREQ_VIB_LFO] for r in rates):
        out["vibrato_hz"] = round(LFO_HZ_AT_0 * seconds(statistics.median(rates)), 4)
    if delays and any(d != DEFAULTS[DELAY_VIB_LFO] for d in delays):
        out["vibrato_delay"] = round(seconds(max(statistics.median(delays), -12000)), 4)
    return out


def soundfont_fields(meta: dict, soundfont: Path) -> dict[str, dict]:
    """Instrument id -> the fields the SoundFont gives it, for the preset's instruments it is the source of."""
    presets = read_zones(soundfont)
    found = {}
    for inst in meta.get("instruments", []):
        if inst.get("source") not in (None, "", soundfont.name):
            continue
        where = (128, 0) if inst.get("drums") else (0, inst.get("gm_program"))
        zones = presets.get(where)
        if not zones:
            logger.warning("%s has no preset %d:%s for %s", soundfont.name, where[0], where[1], inst.get("id"))
            continue
        found[inst["id"]] = {"release_seconds": release_ranges(zones), **lfo_fields(zones)}
    return found


def add_fields(folder: Path, soundfont: Path, dry_run: bool = False) -> dict[str, dict]:
    """Write the fields into folder/preset.json (atomically), replacing any earlier ones; returns them."""
    meta = _load_metadata(folder)
    found = soundfont_fields(meta, soundfont)
    for inst in meta["instruments"]:
        for name in ("release_seconds", "vibrato_hz", "vibrato_delay"):
            inst.pop(name, None)
        inst.update(found.get(inst.get("id"), {}))
    if not dry_run:
        path = folder / METADATA_FILE
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".preset-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(meta, f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m singsynth.preset.soundfont_fields", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", type=Path, help="the preset's folder (holding preset.json)")
    parser.add_argument("soundfont", type=Path, help="the .sf2 or .sf3 its instruments came from")
    parser.add_argument("--dry-run", action="store_true", help="print the fields, write nothing")
    args = parser.parse_args(argv)
    try:
        found = add_fields(args.preset, args.soundfont, args.dry_run)
    except (PresetError, SoundFontError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for inst_id, fields in found.items():
        print(inst_id, json.dumps(fields))
    print(f"{len(found)} instruments {'would be updated' if args.dry_run else 'updated'} in {args.preset / METADATA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
