"""singsynth instruments: a preset's instruments with GM programs (0..127) and pitch ranges."""
from __future__ import annotations

import json

from . import add_preset_argument


def register(sub) -> None:
    p = sub.add_parser("instruments", help="list a preset's instruments, GM programs and pitch ranges")
    add_preset_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import gm
    from ..preset import load_preset
    preset = load_preset(args.preset, lazy=True)
    rows = []
    for inst in preset.instruments:
        gm_name = gm.DRUM_KIT_NAME if inst.drums else (gm.PROGRAMS[inst.gm_program]
                                                       if inst.gm_program is not None else None)
        rows.append({"index": inst.index, "name": inst.name, "id": inst.id, "gm_program": inst.gm_program,
                     "gm_name": gm_name, "drums": inst.drums, "pitch_range": list(inst.pitch_range)})
    if args.json:
        print(json.dumps({"preset": preset.name, "instruments": rows}, indent=1))
        return 0
    print(f"preset {preset.name}: {len(rows)} instruments")
    wheres = [("channel 10 (drums)" if row["drums"] else "no GM program" if row["gm_program"] is None
               else f"GM {row['gm_program']:3d}" + ("" if row["gm_name"] == row["name"] else f" {row['gm_name']}"))
              for row in rows]  # the GM name only where it differs from the instrument's
    width = max(map(len, wheres), default=0)
    for row, where in zip(rows, wheres):
        low, high = row["pitch_range"]
        print(f"  {row['name']:<28} {where:<{width}}  pitches {low}-{high}")
    return 0
