"""Render a plan's notes with the preset and lay them out as a SoundFont: samples, instruments, presets.

Notes come from the note supply the engine plays from (synth/note_supply.py), at the preset's own rate: the same
samples, loop crossfade and loop decay a voice reads, from the disk cache where they were made before.

Levels: every sample is stored at full scale and brought back to its note's level by initialAttenuation, so that
a quiet note keeps its detail in 16 bits. The attenuation is written for FluidSynth and the EMU8000 convention it
follows, 0.04 dB a centibel where the specification says 0.1: a player that follows the letter of the specification
plays a quiet note quieter (2.5 times its attenuation in dB). No attenuation can raise a note: the whole bank sits at
one gain (bank_gain), and `fluid_gain` says what FluidSynth synth gain then plays it at singsynth's level.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from .. import gm
from ..io import sf2
from ..io.progress import progress_bar
from ..synth.cache import NoteKey
from ..synth.note_supply import MAX_BATCH, NoteSupply
from .layout import Layer, key_runs, root_keys
from .programs import Entry, Plan
from .samples import envelope_generators, looped_note, one_shot_note
from .velocity import Curve, fitted_layers, layer_curve, level_db, modulators

logger = logging.getLogger(__name__)

EMU_DB_PER_CENTIBEL = 0.04  # what FluidSynth (and the EMU8000) makes of a centibel of initialAttenuation
FLUIDSYNTH_GAIN = 0.2  # FluidSynth's default synth.gain
# A centred mono voice on a channel at full volume, in FluidSynth 2.3 (measured; tests/test_export.py checks it),
# and in singsynth (gm.channel_gains' equal-power centre).
FLUIDSYNTH_CENTRE = 10 ** (-1.71 / 20)
SINGSYNTH_CENTRE = gm.channel_gains(127, 127, 64)[0]
# The share of (zone, velocity) pairs that may play softer than singsynth, so that a few very loud notes do not make
# the whole bank soft
CLIPPED_SHARE = 0.01
# The generators every zone has (keyRange, velRange, initialAttenuation, sampleModes, releaseVolEnv, sampleID): the
# format indexes at most 65,535 in all, so a bank with more zones than 65,535 / this cannot be written
MIN_ZONE_GENERATORS = 6
# Velocity passes through the notes themselves (a layer's note is the model's at that velocity): the player's
# default curve to the filter, which would darken it a second time, is switched off in every zone (its curve to
# attenuation is replaced by the layer's own, velocity.py).
NO_DEFAULT_FILTER = sf2.Modulator(sf2.DEFAULT_VELOCITY_TO_FILTER[0], sf2.DEFAULT_VELOCITY_TO_FILTER[1], 0,
                                  sf2.DEFAULT_VELOCITY_TO_FILTER[2])


@dataclass
class Settings:
    spacing: int = 3  # keys between zone roots
    layers: int = 4  # velocity layers
    release: float = 1.0  # seconds to -60 dB after note-off, as the engine's --release
    bits24: bool = False  # sm24: 24-bit samples


@dataclass
class Bank:
    presets: list[sf2.Preset] = field(default_factory=list)
    instruments: list[sf2.Instrument] = field(default_factory=list)
    samples: list[sf2.Sample] = field(default_factory=list)
    fluid_gain: float = FLUIDSYNTH_GAIN  # FluidSynth's synth.gain that plays the bank at singsynth's level
    # what each sample is: the entry, the note (timbre, key, velocity step) and the layer it plays
    sources: list[tuple[Entry, NoteKey, Layer]] = field(default_factory=list)


def roots(entry: Entry, settings: Settings) -> list[int]:
    """The keys an entry has samples of: its zone roots, every key of a drum kit."""
    low, high = entry.pitch_range
    return list(range(low, high + 1)) if entry.drums else root_keys(low, high, settings.spacing)


def note_keys(entry: Entry, settings: Settings, layers: list[Layer]) -> list[NoteKey]:
    """The notes an entry's zones play: each root at each layer's step."""
    return [(entry.timbre, key, layer.step) for key in roots(entry, settings) for layer in layers]


def note_count(entry: Entry, settings: Settings, steps: int) -> int:
    """How many notes an entry takes: its samples', and its levels' (those at the middle key that are not both)."""
    keys = roots(entry, settings)
    middle = level_keys(entry, steps)[0][1]
    return len(keys) * settings.layers + steps - (settings.layers if middle in keys else 0)


def level_keys(entry: Entry, steps: int) -> list[NoteKey]:
    """The notes an entry's loudness against velocity is measured on: every step at the middle of its range."""
    low, high = entry.pitch_range
    return [(entry.timbre, (low + high) // 2, step) for step in range(steps)]


def zone_count(plan: Plan, settings: Settings) -> int:
    """How many instrument zones the bank will have: a key run (layout.py) or drum key, times the layers."""
    def runs(e: Entry) -> int:
        low, high = e.pitch_range
        return high - low + 1 if e.drums else len(key_runs(low, high, settings.spacing))
    return sum(runs(e) * settings.layers for e in plan.entries)


def estimate_bytes(plan: Plan, supply: NoteSupply, settings: Settings) -> int:
    """About how large the file will be (drum notes counted whole, before their silent tails are cut)."""
    width = 3 if settings.bits24 else 2
    looped, whole = supply.loop[1], supply.note_len
    return sum(len(roots(e, settings)) * settings.layers * ((whole if e.drums else looped) + sf2.GUARD_SAMPLES)
               * width for e in plan.entries)


def _sample_name(entry: Entry, key: int, layer: int) -> str:
    return f"{gm.slug(entry.name)[:11]} {key} v{layer}"


def _notes(supply: NoteSupply, keys: list[NoteKey], bar) -> dict:
    """The notes, those not cached generated in batches (the bar moves with each)."""
    notes = {}
    for key in keys:
        note = supply.cached(key)
        if note is not None:
            notes[key] = note
            bar.update(1)
    todo = [k for k in keys if k not in notes]
    for i in range(0, len(todo), MAX_BATCH):
        notes.update(supply.generate(todo[i:i + MAX_BATCH]))
        bar.update(len(todo[i:i + MAX_BATCH]))
    return notes


def _zone(run_low: int, run_high: int, layer, sample: int, extra: dict, curve: Curve) -> sf2.Zone:
    gens: dict = {sf2.KEY_RANGE: (run_low, run_high), sf2.VEL_RANGE: (layer.low, layer.high)}
    gens[sf2.INITIAL_ATTENUATION] = 0  # set once the bank's gain is known
    gens.update(extra)
    return sf2.Zone(gens, [NO_DEFAULT_FILTER] + modulators(curve), sample)


def _sample(entry: Entry, note, key: int, layer: int, loop, rate: int, release: float):
    """The SoundFont sample of a note, at full scale, its peak, and its zones' own generators."""
    if entry.drums:
        data, sample_loop = one_shot_note(note), None
        extra = {sf2.SAMPLE_MODES: sf2.NO_LOOP, sf2.RELEASE_VOL_ENV: sf2.MAX_TIMECENTS}
    else:
        data, fall = looped_note(note, loop)
        extra = {sf2.SAMPLE_MODES: sf2.LOOP_CONTINUOUSLY, **envelope_generators(loop, rate, fall, release)}
        sample_loop = (loop[0], loop[1])
    peak = float(np.max(np.abs(data))) if len(data) else 0.0
    scaled = data / peak if peak > 0 else data
    return sf2.Sample(_sample_name(entry, key, layer), scaled, rate, key, 0, sample_loop), peak, extra


def build(plan: Plan, supply: NoteSupply, settings: Settings, progress: bool = False) -> Bank:
    """Generate (or read back) every note of the plan and lay out the bank."""
    rate, loop, steps = supply.preset.sample_rate, supply.loop, supply.cache.velocity_steps
    bank, levels = Bank(), []  # levels: (peak, curve, layer) of each sample
    total = sum(note_count(e, settings, steps) for e in plan.entries)
    with progress_bar(progress, total=total, unit="note", desc="export") as bar:
        for entry in plan.entries:
            notes = _notes(supply, level_keys(entry, steps), bar)
            step_levels = [level_db(notes[k].data[:None if entry.drums else loop[0]]) for k in level_keys(entry, steps)]
            layers = fitted_layers(step_levels, settings.layers, steps)
            curves = [layer_curve(step_levels, layer, steps) for layer in layers]
            keys = note_keys(entry, settings, layers)
            notes.update(_notes(supply, [k for k in keys if k not in notes], bar))
            made = {}  # (root, layer) -> the sample's index and its zones' generators
            for key in keys:
                _, pitch, step = key
                n = next(i for i, layer in enumerate(layers) if layer.step == step)
                sample, peak, extra = _sample(entry, notes[key], pitch, n, loop, rate, settings.release)
                made[(pitch, n)] = (len(bank.samples), extra)
                bank.samples.append(sample)
                bank.sources.append((entry, key, layers[n]))
                levels.append((peak, curves[n], layers[n]))
            low, high = entry.pitch_range
            runs = ([(k, k, k) for k in range(low, high + 1)] if entry.drums else
                    [(r.low, r.high, r.root) for r in key_runs(low, high, settings.spacing)])
            zones = [_zone(run_low, run_high, layer, *made[(root, n)], curves[n])
                     for run_low, run_high, root in runs for n, layer in enumerate(layers)]
            bank.instruments.append(sf2.Instrument(entry.name, zones))
    _set_levels(bank, levels, supply.preset.playback_gain)
    for n, entry in enumerate(plan.entries):
        bank.presets.append(sf2.Preset(entry.name, entry.program, entry.bank, [sf2.Zone(target=n)]))
    for (bank_number, program), n in sorted(plan.aliases.items()):
        name = gm.PROGRAMS[program] if bank_number == 0 else f"{plan.entries[n].name} {program}"
        bank.presets.append(sf2.Preset(name, program, bank_number, [sf2.Zone(target=n)]))
    return bank


def describe(preset_name: str, rate: int, settings: Settings, bank: Bank) -> tuple[str, str]:
    """The bank's name and the comment its INFO carries."""
    return (f"singsynth {preset_name}"[:255],
            f"Rendered by singsynth from preset {preset_name} at {rate} Hz: a sample every {settings.spacing} keys, "
            f"{settings.layers} velocity layers. At singsynth's level with FluidSynth's synth.gain "
            f"{bank.fluid_gain:.2f}.")


def bank_gain(levels: list, wanted: float) -> float:
    """The one gain of the whole bank: `wanted` (singsynth's level at FluidSynth's default synth gain) where every
    zone can play every velocity of its layer at singsynth's level, else the highest that leaves all but
    CLIPPED_SHARE of the (zone, velocity) pairs able to; those few play as loud as their sample allows."""
    needed = [peak * 10 ** (curve.gain_db(v) / 20) for peak, curve, layer in levels
              for v in range(layer.low, layer.high + 1)]
    # and the zone's own attenuation may not fall under 0 where the modulators add some at the note's velocity
    needed += [peak * 10 ** (curve.attenuation_db(curve.velocity) / 20) for peak, curve, _ in levels]
    top = float(np.quantile(needed, 1 - CLIPPED_SHARE)) if needed else 0.0
    return min(wanted, 1.0 / top) if top > 0 else wanted


def _set_levels(bank: Bank, levels: list, playback_gain: float) -> None:
    """Each zone's attenuation, and each sample rescaled so that its attenuation in whole centibels is exact."""
    wanted = SINGSYNTH_CENTRE * playback_gain / (FLUIDSYNTH_CENTRE * FLUIDSYNTH_GAIN)
    gain = bank_gain(levels, wanted)
    bank.fluid_gain = FLUIDSYNTH_GAIN * wanted / gain
    centibels = []
    for sample, (peak, curve, _) in zip(bank.samples, levels):
        if peak <= 0:
            centibels.append(0)
            sample.data = sf2.to_24bit(sample.data)
            continue
        # the zone's own attenuation (dB): with what the modulators add at the note's velocity, the note's level
        target = -20 * math.log10(peak * gain) - curve.attenuation_db(curve.velocity)
        cb = min(max(math.floor(target / EMU_DB_PER_CENTIBEL), 0), sf2.MAX_ATTENUATION)
        # what whole centibels leave over, made up in the samples, never past full scale
        rest = min(10 ** (-(target - cb * EMU_DB_PER_CENTIBEL) / 20), 1.0)
        sample.data = sf2.to_24bit(sample.data * np.float32(rest))
        centibels.append(cb)
    for inst in bank.instruments:
        for zone in inst.zones:
            zone.generators[sf2.INITIAL_ATTENUATION] = centibels[zone.target]
