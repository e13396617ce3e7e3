"""Evaluation of a preset on held-out notes, against a pitch-shifting sampler and silence."""
from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import gm
from ..model import losses
from ..model.config import SAMPLE_RATE
from ..preset import Preset
from .data import NOTE_SAMPLES, DataError, NSynthData, split_of
from .pitch import estimate_f0, within

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
        drums = inst.drums or data.instruments[note.instrument].drums
        notes.append(EvalNote(i, inst.index, source, drums))
    return notes, missing


def only_named(notes: list[EvalNote], names: list[str], data: NSynthData, split: str) -> list[EvalNote]:
    """The notes called `names` (the data's note names), in the order given; DataError names one missing."""
    by_name = {data.notes[n.index].name: n for n in notes}
    for name in names:
        if name not in by_name:
            raise DataError(f"{data.root}: no note {name!r} among the {split} notes the preset can be judged on "
                            f"(names as in examples.json; held-out notes are in --split test)")
    return [by_name[name] for name in dict.fromkeys(names)]


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


DRUMS_FAMILY = "Drums"


def family_of(note: EvalNote, preset: Preset, data: NSynthData) -> str:
    """The GM family of the note's instrument, "Drums" for a drum kit; without a GM program (real NSynth)
    the data's own family, else the instrument's id."""
    inst = preset.instruments[note.instrument]
    if note.drums:
        return DRUMS_FAMILY
    if inst.gm_program is not None:
        return gm.FAMILIES[gm.family(inst.gm_program)]
    named = data.instruments[data.notes[note.index].instrument].family
    return str(named) if named else inst.id


def family_order(name: str) -> tuple[int, str]:
    """GM order, then the drums, then families of other data (NSynth's) by name."""
    order = gm.FAMILIES + (DRUMS_FAMILY,)
    return (order.index(name), "") if name in order else (len(order), name)


def pick_plot_notes(notes: list[EvalNote], preset: Preset, data: NSynthData, count: int) -> list[EvalNote]:
    """Up to `count` notes of different instruments, different GM families first, each the loudest
    note nearest middle C."""
    by_instrument: dict[int, list[EvalNote]] = {}
    for note in notes:
        by_instrument.setdefault(note.instrument, []).append(note)

    def best(group: list[EvalNote]) -> list[EvalNote]:
        return sorted(group, key=lambda n: (abs(data.notes[n.index].pitch - 60), -data.notes[n.index].velocity))

    families: dict[str, list[int]] = {}
    for inst in sorted(by_instrument):
        families.setdefault(family_of(by_instrument[inst][0], preset, data), []).append(inst)
    # one instrument from each of `count` families spread over the instrument list, then others
    chosen = [group[0] for group in _spread(list(families.values()), count)]
    others = [inst for inst in sorted(by_instrument) if inst not in chosen]
    chosen += _spread(others, count - len(chosen))
    picked = [best(by_instrument[inst])[0] for inst in chosen]
    # fewer instruments than plots: more pitches of the same ones
    rest = [n for inst in chosen for n in best(by_instrument[inst])[1:]]
    return picked + _spread(rest, count - len(picked))


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


def identity_spectrogram(wav: torch.Tensor) -> torch.Tensor:
    """[B, T] -> log(|STFT| + 1e-5) of each note divided by its RMS [B, F, frames] (1024/256, Hann, no centring);
    silence stays silence."""
    level = losses.rms(wav).clamp(min=1e-12)[:, None]
    scaled = torch.where(level > 1e-9, wav.float() / level, torch.zeros_like(wav, dtype=torch.float32))
    window = torch.hann_window(losses.N_FFT, dtype=torch.float32)
    spec = torch.stft(scaled, losses.N_FFT, losses.HOP, window=window, center=False, return_complex=True)
    return torch.log(spec.abs() + 1e-5)


class _Competitors:
    """The truths of the other instruments at each note's pitch and velocity, as identity spectrograms.

    Those of the last KEPT_KEYS (pitch, velocity) pairs are kept: a whole General MIDI data set's would not fit
    in memory (half a megabyte each), and notes judged in pitch and velocity order need each pair's once."""
    KEPT_KEYS = 8

    def __init__(self, preset: Preset, data: NSynthData):
        self.data = data
        pitched = {inst.id for inst in preset.instruments if not inst.drums}
        self.by_key: dict[tuple[int, int], list[int]] = {}
        for i, note in enumerate(data.notes):
            if note.instrument_id in pitched and not data.instruments[note.instrument].drums:
                self.by_key.setdefault((note.pitch, note.velocity), []).append(i)
        self.cache: OrderedDict[tuple[int, int], dict[int, torch.Tensor]] = OrderedDict()

    def _spectrograms(self, key: tuple[int, int]) -> dict[int, torch.Tensor]:
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        indices = self.by_key.get(key, [])
        specs: dict[int, torch.Tensor] = {}
        for start in range(0, len(indices), 64):
            chunk = indices[start:start + 64]
            audio = torch.from_numpy(np.asarray(self.data.load_audio(chunk), dtype=np.float32) / 32768.0)
            specs.update(zip(chunk, identity_spectrogram(audio)))
        self.cache[key] = specs
        while len(self.cache) > self.KEPT_KEYS:
            self.cache.popitem(last=False)
        return specs

    def of(self, index: int) -> list[torch.Tensor]:
        note = self.data.notes[index]
        specs = self._spectrograms((note.pitch, note.velocity))
        return [spec for i, spec in specs.items() if self.data.notes[i].instrument_id != note.instrument_id]


def identified(output: torch.Tensor, truth: torch.Tensor, others: list[torch.Tensor]) -> bool:
    """Whether a note's identity spectrogram is strictly nearer (mean L1) to its own instrument's truth than to
    every other instrument's; silence never is."""
    if not torch.isfinite(output).all() or float(output.max()) <= math.log(1e-5) + 1e-6:
        return False
    own = float((output - truth).abs().mean())
    return all(own < float((output - other).abs().mean()) for other in others)


PITCH_KEYS = ("pitch_accuracy",) + tuple(f"pitch_accuracy_{c}" for c in REPORTED_CENTS)


@dataclass
class _NoteFigures:
    """One note's figures, by system: the total and every family are summarised from these same notes."""
    spectral: dict[str, float]
    l1: dict[str, float]
    multiscale: dict[str, float]
    kind: str = ""  # "drum", "pitched" or "unpitched" (no reliable f0 in the ground truth)
    hits: dict[str, dict[str, bool]] | None = None  # by system, by PITCH_KEYS; pitched notes only
    identified: dict[str, bool] | None = None  # by system; non-drum notes with competitors only
    chance: float | None = None  # of naming the instrument at random among the competitors


def _distances(outputs: dict[str, np.ndarray], target: torch.Tensor) -> list[_NoteFigures]:
    """Each note's spectral, waveform and multi-scale distances to the ground truth, for every system."""
    spectral, l1, multiscale = {}, {}, {}
    for name, out in outputs.items():
        wav = torch.from_numpy(np.ascontiguousarray(out))
        spectral[name] = losses.spectral_loss(wav, target, reduction="none").tolist()
        l1[name] = losses.waveform_l1(wav, target).tolist()
        multiscale[name] = losses.multiscale_loss(wav, target, reduction="none").tolist()
    return [_NoteFigures({name: v[row] for name, v in spectral.items()}, {name: v[row] for name, v in l1.items()},
                         {name: v[row] for name, v in multiscale.items()}) for row in range(len(target))]


def _judge_identity(batch: list[EvalNote], target: torch.Tensor, outputs: dict[str, np.ndarray],
                    competitors: _Competitors, figures: list[_NoteFigures]) -> None:
    """Whether each system's non-drum notes are nearer their own instrument's truth than any other instrument's
    at the same pitch and velocity."""
    pitched = [row for row, note in enumerate(batch) if not note.drums]
    if not pitched:
        return
    truth_specs = identity_spectrogram(target[pitched])
    specs = {name: identity_spectrogram(torch.from_numpy(np.ascontiguousarray(out[pitched])))
             for name, out in outputs.items()}
    for j, row in enumerate(pitched):
        others = competitors.of(batch[row].index)
        if others:
            figures[row].identified = {name: identified(specs[name][j], truth_specs[j], others) for name in SYSTEMS}
            figures[row].chance = 1 / (1 + len(others))


def _judge_pitch(batch: list[EvalNote], truth: np.ndarray, outputs: dict[str, np.ndarray], cents: float,
                 figures: list[_NoteFigures], sample_rate: int) -> None:
    """Whether each system's f0 lies within `cents` (and each reported tolerance) of the ground truth's own."""
    tolerances = dict(zip(PITCH_KEYS, (cents, *REPORTED_CENTS)))
    for row, note in enumerate(batch):
        reference = None if note.drums else estimate_f0(truth[row], sample_rate)
        if reference is None:
            figures[row].kind = "drum" if note.drums else "unpitched"
            continue
        figures[row].kind = "pitched"
        f0 = {name: estimate_f0(outputs[name][row], sample_rate) for name in ("model", "sampler")}  # silence: never a hit
        figures[row].hits = {name: {key: name in f0 and within(f0[name], reference, c)
                                    for key, c in tolerances.items()} for name in SYSTEMS}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _system_summary(figures: list[_NoteFigures], name: str) -> dict:
    """One system's figures over some notes; None where none of them is of the kind a figure needs."""
    hits = [f.hits[name] for f in figures if f.hits is not None]
    return {"spectral_loss": _mean([f.spectral[name] for f in figures]),
            "wav_l1": _mean([f.l1[name] for f in figures]),
            "multiscale": _mean([f.multiscale[name] for f in figures]),
            "identity": _share([f.identified[name] for f in figures if f.identified is not None]),
            **{key: _share([h[key] for h in hits]) for key in PITCH_KEYS}}


def summarize(figures: list[_NoteFigures]) -> dict:
    """Note counts and every system's figures over some notes: all of them, or one family's."""
    chances = [f.chance for f in figures if f.identified is not None]
    return {"notes": len(figures),
            "drum_notes": sum(f.kind == "drum" for f in figures),
            "pitch_notes": sum(f.kind == "pitched" for f in figures),
            "unpitched_notes": sum(f.kind == "unpitched" for f in figures),
            "identity_notes": len(chances),
            "identity_chance": sum(chances) / len(chances) if chances else None,
            **{name: _system_summary(figures, name) for name in SYSTEMS}}


def _group(notes: list[EvalNote], figures: list[_NoteFigures], key) -> dict[str, list[_NoteFigures]]:
    """The figures of the notes sharing each key(note), in note order."""
    groups: dict[str, list[_NoteFigures]] = {}
    for note, f in zip(notes, figures):
        groups.setdefault(key(note), []).append(f)
    return groups


def family_figures(notes: list[EvalNote], figures: list[_NoteFigures], preset: Preset, data: NSynthData) -> dict:
    """summarize() of each family's notes, families in family_order; those without notes left out."""
    groups = _group(notes, figures, lambda note: family_of(note, preset, data))
    return {name: summarize(groups[name]) for name in sorted(groups, key=family_order)}


def instrument_losses(notes: list[EvalNote], figures: list[_NoteFigures], preset: Preset) -> dict:
    """Spectral loss by instrument: which ones the model has not learnt."""
    groups = _group(notes, figures, lambda note: preset.instruments[note.instrument].id)
    return {i: {"notes": len(g), **{name: float(np.mean([f.spectral[name] for f in g])) for name in SYSTEMS}}
            for i, g in sorted(groups.items())}


def _play(preset: Preset, data: NSynthData, batch: list[EvalNote]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Ground truth [B, T] and each system's notes [B, T], float32 in [-1, 1]."""
    wanted = sorted({n.index for n in batch} | {n.source for n in batch})
    audio = dict(zip(wanted, np.asarray(data.load_audio(wanted), dtype=np.float32) / 32768.0))
    meta = [data.notes[n.index] for n in batch]
    truth = np.stack([audio[n.index] for n in batch])
    outputs = {
        "model": np.asarray(preset.generate(preset.instrument_weights([n.instrument for n in batch]),
                                            [m.pitch for m in meta], [m.velocity for m in meta]), dtype=np.float32),
        "sampler": np.stack([shift_pitch(audio[n.source], m.pitch - data.notes[n.source].pitch, data.note_samples)
                             for n, m in zip(batch, meta)]),
        "silence": np.zeros_like(truth),
    }
    return truth, outputs


def _plot_comparison(plot_dir, preset: Preset, data: NSynthData, note: EvalNote, truth: np.ndarray,
                     outputs: dict[str, np.ndarray], figures: _NoteFigures) -> str:
    """The spectrograms of one note's ground truth, model and sampler."""
    m, source = data.notes[note.index], data.notes[note.source]
    panels = [("ground truth", truth),
              (f"model (spectral loss {figures.spectral['model']:.4f})", outputs["model"]),
              (f"sampler from pitch {source.pitch} (spectral loss {figures.spectral['sampler']:.4f})",
               outputs["sampler"])]
    title = f"{m.name}: {preset.instruments[note.instrument].name}, pitch {m.pitch}, velocity {m.velocity}"
    return str(plot_note(Path(plot_dir) / f"{m.name}.png", title, panels, data.sample_rate))


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
        notes = _spread(notes, limit)  # spread, so that a few notes still cover every instrument
    plotted = {n.index for n in pick_plot_notes(notes, preset, data, plot_count)} if plot_dir else set()
    # in pitch and velocity order, so that each pair's competitors are loaded once
    notes = sorted(notes, key=lambda n: (data.notes[n.index].pitch, data.notes[n.index].velocity))

    competitors = _Competitors(preset, data)
    figures: list[_NoteFigures] = []
    plots: list[str] = []
    batches = range(0, len(notes), batch_size)
    if progress:
        from tqdm import tqdm
        batches = tqdm(batches, desc=f"evaluating {split}", unit="batch", leave=False)
    for start in batches:
        batch = notes[start:start + batch_size]
        truth, outputs = _play(preset, data, batch)
        target = torch.from_numpy(truth)
        scored = _distances(outputs, target)
        _judge_identity(batch, target, outputs, competitors, scored)
        _judge_pitch(batch, truth, outputs, cents, scored, data.sample_rate)
        figures += scored
        for row, note in enumerate(batch):
            if note.index in plotted:
                plots.append(_plot_comparison(plot_dir, preset, data, note, truth[row],
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
