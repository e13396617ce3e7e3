"""Evaluation of a preset on held-out notes, against a pitch-shifting sampler and silence."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import dsp, gm
from .config import SAMPLE_RATE
from .data import NOTE_SAMPLES, DataError, NSynthData, split_of
from .pitch import estimate_f0, within
from .preset import Preset

logger = logging.getLogger(__name__)

SYSTEMS = ("model", "sampler", "silence")
REPORTED_CENTS = (25, 50)
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class EvalNote:
    index: int  # into data.notes
    instrument: int  # into preset.instruments
    source: int  # the sampler's note, into data.notes
    drums: bool


def held_out_pairs(preset: Preset) -> dict[str, set[tuple[str, int]]] | None:
    """The (instrument id, pitch) pairs kept out of training, as stored in the preset, or None."""
    held = preset.meta.get("held_out")
    if not isinstance(held, dict):
        return None
    try:
        return {name: {(str(i), int(p)) for i, p in held.get(name, [])} for name in ("valid", "test")}
    except (TypeError, ValueError):
        logger.warning("%s: unreadable \"held_out\" pairs; using the data's own split", preset.path)
        return None


def pair_split(instrument_id: str, pitch: int, held: dict[str, set[tuple[str, int]]] | None) -> str:
    """'train', 'valid' or 'test' of a pair: the preset's lists when it has them, else the data's hash."""
    if held is None:
        return split_of(instrument_id, pitch)
    for name in ("test", "valid"):
        if (instrument_id, pitch) in held[name]:
            return name
    return "train"


def nearest_source(pitch: int, candidates: list[tuple[int, int]]) -> int | None:
    """Index of the candidate (pitch, index) nearest in pitch, other than `pitch` itself; below wins ties."""
    best = None
    for other, index in candidates:
        if other == pitch:
            continue
        key = (abs(other - pitch), other > pitch)
        if best is None or key < best[0]:
            best = (key, index)
    return None if best is None else best[1]


def select_notes(preset: Preset, data: NSynthData, split: str = "test") -> tuple[list[EvalNote], int]:
    """The notes of `split` whose instrument the preset has and that the sampler can play.

    Returns the notes and how many of the split had to be left out for want of a sampler source."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use {', '.join(SPLITS)}")
    held = held_out_pairs(preset)
    by_id = {inst.id: inst for inst in preset.instruments}
    splits = [pair_split(n.instrument_id, n.pitch, held) for n in data.notes]
    # the sampler plays only notes the model could have learnt from: training pairs
    sources: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for i, (note, name) in enumerate(zip(data.notes, splits)):
        if name == "train" and note.instrument_id in by_id:
            sources.setdefault((note.instrument_id, note.velocity), []).append((note.pitch, i))
    notes, missing = [], 0
    for i, (note, name) in enumerate(zip(data.notes, splits)):
        inst = by_id.get(note.instrument_id)
        if name != split or inst is None:
            continue
        source = nearest_source(note.pitch, sources.get((note.instrument_id, note.velocity), []))
        if source is None:
            missing += 1
            continue
        drums = inst.drums or bool(data.instruments[note.instrument].get("drums"))
        notes.append(EvalNote(i, inst.index, source, drums))
    return notes, missing


def shift_pitch(wav: np.ndarray, semitones: float, length: int = NOTE_SAMPLES) -> np.ndarray:
    """A sampler's transposition: play faster or slower (band-limited, soxr), then pad or trim."""
    if semitones == 0:
        out = np.asarray(wav, dtype=np.float32)
    else:
        import soxr
        out = soxr.resample(np.ascontiguousarray(wav, dtype=np.float32), 2.0 ** (semitones / 12), 1.0, quality="HQ")
    return np.pad(out, (0, max(0, length - len(out))))[:length].astype(np.float32)


def _spread(items: list, count: int) -> list:
    """`count` items evenly spread over the list, first and last included, order kept."""
    if count <= 0:
        return []
    if count >= len(items):
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))
    return [items[i] for i in picks]


def pick_plot_notes(notes: list[EvalNote], preset: Preset, data: NSynthData, count: int) -> list[EvalNote]:
    """Up to `count` notes of different instruments, different GM families first, each the loudest
    note nearest middle C."""
    by_instrument: dict[int, list[EvalNote]] = {}
    for note in notes:
        by_instrument.setdefault(note.instrument, []).append(note)

    def family(index: int) -> str:
        # the data's family (NSynth's own, or the GM family of rendered data), else the preset's GM program
        inst = preset.instruments[index]
        named = data.instruments[data.notes[by_instrument[index][0].index].instrument].get("family")
        if named:
            return str(named)
        if inst.drums or inst.gm_program is None:
            return "drums" if inst.drums else inst.id
        return gm.FAMILIES[gm.family(inst.gm_program)]

    def best(group: list[EvalNote]) -> list[EvalNote]:
        return sorted(group, key=lambda n: (abs(data.notes[n.index].pitch - 60), -data.notes[n.index].velocity))

    families: dict[str, list[int]] = {}
    for inst in sorted(by_instrument):
        families.setdefault(family(inst), []).append(inst)
    # one instrument from each of `count` families spread over the instrument list, then others
    chosen = [group[0] for group in _spread(list(families.values()), count)]
    others = [inst for inst in sorted(by_instrument) if inst not in chosen]
    chosen += _spread(others, count - len(chosen))
    picked = [best(by_instrument[inst])[0] for inst in chosen]
    # fewer instruments than plots: more pitches of the same ones
    rest = [n for inst in chosen for n in best(by_instrument[inst])[1:]]
    return picked + _spread(rest, count - len(picked))


def plot_note(path: Path, title: str, panels: list[tuple[str, np.ndarray]]) -> Path:
    """One PNG of log-power spectrograms (the loss's own), one panel per system, one colour scale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    specs = [dsp.log_power_spectrogram(torch.from_numpy(wav[None]))[0].numpy() for _, wav in panels]
    top = max(float(s.max()) for s in specs)
    fig = Figure(figsize=(10, 2.6 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    seconds = NOTE_SAMPLES / SAMPLE_RATE
    for ax, (label, _), spec in zip(axes, panels, specs):
        # the loss's values, with a colour scale that shows its small ones too
        image = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, SAMPLE_RATE / 2000),
                          norm=PowerNorm(0.3, vmin=0.0, vmax=max(top, 1e-3)))
        ax.set_ylabel("kHz")
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1].set_xlabel("seconds")
    fig.colorbar(image, ax=list(axes), label="log(1 + power), as in the spectral loss")
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def identity_spectrogram(wav: torch.Tensor) -> torch.Tensor:
    """[B, T] -> log(|STFT| + 1e-5) of each note divided by its RMS [B, F, frames] (1024/256, Hann, no centring);
    silence stays silence."""
    level = dsp.rms(wav).clamp(min=1e-12)[:, None]
    scaled = torch.where(level > 1e-9, wav.float() / level, torch.zeros_like(wav, dtype=torch.float32))
    window = torch.hann_window(dsp.N_FFT, dtype=torch.float32)
    spec = torch.stft(scaled, dsp.N_FFT, dsp.HOP, window=window, center=False, return_complex=True)
    return torch.log(spec.abs() + 1e-5)


class _Competitors:
    """The truths of the other instruments at each note's pitch and velocity, as identity spectrograms."""

    def __init__(self, preset: Preset, data: NSynthData):
        self.data = data
        pitched = {inst.id for inst in preset.instruments if not inst.drums}
        self.by_key: dict[tuple[int, int], list[int]] = {}
        for i, note in enumerate(data.notes):
            if note.instrument_id in pitched and not data.instruments[note.instrument].get("drums"):
                self.by_key.setdefault((note.pitch, note.velocity), []).append(i)
        self.cache: dict[int, torch.Tensor] = {}

    def of(self, index: int) -> list[torch.Tensor]:
        note = self.data.notes[index]
        others = [i for i in self.by_key.get((note.pitch, note.velocity), [])
                  if self.data.notes[i].instrument_id != note.instrument_id]
        missing = [i for i in others if i not in self.cache]
        if missing:
            audio = torch.from_numpy(self.data.load_audio(missing).astype(np.float32) / 32768.0)
            self.cache.update(zip(missing, identity_spectrogram(audio)))
        return [self.cache[i] for i in others]


def identified(output: torch.Tensor, truth: torch.Tensor, others: list[torch.Tensor]) -> bool:
    """Whether a note's identity spectrogram is strictly nearer (mean L1) to its own instrument's truth than to
    every other instrument's; silence never is."""
    if not torch.isfinite(output).all() or float(output.max()) <= math.log(1e-5) + 1e-6:
        return False
    own = float((output - truth).abs().mean())
    return all(own < float((output - other).abs().mean()) for other in others)


class _Tally:
    """Per-note figures of one system, summed."""

    def __init__(self):
        self.spectral: list[float] = []
        self.l1: list[float] = []
        self.multiscale: list[float] = []
        self.hits = {c: 0 for c in REPORTED_CENTS}
        self.hits_requested = 0
        self.identified = 0

    def summary(self, pitch_notes: int, identity_notes: int) -> dict:
        def share(hits: int, total: int = pitch_notes) -> float | None:
            return hits / total if total else None
        return {"spectral_loss": float(np.mean(self.spectral)) if self.spectral else None,
                "wav_l1": float(np.mean(self.l1)) if self.l1 else None,
                "multiscale": float(np.mean(self.multiscale)) if self.multiscale else None,
                "identity": share(self.identified, identity_notes),
                "pitch_accuracy": share(self.hits_requested),
                **{f"pitch_accuracy_{c}": share(self.hits[c]) for c in REPORTED_CENTS}}


def _play(preset: Preset, data: NSynthData, batch: list[EvalNote]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Ground truth [B, T] and each system's notes [B, T], float32 in [-1, 1]."""
    wanted = sorted({n.index for n in batch} | {n.source for n in batch})
    audio = dict(zip(wanted, data.load_audio(wanted).astype(np.float32) / 32768.0))
    meta = [data.notes[n.index] for n in batch]
    truth = np.stack([audio[n.index] for n in batch])
    outputs = {
        "model": np.asarray(preset.generate(preset.instrument_weights([n.instrument for n in batch]),
                                            [m.pitch for m in meta], [m.velocity for m in meta]), dtype=np.float32),
        "sampler": np.stack([shift_pitch(audio[n.source], m.pitch - data.notes[n.source].pitch)
                             for n, m in zip(batch, meta)]),
        "silence": np.zeros_like(truth),
    }
    return truth, outputs


def evaluate(preset: Preset, data: NSynthData, split: str = "test", cents: float = 50, plot_dir=None,
             batch_size: int = 32, limit: int | None = None, plot_count: int = 4, progress: bool = False) -> dict:
    """Spectral loss, waveform L1 and pitch accuracy of the model, a sampler and silence on the same notes.

    Pitch accuracy is the share of pitched notes whose f0 lies within `cents` of the f0 of the ground
    truth itself (not of the nominal key: some programs sound octaves away from it). Drum notes and notes
    whose ground truth has no reliable f0 are left out of it. Raises DataError when no note qualifies."""
    notes, missing = select_notes(preset, data, split)
    if not notes:
        why = f"; {missing} had no training note of the same instrument and velocity for the sampler" if missing else ""
        raise DataError(f"{data.root}: no {split} notes for the instruments of preset {preset.name!r}{why} "
                        f"(is this the data the preset was trained on?)")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if limit is not None and limit < len(notes):
        notes = _spread(notes, limit)  # spread, so that a few notes still cover every instrument
    plotted = {n.index for n in pick_plot_notes(notes, preset, data, plot_count)} if plot_dir else set()

    tallies = {name: _Tally() for name in SYSTEMS}
    competitors = _Competitors(preset, data)
    identity_notes, identity_chance = 0, 0.0
    by_instrument: dict[str, dict[str, list[float]]] = {}
    counts = {"drum_notes": 0, "pitch_notes": 0, "unpitched_notes": 0}
    plots: list[str] = []
    batches = range(0, len(notes), batch_size)
    if progress:
        from tqdm import tqdm
        batches = tqdm(batches, desc=f"evaluating {split}", unit="batch", leave=False)
    for start in batches:
        batch = notes[start:start + batch_size]
        truth, outputs = _play(preset, data, batch)
        target = torch.from_numpy(truth)
        losses = {}
        for name, out in outputs.items():
            wav = torch.from_numpy(np.ascontiguousarray(out))
            losses[name] = dsp.spectral_loss(wav, target, reduction="none").tolist()
            tallies[name].spectral += losses[name]
            tallies[name].l1 += dsp.waveform_l1(wav, target).tolist()
            tallies[name].multiscale += dsp.multiscale_loss(wav, target, reduction="none").tolist()
        pitched = [row for row, note in enumerate(batch) if not note.drums]
        if pitched:
            truth_specs = identity_spectrogram(target[pitched])
            specs = {name: identity_spectrogram(torch.from_numpy(np.ascontiguousarray(out[pitched])))
                     for name, out in outputs.items()}
            for j, row in enumerate(pitched):
                others = competitors.of(batch[row].index)
                if not others:
                    continue
                identity_notes += 1
                identity_chance += 1 / (1 + len(others))
                for name in SYSTEMS:
                    tallies[name].identified += identified(specs[name][j], truth_specs[j], others)
        for row, note in enumerate(batch):
            inst = by_instrument.setdefault(preset.instruments[note.instrument].id, {k: [] for k in SYSTEMS})
            for name in SYSTEMS:
                inst[name].append(losses[name][row])
            if note.drums:
                counts["drum_notes"] += 1
                continue
            reference = estimate_f0(truth[row])
            if reference is None:
                counts["unpitched_notes"] += 1
                continue
            counts["pitch_notes"] += 1
            for name in ("model", "sampler"):  # silence has no pitch: never a hit
                f0 = estimate_f0(outputs[name][row])
                tallies[name].hits_requested += within(f0, reference, cents)
                for c in REPORTED_CENTS:
                    tallies[name].hits[c] += within(f0, reference, c)
        for row, note in enumerate(batch):
            if note.index in plotted:
                m, source = data.notes[note.index], data.notes[note.source]
                panels = [("ground truth", truth[row]),
                          (f"model (spectral loss {losses['model'][row]:.4f})", outputs["model"][row]),
                          (f"sampler from pitch {source.pitch} (spectral loss {losses['sampler'][row]:.4f})",
                           outputs["sampler"][row])]
                title = f"{m.name}: {preset.instruments[note.instrument].name}, pitch {m.pitch}, velocity {m.velocity}"
                plots.append(str(plot_note(Path(plot_dir) / f"{m.name}.png", title, panels)))

    result = {"notes": len(notes), "split": split, "preset": preset.name, "data": str(data.root), "cents": cents,
              "skipped_no_sampler": missing, **counts,
              "identity_notes": identity_notes,
              "identity_chance": identity_chance / identity_notes if identity_notes else None,
              **{name: tallies[name].summary(counts["pitch_notes"], identity_notes) for name in SYSTEMS},
              # spectral loss by instrument: which ones the model has not learnt
              "instruments": {i: {"notes": len(v["model"]), **{k: float(np.mean(v[k])) for k in SYSTEMS}}
                              for i, v in sorted(by_instrument.items())}}
    if plot_dir:
        result["plots"] = plots
    logger.debug("evaluation: %s", result)
    return result


def format_table(result: dict) -> str:
    """The figures as a small plain-text table."""
    def cell(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    columns = [("pitch_accuracy", f"pitch@{result['cents']:g}")] + [
        (f"pitch_accuracy_{c}", f"pitch@{c}") for c in REPORTED_CENTS if c != result["cents"]]
    lines = [f"preset {result['preset']}, {result['split']} split: {result['notes']} notes "
             f"({result['pitch_notes']} pitched, {result['unpitched_notes']} without a clear pitch, "
             f"{result['drum_notes']} drums; {result['skipped_no_sampler']} left out: no sampler source)",
             f"{'system':10s} {'spectral':>9s} {'wav L1':>9s} {'multiscl':>9s} {'identity':>9s} "
             + " ".join(f"{label:>9s}" for _, label in columns)]
    for name in SYSTEMS:
        r = result[name]
        lines.append(f"{name:10s} {cell(r['spectral_loss']):>9s} {cell(r['wav_l1']):>9s} "
                     f"{cell(r.get('multiscale')):>9s} {cell(r.get('identity')):>9s} "
                     + " ".join(f"{cell(r[key]):>9s}" for key, _ in columns))
    if result.get("identity_notes"):
        lines.append(f"identity over {result['identity_notes']} pitched notes with competitors; "
                     f"chance {result['identity_chance']:.4f}")
    if result.get("instruments"):
        lines.append("spectral loss by instrument:")
        width = max(len(i) for i in result["instruments"])
        for inst, r in result["instruments"].items():
            lines.append(f"  {inst:{width}s} {r['notes']:5d} notes  " + "  ".join(
                f"{name} {cell(r[name])}" for name in SYSTEMS))
    for path in result.get("plots", []):
        lines.append(f"plot: {path}")
    return "\n".join(lines)
