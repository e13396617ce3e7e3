"""Add each instrument's release, vibrato LFO and effect sends, read from its source SoundFont, to a preset's
preset.json.

    python -m singsynth.preset.soundfont_fields PRESET SOUNDFONT [--dry-run]

An instrument whose "source" names the SoundFont's file (or names none) gets "release_seconds" per key and
velocity range (generator 38, clipped as FluidSynth clips it) and, where the
source sets them, "vibrato_hz" and "vibrato_delay" (generators 24 and 23) and "reverb_send" and "chorus_send"
(generators 16 and 15, averaged over its zones, as synth/effects adds them to CC91 and CC93); the drum kit is bank 128,
program 0; "source_keys" spans the keys its zones play. The fields are what preset/sound.py reads; preset.json
is rewritten whole or not at all.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path

from .sf2 import DEFAULTS, DELAY_VIB_LFO, FREQ_VIB_LFO, RELEASE_VOL_ENV, SoundFontError, Zone, read_zones, zone_sends
from .store import METADATA_FILE, PresetError, load_metadata, resolve_path, update_metadata

logger = logging.getLogger(__name__)

RELEASE_LIMITS = (-7200, 8000)  # timecents: FluidSynth's clip of releaseVolEnv (its lower end avoids clicks)
LFO_HZ_AT_0 = 8.176  # absolute cents 0
FIELDS = ("release_seconds", "vibrato_hz", "vibrato_delay", "source_keys", "reverb_send", "chorus_send")


def seconds(timecents: float) -> float:
    return 2.0 ** (timecents / 1200.0)


def release_ranges(zones: list[Zone]) -> list[list]:
    """[[low key, high key, low velocity, high velocity, seconds], ...]: each zone's release, clipped as
    FluidSynth clips it, zones of one velocity range and release merged over adjacent keys."""
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for z in zones:
        tc = min(max(z.values[RELEASE_VOL_ENV], RELEASE_LIMITS[0]), RELEASE_LIMITS[1])
        groups.setdefault((*z.velocities, round(seconds(tc), 4)), []).append(z.keys)
    out = []
    for (vlo, vhi, value), keys in groups.items():
        merged: list[list[int]] = []
        for lo, hi in sorted(keys):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        out += [[lo, hi, vlo, vhi, value] for lo, hi in merged]
    joined: list[list] = []  # then adjacent velocity ranges of one key range and release
    for entry in sorted(out, key=lambda e: (e[0], e[1], e[4], e[2])):
        last = joined[-1] if joined else None
        if last and last[:2] == entry[:2] and last[4] == entry[4] and entry[2] <= last[3] + 1:
            last[3] = max(last[3], entry[3])
        else:
            joined.append(entry)
    return sorted(joined, key=lambda e: (e[2], e[0]))


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
        keys = [min(z.keys[0] for z in zones), max(z.keys[1] for z in zones)]
        reverb, chorus = zone_sends(zones)
        sends = {k: round(v, 4) for k, v in (("reverb_send", reverb), ("chorus_send", chorus)) if v}
        found[inst["id"]] = {"release_seconds": release_ranges(zones), **lfo_fields(zones), "source_keys": keys,
                             **sends}
    return found


def add_fields(preset: str | Path, soundfont: Path, dry_run: bool = False) -> dict[str, dict]:
    """Write the fields into the preset's preset.json (atomically), replacing any earlier ones; returns them."""
    folder = resolve_path(preset)
    meta = load_metadata(folder)
    found = soundfont_fields(meta, soundfont)
    for inst in meta["instruments"]:
        for name in FIELDS:
            inst.pop(name, None)
        inst.update(found.get(inst.get("id"), {}))
    if not dry_run:
        update_metadata(folder, instruments=meta["instruments"])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m singsynth.preset.soundfont_fields", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", help="the preset: a shipped preset's name or a folder holding preset.json")
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
    done = "would be updated" if args.dry_run else "updated"
    print(f"{len(found)} instruments {done} in {resolve_path(args.preset) / METADATA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
