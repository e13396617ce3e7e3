"""Turn a finished training run into a preset that describes itself."""
from __future__ import annotations

from pathlib import Path

from .preset import Instrument, save_preset


def instruments_of(data) -> list[Instrument]:
    return [Instrument(index=i, name=d["name"], id=d["id"], gm_program=d.get("gm_program"),
                       drums=bool(d.get("drums")), pitch_range=tuple(d["pitch_range"]),
                       source=d.get("soundfont") or d.get("source", ""))
            for i, d in enumerate(data.instruments)]


def write_preset(out: Path, trainer, data, history: list[dict], name: str, license: str = "") -> Path:
    hours = trainer.progress["seconds"] / 3600
    sources = sorted({d.get("soundfont") or d.get("source", "") for d in data.instruments} - {""})
    meta = {
        "name": name,
        "description": f"SING ({trainer.args.config}) trained on {len(data.instruments)} instruments",
        "training": {"recipe": trainer.recipe(), "hardware": trainer.hardware(), "hours": round(hours, 3),
                     "history": history, "loudness_gain": trainer.gain},
        "data": {"folder": str(Path(data.root).resolve().name), "notes": len(data.notes),
                 "train_notes": len(data.split("train")), "sources": sources},
        "held_out": {"valid": [list(p) for p in data.pairs("valid")], "test": [list(p) for p in data.pairs("test")]},
        "license": license or "see the licence of the source data",
        "paper": "Défossez et al., SING: Symbol-to-Instrument Neural Generator, NeurIPS 2018, arXiv:1810.09785",
    }
    # The model learnt notes scaled by the loudness gain: dividing restores the data's own levels.
    return save_preset(out, trainer.sing, instruments_of(data), meta, output_gain=1.0 / trainer.gain)
