"""Measure a preset's level corrections again, without training it: for the instruments a data set holds, against
their training notes there (train/calibration.py), everything else in preset.json left as it is.

    python -m singsynth.train.recalibrate PRESET DATA

Use it when the calibration's rules change, or with a data set of a few instruments (`singsynth dataset soundfont
... --programs drums`) to calibrate just those. DATA must be at the preset's rate and name its instruments as
the preset does."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..preset import METADATA_FILE, PresetError, load_preset, resolve_path, update_metadata
from .calibration import calibration_notes, measure_levels
from .data import DataError
from .eval_notes import preset_data

LEVEL_FIELDS = ("level_db", "key_level_db", "register_level_db")


def recalibrate(preset_path: str | Path, data_root: str | Path) -> list[str]:
    """Write new level corrections into the preset's instruments that the data holds; returns their names."""
    folder = resolve_path(preset_path)
    preset = load_preset(folder)
    data = preset_data(preset, data_root)
    measured = {i.id: i for i in measure_levels(preset, data, calibration_notes(data))}
    wanted = {i.id for i in data.instruments}
    raw = json.loads((Path(folder) / METADATA_FILE).read_text())["instruments"]
    names = []
    for entry in raw:
        if entry.get("id") not in wanted:
            continue
        levels = measured[entry["id"]].levels.to_dict()
        for field in LEVEL_FIELDS:  # a field already there keeps its place in the entry
            if field in levels:
                entry[field] = levels[field]
            else:
                entry.pop(field, None)
        names.append(entry.get("name", entry["id"]))
    update_metadata(folder, instruments=raw)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m singsynth.train.recalibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", help="preset name in presets/ or a preset folder")
    parser.add_argument("data", help="NSynth-format folder of (some of) the preset's instruments")
    args = parser.parse_args(argv)
    try:
        names = recalibrate(args.preset, args.data)
    except (PresetError, DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.preset}: level corrections measured again for {len(names)} instrument(s): "
          f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
