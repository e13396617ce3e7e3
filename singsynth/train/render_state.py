"""A rendered data set's folder: render.json (its settings and instruments), its finished notes, examples.json."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .. import gm
from ..model.config import SAMPLE_RATE
from ..preset import Instrument
from .data import AUDIO_DIR, DataError, note_samples
from .fluid_render import HOLD_SECONDS, RELEASE_SECONDS, RENDER_RATE, SILENCE_DBFS, SYNTH_GAIN

STATE_FILE = "render.json"  # instruments and settings, so examples.json can be rebuilt from the files
SILENT_DIR = ".silent"  # one empty marker per note found silent, so it is not rendered again
TMP_SUFFIX = ".tmp"
NOTE_FILE = re.compile(r"^(?P<id>[a-z0-9_]+)-(?P<pitch>\d{3})-(?P<velocity>\d{3})\.wav$")


def render_settings(rate: int) -> dict:
    """What a data set folder was rendered with; a folder is resumed only with the same settings."""
    return {"render_rate": RENDER_RATE, "hold_seconds": HOLD_SECONDS, "release_seconds": RELEASE_SECONDS,
            "synth_gain": SYNTH_GAIN, "silence_dbfs": SILENCE_DBFS, "sample_rate": rate,
            "reverb": False, "chorus": False, "isolation": "fresh synth per note"}


# render.json keeps each instrument as these fields
STATE_FIELDS = ("id", "name", "gm_program", "drums", "soundfont", "family")


def _state_entry(inst: Instrument) -> dict:
    return {"id": inst.id, "name": inst.name, "gm_program": inst.gm_program, "drums": inst.drums,
            "soundfont": inst.source, "family": inst.family}


def _from_state(index: int, entry: dict) -> Instrument:
    if set(entry) != set(STATE_FIELDS):
        raise KeyError(f"instrument fields {sorted(entry)}")
    return Instrument(index, entry["name"], entry["id"], entry["gm_program"], bool(entry["drums"]),
                      source=entry["soundfont"], family=entry["family"])


def note_name(instrument_id: str, pitch: int, velocity: int) -> str:
    return f"{instrument_id}-{pitch:03d}-{velocity:03d}"


def write_json(path: Path, value) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_state(out: Path, rate: int | None = None) -> dict:
    """render.json of a folder; `rate`: the rate asked for now (None: whatever the folder holds)."""
    path = out / STATE_FILE
    if not path.exists():
        return {"settings": render_settings(rate or SAMPLE_RATE), "instruments": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        state["instruments"] = {k: _from_state(n, v) for n, (k, v) in enumerate(state["instruments"].items())}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DataError(f"{path}: damaged render state ({exc}); render into a new folder") from None
    settings = state.get("settings")
    if not isinstance(settings, dict) or settings != render_settings(rate or settings.get("sample_rate", 0)):
        raise DataError(f"{path}: this folder was rendered with other settings ({state.get('settings')}); "
                        "render into a new folder")
    return state


def save_state(out: Path, state: dict) -> None:
    write_json(out / STATE_FILE, {"settings": state["settings"],
                                   "instruments": {k: _state_entry(v) for k, v in sorted(state["instruments"].items())}})


def well_formed(wav: Path, rate: int) -> bool:
    # Renamed into place only when complete, so the size alone tells a finished note.
    try:
        return wav.stat().st_size == 44 + 2 * note_samples(rate)
    except OSError:
        return False


def build_examples(out: Path) -> dict:
    """examples.json from the wavs on disk and the instruments in render.json (after a crash too)."""
    state = load_state(out)
    instruments: dict[str, Instrument] = state["instruments"]
    rate = int(state["settings"]["sample_rate"])
    found = []
    for entry in os.scandir(out / AUDIO_DIR):
        match = NOTE_FILE.match(entry.name)
        if match and match["id"] in instruments and well_formed(Path(entry.path), rate):
            found.append((match["id"], int(match["pitch"]), int(match["velocity"])))
    found.sort()
    index = {i: n for n, i in enumerate(sorted({f[0] for f in found}))}
    examples = {}
    for n, (inst_id, pitch, velocity) in enumerate(found):
        inst = instruments[inst_id]
        name = note_name(inst_id, pitch, velocity)
        examples[name] = {
            "note": n, "note_str": name, "instrument": index[inst_id], "instrument_str": inst_id,
            "pitch": pitch, "velocity": velocity, "sample_rate": rate,
            # GM family index 0..15, 16 for drums (NSynth's own family codes do not apply)
            "instrument_family": 16 if inst.drums else gm.family(inst.gm_program),
            "instrument_family_str": inst.family, "instrument_source": 2, "instrument_source_str": "synthetic",
            "qualities": [0] * 10, "qualities_str": [],
            "instrument_name": inst.name, "gm_program": inst.gm_program, "drums": inst.drums,
            "soundfont": inst.source}
    return examples
