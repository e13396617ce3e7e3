"""Evaluation of a preset on held-out notes, against a pitch-shifting sampler and silence.

Which notes are judged: eval_notes.py; what is measured on them: eval_figures.py; plots and tables: eval_report.py.
"""
from __future__ import annotations

import logging

import torch

from ..preset import Preset
from .data import DataError, NSynthData
from .eval_figures import (Competitors, NoteFigures, distances, family_figures, instrument_losses, judge_identity,
                           judge_pitch, play, summarize)
from .eval_notes import only_named, pick_plot_notes, select_notes, spread
from .eval_report import plot_comparison

logger = logging.getLogger(__name__)


def evaluate(preset: Preset, data: NSynthData, split: str = "test", cents: float = 50, plot_dir=None,
             batch_size: int = 32, limit: int | None = None, plot_count: int = 4, progress: bool = False,
             by_family: bool = False, names: list[str] | None = None) -> dict:
    """Spectral loss, waveform L1 and pitch accuracy of the model, a sampler and silence on the same notes.

    Pitch accuracy is the share of pitched notes whose f0 lies within `cents` of the f0 of the ground
    truth itself (not of the nominal key: some programs sound octaves away from it). Drum notes and notes
    whose ground truth has no reliable f0 are left out of it. With `by_family`, the same figures of each
    family's notes go under "families". With `names`, only those notes of the split (all of them plotted).
    Raises DataError when no note qualifies."""
    if data.sample_rate != preset.sample_rate:
        raise DataError(f"{data.root}: notes at {data.sample_rate} Hz, preset {preset.name!r} generates at "
                        f"{preset.sample_rate} Hz; judge it on data rendered at its own rate")
    notes, missing = select_notes(preset, data, split)
    if names:
        notes = only_named(notes, names, data, split)
        plot_count = max(plot_count, len(notes))
    if not notes:
        why = f"; {missing} had no training note of the same instrument and velocity for the sampler" if missing else ""
        raise DataError(f"{data.root}: no {split} notes for the instruments of preset {preset.name!r}{why} "
                        f"(is this the data the preset was trained on?)")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if limit is not None and limit < len(notes):
        notes = spread(notes, limit)  # spread, so that a few notes still cover every instrument
    plotted = {n.index for n in pick_plot_notes(notes, preset, data, plot_count)} if plot_dir else set()
    # in pitch and velocity order, so that each pair's competitors are loaded once
    notes = sorted(notes, key=lambda n: (data.notes[n.index].pitch, data.notes[n.index].velocity))

    competitors = Competitors(preset, data)
    figures: list[NoteFigures] = []
    plots: list[str] = []
    batches = range(0, len(notes), batch_size)
    if progress:
        from tqdm import tqdm
        batches = tqdm(batches, desc=f"evaluating {split}", unit="batch", leave=False)
    for start in batches:
        batch = notes[start:start + batch_size]
        truth, outputs = play(preset, data, batch)
        target = torch.from_numpy(truth)
        scored = distances(outputs, target)
        judge_identity(batch, target, outputs, competitors, scored)
        judge_pitch(batch, truth, outputs, cents, scored, data.sample_rate)
        figures += scored
        for row, note in enumerate(batch):
            if note.index in plotted:
                plots.append(plot_comparison(plot_dir, preset, data, note, truth[row],
                                              {name: out[row] for name, out in outputs.items()}, scored[row]))

    # summarize() repeats "notes", which keeps its place at the front
    result = {"notes": len(notes), "split": split, "preset": preset.name, "data": str(data.root), "cents": cents,
              "skipped_no_sampler": missing, **summarize(figures),
              "instruments": instrument_losses(notes, figures, preset)}
    if by_family:
        result["families"] = family_figures(notes, figures, preset, data)
    if plot_dir:
        result["plots"] = plots
    logger.debug("evaluation: %s", result)
    return result
