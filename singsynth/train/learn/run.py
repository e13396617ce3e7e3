"""A learn run from its source to the preset folder: read, choose the start, fit, calibrate, judge, write."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...preset import Preset, load_preset
from ..calibration import Heard, _levels, holds_steady, loudest_window_energy
from ..tuning import measure_key_tuning, measure_tuning
from . import output, rows
from .figures import Figures, evaluate
from .fit import Targets, choose_start, fit
from .recordings import LearnError, Recording, read_folder
from .sfz import read_sfz
from .soundfont_source import read_soundfont

logger = logging.getLogger(__name__)

HOLD_OUT_EVERY = 4  # every 4th recording (the 3rd, 7th, ... by key): held-out keys in the gaps, never the ends
# every 6th training recording (the 4th, 10th, ...) is set aside to choose which step's rows to keep: the held-out
# notes are the test, never chosen on
VALIDATE_EVERY = 6
COMPARED_BASE = 8  # base instruments judged on the held-out notes: the nearest on the training notes
# The run's time left for what follows training (calibration, held-out figures, writing), in whole notes generated
# per note measured: calibration plays each training note once, the figures each held-out note 1 + COMPARED_BASE
# times, and the last validation (after the last step) each note set aside once.
MARGIN = 1.3


@dataclass
class Source:
    path: Path
    program: int | None = None
    bank: int = 0
    pitches: tuple[int, int] = (48, 71)
    velocity: int = 100


@dataclass
class Learnt:
    out: Path
    name: str
    start: str
    recordings: int
    held_out: int
    steps: int
    seconds: float
    replaced: bool
    start_distance: float  # the multi-scale distance to the training recordings before and after fitting
    end_distance: float
    figures: Figures | None


def slug(name: str) -> str:
    return "learnt_" + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "instrument")


def read_source(source: Source, rate: int, samples: int) -> list[Recording]:
    path = source.path
    if not path.exists():
        raise LearnError(f"{path}: no such file or folder; give a folder of one-shots, an .sfz or a SoundFont")
    if path.is_dir():
        return read_folder(path, rate, samples)
    suffix = path.suffix.lower()
    if suffix == ".sfz":
        return read_sfz(path, rate, samples)
    if suffix in (".sf2", ".sf3"):
        if source.program is None:
            raise LearnError(f"{path}: a SoundFont needs --program N (and --bank B) to say which preset to learn")
        keys = list(range(source.pitches[0], source.pitches[1] + 1))
        return read_soundfont(path, source.program, source.bank, keys, source.velocity, rate, samples)
    raise LearnError(f"{path}: not a folder, an .sfz or a .sf2/.sf3 SoundFont; give one of those")


def split(recordings: list[Recording]) -> tuple[list[Recording], list[Recording]]:
    if len(recordings) < HOLD_OUT_EVERY:
        return recordings, []
    held = [r for i, r in enumerate(recordings) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 2]
    return [r for r in recordings if r not in held], held


def set_aside(train: list[Recording]) -> tuple[list[Recording], list[Recording]]:
    """The recordings fitted on, and those the kept step is chosen on (none where there are too few)."""
    if len(train) < VALIDATE_EVERY:
        return train, []
    aside = [r for i, r in enumerate(train) if i % VALIDATE_EVERY == VALIDATE_EVERY // 2]
    return [r for r in train if r not in aside], aside


def targets_of(recordings: list[Recording], scale: float) -> Targets:
    return Targets(torch.from_numpy(np.stack([r.audio for r in recordings])) * scale,
                   torch.tensor([r.pitch for r in recordings]),
                   torch.tensor([r.velocity for r in recordings], dtype=torch.float32))


def tuning_row(train: list[Recording], key_tuning: bool, rate: int) -> torch.Tensor:
    """The new instrument's tuning against its keys in octaves, measured from its recordings (train/tuning.py)."""
    pitches, velocities = [r.pitch for r in train], [r.velocity for r in train]
    audio = [r.audio for r in train]
    if key_tuning:
        table = measure_key_tuning(audio.__getitem__, [0] * len(train), pitches, velocities, [False], 1, rate)[0]
    else:
        table = measure_tuning(audio.__getitem__, [0] * len(train), pitches, [False], 1, rate)[0]
    return torch.tensor(table, dtype=torch.float32)


def whole_notes(model, instrument: int, targets: Targets) -> torch.Tensor:
    with torch.inference_mode():
        weights = model.instrument_weights(torch.full((len(targets.pitch),), instrument))
        return model(weights, targets.pitch, targets.velocity)


def distance(model, instrument: int, targets: Targets) -> float:
    from ...model.losses import multiscale_loss
    return float(multiscale_loss(whole_notes(model, instrument, targets), targets.audio))


def learn(source: Source, name: str, out: Path, base: str | None = None, minutes: float = 5.0,
          max_steps: int | None = None, progress: bool = True) -> Learnt:
    begun = time.monotonic()
    preset = load_preset(base)
    if any(i.name.lower() == name.lower() for i in preset.instruments):
        raise LearnError(f"--name {name!r}: the base preset {preset.name} already has an instrument of that name; "
                         "choose another name")
    if not name.strip():
        raise LearnError("--name: give the new instrument a name")
    replaced = output.check_out(out, preset.path)
    config, rate = preset.config, preset.sample_rate
    recordings = read_source(source, rate, config.note_samples)
    train, held = split(recordings)
    logger.info("learning %s from %d recordings (keys %d..%d), holding out %d (keys %s)%s", name, len(train),
                train[0].pitch, train[-1].pitch, len(held), ", ".join(str(r.pitch) for r in held) or "none",
                f"; {out} holds a preset: this run starts over and replaces it when done" if replaced else "")
    output.clear_stale(out)
    state = rows.with_controls(rows.read_state(preset.weights_path), config)
    new = config.n_instruments
    tuning = tuning_row(train, config.key_tuning, rate)
    model = rows.build(config, state, rows.start_rows(state, 0, tuning))
    recorded = targets_of(train, 1.0)
    melodic = [i.index for i in preset.instruments if not i.drums]  # a kit's keys are no pitches to start from
    start, gain, distances = choose_start(model, new, recorded, rate, melodic)
    logger.info("starting from %s, the base instrument nearest the recordings (recordings played %+.1f dB to its "
                "loudness)", preset.instruments[start].name, 20 * np.log10(gain))
    model = rows.build(config, state, rows.start_rows(state, start, tuning))
    targets = Targets(recorded.audio * gain / preset.output_gain, recorded.pitch, recorded.velocity)
    timed = time.monotonic()
    start_distance = distance(model, new, targets)
    per_note = (time.monotonic() - timed) / len(train)
    after = per_note * (len(train) + len(train) // VALIDATE_EVERY + len(held) * (2 + COMPARED_BASE)) * MARGIN
    budget = minutes * 60 - (time.monotonic() - begun) - after
    if budget <= 0 and max_steps is None:
        raise LearnError(f"--minutes {minutes:g}: too short to learn anything on this machine (reading and "
                         f"choosing the start took {time.monotonic() - begun:.0f} s); give more")
    fitted_on, aside = set_aside(train)
    scale = gain / preset.output_gain
    validation = targets_of(aside, scale) if aside else None
    fitted = fit(model, new, targets_of(fitted_on, scale), max(budget, 0.0), max_steps, rate, progress, validation)
    learnt_rows = rows.learnt_rows(model, rows.start_rows(state, start, tuning))
    model.eval()
    end_distance = distance(model, new, targets)
    levels, sustains = calibrate(model, new, targets, rate)
    low, high = min(r.pitch for r in recordings), max(r.pitch for r in recordings)
    instrument = {"name": name, "id": slug(name), "gm_program": None, "drums": False,
                  "pitch_range": [max(0, low - 12), min(127, high + 12)], "source": source.path.name,
                  **levels.to_dict(), **({"sustains": True} if sustains else {})}
    record = {"start": preset.instruments[start].id, "recordings": len(recordings),
              "held_out": [r.pitch for r in held], "gain_db": round(float(20 * np.log10(gain)), 2),
              "steps": fitted.steps, "seconds": round(time.monotonic() - begun, 1),
              **({"kept_step": fitted.kept_step, "set_aside": [r.pitch for r in aside],
                  "validation": [[s, round(d, 4)] for s, d in fitted.validation]}
                 if fitted.kept_step is not None else {}),
              "distance": {"start": round(start_distance, 4), "end": round(end_distance, 4)}}
    work = output.work_folder(out)
    try:
        output.write(work, rows.appended(state, learnt_rows), rows.widened(config), preset.meta, out.name,
                     instrument, record)
        figures = judge(work, new, held, train, gain, distances) if held else None
        if figures is not None:
            record["held_out_figures"] = figures.to_dict()
            from ...preset import update_metadata
            update_metadata(work, learnt=record)
        output.publish(work, out)
    finally:
        if work.exists():
            import shutil
            shutil.rmtree(work, ignore_errors=True)
    return Learnt(out, name, preset.instruments[start].name, len(recordings), len(held), fitted.steps,
                  time.monotonic() - begun, replaced, start_distance, end_distance, figures)


def calibrate(model, new: int, targets: Targets, rate: int):
    """The new instrument's level corrections against its targets, and whether it holds a note steady
    (train/calibration.py's measures)."""
    played = whole_notes(model, new, targets).numpy()
    truth = targets.audio.numpy()
    wanted, got = loudest_window_energy(truth, rate), loudest_window_energy(played, rate)
    steady = holds_steady(truth, wanted, rate)
    heard = [Heard(int(p), int(v), float(t), float(m), h)
             for p, v, t, m, h in zip(targets.pitch, targets.velocity, wanted, got, steady)]
    return _levels(heard, False), bool(np.mean(steady) > 0.5)


def judge(folder: Path, new: int, held: list[Recording], train: list[Recording], gain: float,
          distances: list[float]) -> Figures:
    preset: Preset = load_preset(folder)
    preset.full_precision = True
    base = [int(i) for i in np.argsort(distances)[:COMPARED_BASE] if np.isfinite(distances[i])]
    return evaluate(preset, new, np.stack([r.audio for r in held]) * gain, [r.pitch for r in held],
                    [r.velocity for r in held], np.stack([r.audio for r in train]) * gain, [r.pitch for r in train],
                    base)
