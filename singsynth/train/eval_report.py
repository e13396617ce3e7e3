"""An evaluation's report: spectrogram plots of chosen notes, and the figures as plain-text tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..model import losses
from ..model.config import SAMPLE_RATE
from ..preset import Preset
from .data import NSynthData
from .eval_figures import REPORTED_CENTS, SYSTEMS, NoteFigures
from .eval_notes import EvalNote


def plot_note(path: Path, title: str, panels: list[tuple[str, np.ndarray]], sample_rate: int = SAMPLE_RATE) -> Path:
    """One PNG of log-power spectrograms (the loss's own), one panel per system, one colour scale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    specs = [losses.log_power_spectrogram(torch.from_numpy(wav[None]))[0].numpy() for _, wav in panels]
    top = max(float(s.max()) for s in specs)
    fig = Figure(figsize=(10, 2.6 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    seconds = len(panels[0][1]) / sample_rate
    for ax, (label, _), spec in zip(axes, panels, specs):
        # the loss's values, with a colour scale that shows its small ones too
        image = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, sample_rate / 2000),
                          norm=PowerNorm(0.3, vmin=0.0, vmax=max(top, 1e-3)))
        ax.set_ylabel("kHz")
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1].set_xlabel("seconds")
    fig.colorbar(image, ax=list(axes), label="log(1 + power), as in the spectral loss")
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def plot_comparison(plot_dir, preset: Preset, data: NSynthData, note: EvalNote, truth: np.ndarray,
                     outputs: dict[str, np.ndarray], figures: NoteFigures) -> str:
    """The spectrograms of one note's ground truth, model and sampler."""
    m, source = data.notes[note.index], data.notes[note.source]
    panels = [("ground truth", truth),
              (f"model (spectral loss {figures.spectral['model']:.4f})", outputs["model"]),
              (f"sampler from pitch {source.pitch} (spectral loss {figures.spectral['sampler']:.4f})",
               outputs["sampler"])]
    title = f"{m.name}: {preset.instruments[note.instrument].name}, pitch {m.pitch}, velocity {m.velocity}"
    return str(plot_note(Path(plot_dir) / f"{m.name}.png", title, panels, data.sample_rate))


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _figure_columns(result: dict) -> list[tuple[str, str]]:
    """(figure, label) of each column: the distances, identity, then pitch at the requested tolerance first."""
    return [("spectral_loss", "spectral"), ("wav_l1", "wav L1"), ("multiscale", "multiscl"), ("identity", "identity"),
            ("pitch_accuracy", f"pitch@{result['cents']:g}")] + [
        (f"pitch_accuracy_{c}", f"pitch@{c}") for c in REPORTED_CENTS if c != result["cents"]]


def family_table(result: dict) -> list[str]:
    """One row per family, then the total: each figure's model and sampler values side by side (silence's,
    whose identity and pitch accuracy are nil by construction, are in the JSON)."""
    columns = _figure_columns(result)
    width = max(len(name) for name in [*result["families"], "family", "total"])
    pair = 2 * 7 + 1  # two values of 7 characters: "0.0123" and "12.3456" fit
    lines = ["by family (each figure: model, then sampler):",
             (f"{'family':{width}s} {'notes':>5s}  " + "  ".join(f"{label:^{pair}s}" for _, label in columns)).rstrip()]
    for name, r in [*result["families"].items(), ("total", result)]:
        lines.append(f"{name:{width}s} {r['notes']:5d}  " + "  ".join(
            f"{_cell(r['model'].get(key)):>7s} {_cell(r['sampler'].get(key)):>7s}" for key, _ in columns))
    return lines


def format_table(result: dict) -> str:
    """The figures as a small plain-text table."""
    columns = _figure_columns(result)
    lines = [f"preset {result['preset']}, {result['split']} split: {result['notes']} notes "
             f"({result['pitch_notes']} pitched, {result['unpitched_notes']} without a clear pitch, "
             f"{result['drum_notes']} drums; {result['skipped_no_sampler']} left out: no sampler source)",
             f"{'system':10s} " + " ".join(f"{label:>9s}" for _, label in columns)]
    for name in SYSTEMS:
        r = result[name]
        lines.append(f"{name:10s} " + " ".join(f"{_cell(r.get(key)):>9s}" for key, _ in columns))
    if result.get("identity_notes"):
        lines.append(f"identity over {result['identity_notes']} pitched notes with competitors; "
                     f"chance {result['identity_chance']:.4f}")
    if result.get("instruments"):
        lines.append("spectral loss by instrument:")
        width = max(len(i) for i in result["instruments"])
        for inst, r in result["instruments"].items():
            lines.append(f"  {inst:{width}s} {r['notes']:5d} notes  " + "  ".join(
                f"{name} {_cell(r[name])}" for name in SYSTEMS))
    if result.get("families"):
        lines += family_table(result)
    for path in result.get("plots", []):
        lines.append(f"plot: {path}")
    return "\n".join(lines)
