"""Turn a finished training run into a preset that describes itself."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..gm import channel_gains
from ..preset import load_preset, save_preset, update_metadata
from .calibration import calibration_notes, measure_levels
from .data_order import POSITION_KEY

# FluidSynth's own default synth.gain: what `fluidsynth file.mid` plays at, the level a listener expects.
FLUIDSYNTH_GAIN = 0.2


def playback_gain(data_root: Path) -> float:
    """The gain that makes the engine, on a channel at its default controllers (volume 100, centred pan, as
    the data's notes were rendered), play a note as loud as FluidSynth at its default gain plays it.
    Data rendered by `singsynth dataset soundfont` records its synth gain in render.json; other data (NSynth)
    has no synth level to match and plays as it is."""
    try:
        settings = json.loads((Path(data_root) / "render.json").read_text())["settings"]
        synth_gain = float(settings["synth_gain"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1.0
    if not synth_gain > 0:
        return 1.0
    mono_level = float(np.mean(np.array(channel_gains(), dtype=np.float32)))  # a centred channel's mono mix
    return FLUIDSYNTH_GAIN / synth_gain / mono_level


def plot_curves(history: list[dict], path: Path) -> Path | None:
    """Training and validation loss against wall time, one panel per stage (PNG); None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    stages = [s for s in ("autoencoder", "sequence", "end_to_end") if any(r["stage"] == s for r in history)]
    if not stages:
        return None
    fig = Figure(figsize=(4 * len(stages), 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, stage in zip(fig.subplots(1, len(stages), squeeze=False)[0], stages):
        rows = [r for r in history if r["stage"] == stage]
        hours = [r["seconds"] / 3600 for r in rows]
        for key in ("train_loss", "valid_loss"):
            points = [(h, r[key]) for h, r in zip(hours, rows) if r.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker=".", label=key.replace("_loss", ""))
        ax.set_title(stage.replace("_", " "), fontsize=9)
        ax.set_xlabel("hours")
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=80)
    return path


def write_preset(out: Path, trainer, data, history: list[dict], name: str, license: str = "") -> Path:
    hours = trainer.progress["seconds"] / 3600
    best = trainer.load_best()  # the preset gets the best end-to-end epoch, not merely the last
    sources = sorted({i.source for i in data.instruments} - {""})
    meta = {
        "name": name,
        "description": f"SING ({trainer.args.config}) trained on {len(data.instruments)} instruments",
        "training": {"recipe": trainer.recipe(), "hardware": trainer.hardware(), "hours": round(hours, 3),
                     "history": history, "loudness_gain": trainer.gain, "best": best,
                     "valid_loss": trainer.valid_loss_name("end_to_end"),
                     POSITION_KEY: trainer.progress.get(POSITION_KEY)},
        "data": {"folder": str(Path(data.root).resolve().name), "notes": len(data.notes),
                 "train_notes": len(data.split("train")), "sources": sources},
        "held_out": {"valid": [list(p) for p in data.pairs("valid")], "test": [list(p) for p in data.pairs("test")]},
        "license": license or "see the licence of the source data",
        "paper": "Défossez et al., SING: Symbol-to-Instrument Neural Generator, NeurIPS 2018, arXiv:1810.09785",
        "playback_gain": playback_gain(data.root),
    }
    # The model learnt notes scaled by the loudness gain: dividing restores the data's own levels.
    folder = save_preset(out, trainer.sing, data.instruments, meta, output_gain=1.0 / trainer.gain)
    calibrate_levels(folder, data)
    plot_curves(history, Path(folder) / "loss_curves.png")
    return folder


def calibrate_levels(folder: Path, data) -> None:
    """Measure the written preset (its fp16 weights, as it will play) against its training notes and record
    each instrument's level correction."""
    instruments = measure_levels(load_preset(folder), data, calibration_notes(data))
    update_metadata(folder, instruments=[i.to_dict() for i in instruments])
