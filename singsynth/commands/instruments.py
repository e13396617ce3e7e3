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
    preset = load_preset(args.preset)
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
    for row in rows:
        where = "channel 10 (drums)" if row["drums"] else (
            f"GM {row['gm_program']:3d} {row['gm_name']}" if row["gm_program"] is not None else "no GM program")
        low, high = row["pitch_range"]
        print(f"  {row['name']:<28} {where:<36} pitches {low}-{high}")
    return 0
