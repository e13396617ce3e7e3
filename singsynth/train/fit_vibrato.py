"""Fit a preset's vibrato head (model/vibrato.py) to the source notes, without training anything else: each
training note's depth and rate are measured once (model/pitch_loss.py), and the small head alone is fitted to them.

    python -m singsynth.train.fit_vibrato PRESET DATA [--steps 3000]

The head depends only on a note's instrument and key, so a few thousand steps over every training note take a
minute, where the whole model's training would need thousands of its own steps to move it that far. Training goes
on teaching it with the same loss (train/vibrato_loss.py). DATA must be at the preset's rate and name its instruments as
the preset does; the notes the preset holds out stay out. Only the head's tensors in the weights file change."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..model.pitch_loss import vibrato_error, vibrato_targets
from ..model.vibrato import Vibrato
from ..preset import PresetError, load_preset, resolve_path, update_metadata
from ..preset.files import file_sha256
from .data import DataError, NSynthData
from .eval_notes import preset_data

HEAD = "decoder.warp."
BATCH = 64  # notes measured at once: 4 s at 48 kHz each


@dataclass
class Targets:
    """Per training note: its instrument index in the preset, key, measured Vibrato, and whether it was tracked
    well enough to tell."""
    instrument: torch.Tensor
    pitch: torch.Tensor
    vibrato: Vibrato
    enough: torch.Tensor


def measure(preset, data: NSynthData, indices: list[int]) -> Targets:
    """The depth, rate and phase of every note's own vibrato, in the preset's framing, from its tuned f0."""
    index_of = {inst.id: inst.index for inst in preset.instruments}
    model, config = preset.model, preset.model.config
    columns: dict[str, list[torch.Tensor]] = {"instrument": [], "pitch": [], "depth": [], "rate": [], "phase": [],
                                              "enough": []}
    audio = data.load_audio(indices)
    for start in range(0, len(indices), BATCH):
        chosen = indices[start:start + BATCH]
        notes = [data.notes[i] for i in chosen]
        instrument = torch.tensor([index_of[n.instrument_id] for n in notes])
        pitch = torch.tensor([n.pitch for n in notes])
        rows = np.arange(start, start + len(chosen))  # the notes in memory or still in their files alike
        wav = torch.from_numpy(np.asarray(audio[rows], dtype=np.float32) / 32768.0)
        with torch.no_grad():
            f0 = model.decoder.partial_frequencies(model.instrument_weights(instrument), pitch)[:, 0]
            vibrato, enough = vibrato_targets(wav, f0, config)
        for key, value in zip(columns, (instrument, pitch, *vibrato, enough)):
            columns[key].append(value)
    joined = {key: torch.cat(value) for key, value in columns.items()}
    return Targets(joined["instrument"], joined["pitch"],
                   Vibrato(joined["depth"], joined["rate"], joined["phase"]), joined["enough"])


def fit(head: torch.nn.Module, targets: Targets, n_instruments: int, steps: int, lr: float) -> float:
    """Fit the head to the targets (full batch, Adam); returns the final loss (model/pitch_loss.py's
    vibrato_error, as training counts it)."""
    weights = torch.nn.functional.one_hot(targets.instrument, n_instruments).float()
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    head.train()
    loss = torch.zeros(())
    for _ in range(steps):
        loss = vibrato_error(head(weights, targets.pitch), targets.vibrato, targets.enough)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    head.eval()
    return float(loss.detach())


def write_head(folder: Path, weights_path: Path, head_state: dict[str, torch.Tensor]) -> None:
    """Replace the head's tensors in the weights file (each in the dtype it had), atomically, and its checksum."""
    from safetensors.torch import load_file, save_file
    state = load_file(str(weights_path))
    for key, value in head_state.items():
        state[HEAD + key] = value.to(state[HEAD + key].dtype).contiguous()
    tmp = weights_path.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights_path)
    update_metadata(folder, weights_sha256=file_sha256(weights_path))


def fit_vibrato(preset_path: str | Path, data_root: str | Path, steps: int, lr: float) -> tuple[int, float]:
    """Measure, fit and write; returns how many training notes were measured and the final loss."""
    folder = resolve_path(preset_path)
    preset = load_preset(folder)
    head = getattr(preset.model.decoder, "warp", None)
    if head is None:
        raise PresetError(f"{folder}: its model has no vibrato head (config 'vibrato' is off); nothing to fit")
    data = preset_data(preset, data_root)
    indices = data.split("train")
    if not indices:
        raise DataError(f"{data.root}: no training notes to fit the vibrato to")
    targets = measure(preset, data, indices)
    loss = fit(head, targets, preset.model.config.n_instruments, steps, lr)
    write_head(folder, preset.weights_path, {k: v.detach() for k, v in head.state_dict().items()})
    return len(indices), loss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m singsynth.train.fit_vibrato", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", help="preset name in presets/ or a preset folder")
    parser.add_argument("data", help="NSynth-format folder of (some of) the preset's instruments")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps over all the notes (default 3000)")
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 3e-3)")
    args = parser.parse_args(argv)
    if args.steps < 1 or not 0 < args.lr < 1:
        print("error: --steps must be 1 or more and --lr between 0 and 1", file=sys.stderr)
        return 2
    try:
        count, loss = fit_vibrato(args.preset, args.data, args.steps, args.lr)
    except (PresetError, DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.preset}: vibrato head fitted to {count} training notes (loss {loss:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
