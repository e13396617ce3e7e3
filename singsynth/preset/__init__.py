"""Presets: safetensors weights + JSON metadata, found by name in presets/ or by path. Never pickle.

The package's face; the work is in preset.py (a preset in memory), store.py (on disk), files.py (its files and
weights), checks.py (what a file must be), levels.py (loudness)."""
from __future__ import annotations

from .checks import PresetError
from .files import FORMAT, METADATA_FILE, VERSION, WEIGHTS_FILE, file_sha256, read_model
from .preset import Instrument, Preset
from .store import (
    DEFAULT_PRESET,
    PRESETS_DIR,
    SAMPLE_RATES,
    list_presets,
    load_metadata,
    load_preset,
    resolve_path,
    save_preset,
    update_metadata,
)

__all__ = ["DEFAULT_PRESET", "FORMAT", "METADATA_FILE", "PRESETS_DIR", "SAMPLE_RATES", "VERSION", "WEIGHTS_FILE",
           "Instrument", "Preset", "PresetError", "file_sha256", "list_presets", "load_metadata", "load_preset",
           "read_model", "resolve_path", "save_preset", "update_metadata"]
