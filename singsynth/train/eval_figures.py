"""The figures of a batch of judged notes for the model, a pitch-shifting sampler and silence, and their summaries."""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from ..model import losses
from ..preset import Preset
from .data import NOTE_SAMPLES, NSynthData
from .eval_notes import EvalNote, family_of, family_order
from .pitch import estimate_f0, within


SYSTEMS = ("model", "sampler", "silence")
REPORTED_CENTS = (25, 50)


def shift_pitch(wav: np.ndarray, semitones: float, length: int = NOTE_SAMPLES) -> np.ndarray:
    """A sampler's transposition: play faster or slower (band-limited, soxr), then pad or trim."""
    if semitones == 0:
        out = np.asarray(wav, dtype=np.float32)
    else:
        import soxr
        out = soxr.resample(np.ascontiguousarray(wav, dtype=np.float32), 2.0 ** (semitones / 12), 1.0, quality="HQ")
    return np.pad(out, (0, max(0, length - len(out))))[:length].astype(np.float32)


def identity_spectrogram(wav: torch.Tensor) -> torch.Tensor:
    """[B, T] -> log(|STFT| + 1e-5) of each note divided by its RMS [B, F, frames] (1024/256, Hann, no centring);
    silence stays silence."""
    level = losses.rms(wav).clamp(min=1e-12)[:, None]
    scaled = torch.where(level > 1e-9, wav.float() / level, torch.zeros_like(wav, dtype=torch.float32))
    window = torch.hann_window(losses.N_FFT, dtype=torch.float32)
    spec = torch.stft(scaled, losses.N_FFT, losses.HOP, window=window, center=False, return_complex=True)
    return torch.log(spec.abs() + 1e-5)


class Competitors:
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
class NoteFigures:
    """One note's figures, by system: the total and every family are summarised from these same notes."""
    spectral: dict[str, float]
    l1: dict[str, float]
    multiscale: dict[str, float]
    kind: str = ""  # "drum", "pitched" or "unpitched" (no reliable f0 in the ground truth)
    hits: dict[str, dict[str, bool]] | None = None  # by system, by PITCH_KEYS; pitched notes only
    identified: dict[str, bool] | None = None  # by system; non-drum notes with competitors only
    chance: float | None = None  # of naming the instrument at random among the competitors


def distances(outputs: dict[str, np.ndarray], target: torch.Tensor) -> list[NoteFigures]:
    """Each note's spectral, waveform and multi-scale distances to the ground truth, for every system."""
    spectral, l1, multiscale = {}, {}, {}
    for name, out in outputs.items():
        wav = torch.from_numpy(np.ascontiguousarray(out))
        spectral[name] = losses.spectral_loss(wav, target, reduction="none").tolist()
        l1[name] = losses.waveform_l1(wav, target).tolist()
        multiscale[name] = losses.multiscale_loss(wav, target, reduction="none").tolist()
    return [NoteFigures({name: v[row] for name, v in spectral.items()}, {name: v[row] for name, v in l1.items()},
                         {name: v[row] for name, v in multiscale.items()}) for row in range(len(target))]


def judge_identity(batch: list[EvalNote], target: torch.Tensor, outputs: dict[str, np.ndarray],
                    competitors: Competitors, figures: list[NoteFigures]) -> None:
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


def judge_pitch(batch: list[EvalNote], truth: np.ndarray, outputs: dict[str, np.ndarray], cents: float,
                 figures: list[NoteFigures], sample_rate: int) -> None:
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


def _system_summary(figures: list[NoteFigures], name: str) -> dict:
    """One system's figures over some notes; None where none of them is of the kind a figure needs."""
    hits = [f.hits[name] for f in figures if f.hits is not None]
    return {"spectral_loss": _mean([f.spectral[name] for f in figures]),
            "wav_l1": _mean([f.l1[name] for f in figures]),
            "multiscale": _mean([f.multiscale[name] for f in figures]),
            "identity": _share([f.identified[name] for f in figures if f.identified is not None]),
            **{key: _share([h[key] for h in hits]) for key in PITCH_KEYS}}


def summarize(figures: list[NoteFigures]) -> dict:
    """Note counts and every system's figures over some notes: all of them, or one family's."""
    chances = [f.chance for f in figures if f.identified is not None]
    return {"notes": len(figures),
            "drum_notes": sum(f.kind == "drum" for f in figures),
            "pitch_notes": sum(f.kind == "pitched" for f in figures),
            "unpitched_notes": sum(f.kind == "unpitched" for f in figures),
            "identity_notes": len(chances),
            "identity_chance": sum(chances) / len(chances) if chances else None,
            **{name: _system_summary(figures, name) for name in SYSTEMS}}


def _group(notes: list[EvalNote], figures: list[NoteFigures], key) -> dict[str, list[NoteFigures]]:
    """The figures of the notes sharing each key(note), in note order."""
    groups: dict[str, list[NoteFigures]] = {}
    for note, f in zip(notes, figures):
        groups.setdefault(key(note), []).append(f)
    return groups


def family_figures(notes: list[EvalNote], figures: list[NoteFigures], preset: Preset, data: NSynthData) -> dict:
    """summarize() of each family's notes, families in family_order; those without notes left out."""
    groups = _group(notes, figures, lambda note: family_of(note, preset, data))
    return {name: summarize(groups[name]) for name in sorted(groups, key=family_order)}


def instrument_losses(notes: list[EvalNote], figures: list[NoteFigures], preset: Preset) -> dict:
    """Spectral loss by instrument: which ones the model has not learnt."""
    groups = _group(notes, figures, lambda note: preset.instruments[note.instrument].id)
    return {i: {"notes": len(g), **{name: float(np.mean([f.spectral[name] for f in g])) for name in SYSTEMS}}
            for i, g in sorted(groups.items())}


def play(preset: Preset, data: NSynthData, batch: list[EvalNote]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
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
