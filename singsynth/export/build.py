"""Render a plan's notes with the preset and lay them out as a SoundFont: samples, instruments, presets.

Notes come from the note supply the engine plays from (synth/note_supply.py), at the preset's own rate: the same
samples, loop crossfade and loop decay a voice reads, from the disk cache where they were made before.

Levels: every sample is stored at full scale and brought back to its note's level by initialAttenuation, so that
a quiet note keeps its detail in 16 bits. The attenuation is written for FluidSynth and the EMU8000 convention it
follows (0.4 dB a centibel, not the specification's 0.1: a file written for one plays 60 % softer or louder in
the other). No attenuation can raise a note: the whole bank sits at one gain, the highest that leaves its loudest
note under full scale, up to what matches singsynth at FluidSynth's own synth gain; `fluid_gain` says what synth
gain then plays it at singsynth's level.
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
from .layout import key_runs, root_keys, velocity_layers
from .programs import Entry, Plan
from .samples import envelope_generators, looped_note, one_shot_note

logger = logging.getLogger(__name__)

EMU_DB_PER_CENTIBEL = 0.04  # what FluidSynth (and the EMU8000) makes of a centibel of initialAttenuation
FLUIDSYNTH_GAIN = 0.2  # FluidSynth's default synth.gain
# A centred mono voice on a channel at full volume, in FluidSynth 2.3 (measured; tests/test_export.py checks it),
# and in singsynth (gm.channel_gains' equal-power centre).
FLUIDSYNTH_CENTRE = 10 ** (-1.71 / 20)
SINGSYNTH_CENTRE = gm.channel_gains(127, 127, 64)[0]
# Velocity passes through the notes themselves (a layer's note is the model's at that velocity): the player's
# default curves, which would soften and darken it a second time, are switched off in every zone.
NO_DEFAULT_MODULATORS = [sf2.Modulator(src, dest, 0, amount_src) for src, dest, amount_src in
                         (sf2.DEFAULT_VELOCITY_TO_ATTENUATION, sf2.DEFAULT_VELOCITY_TO_FILTER)]


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


def note_keys(entry: Entry, settings: Settings) -> list[NoteKey]:
    """The notes an entry's zones play: each root (each key of a drum kit) at each layer's step."""
    low, high = entry.pitch_range
    keys = range(low, high + 1) if entry.drums else root_keys(low, high, settings.spacing)
    return [(entry.timbre, key, layer.step) for key in keys for layer in velocity_layers(settings.layers)]


def estimate_bytes(plan: Plan, supply: NoteSupply, settings: Settings) -> int:
    """About how large the file will be (drum notes counted whole, before their silent tails are cut)."""
    width = 3 if settings.bits24 else 2
    looped, whole = supply.loop[1], supply.note_len
    return sum(len(note_keys(e, settings)) * ((whole if e.drums else looped) + sf2.GUARD_SAMPLES) * width
               for e in plan.entries)


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


def _zone(run_low: int, run_high: int, layer, sample: int, shift: int, extra: dict) -> sf2.Zone:
    gens: dict = {sf2.KEY_RANGE: (run_low, run_high), sf2.VEL_RANGE: (layer.low, layer.high)}
    gens[sf2.INITIAL_ATTENUATION] = 0  # set once the bank's gain is known
    if shift:
        gens[sf2.COARSE_TUNE] = -shift
    gens.update(extra)
    return sf2.Zone(gens, list(NO_DEFAULT_MODULATORS), sample)


def build(plan: Plan, supply: NoteSupply, settings: Settings, progress: bool = False) -> Bank:
    """Generate (or read back) every note of the plan and lay out the bank."""
    rate, loop = supply.preset.sample_rate, supply.loop
    layers = velocity_layers(settings.layers)
    bank, peaks = Bank(), []
    total = sum(len(note_keys(e, settings)) for e in plan.entries)
    with progress_bar(progress, total=total, unit="note", desc="export") as bar:
        for entry in plan.entries:
            notes = _notes(supply, note_keys(entry, settings), bar)
            zones, index = [], {}
            for key, note in notes.items():
                _, pitch, step = key
                n = next(i for i, layer in enumerate(layers) if layer.step == step)
                if entry.drums:
                    data, extra, sample_loop = one_shot_note(note), {sf2.SAMPLE_MODES: sf2.NO_LOOP,
                                                                     sf2.RELEASE_VOL_ENV: sf2.MAX_TIMECENTS}, None
                else:
                    data, fall = looped_note(note, loop)
                    extra = {sf2.SAMPLE_MODES: sf2.LOOP_CONTINUOUSLY,
                             **envelope_generators(loop, rate, fall, settings.release)}
                    sample_loop = (loop[0], loop[1])
                peak = float(np.max(np.abs(data))) if len(data) else 0.0
                scaled = data / peak if peak > 0 else data
                index[(pitch, n)] = (len(bank.samples), extra)
                bank.samples.append(sf2.Sample(_sample_name(entry, pitch, n), scaled, rate, pitch, 0, sample_loop))
                peaks.append(peak)
            low, high = entry.pitch_range
            runs = ([(k, k, k, 0) for k in range(low, high + 1)] if entry.drums else
                    [(r.low, r.high, r.root, r.shift) for r in key_runs(low, high, settings.spacing)])
            for run_low, run_high, root, shift in runs:
                for n, layer in enumerate(layers):
                    sample, extra = index[(root, n)]
                    zones.append(_zone(run_low, run_high, layer, sample, shift, extra))
            bank.instruments.append(sf2.Instrument(entry.name, zones))
    _set_levels(bank, peaks, supply.preset.playback_gain)
    for n, entry in enumerate(plan.entries):
        bank.presets.append(sf2.Preset(entry.name, entry.program, entry.bank, [sf2.Zone(target=n)]))
    for (bank_number, program), n in sorted(plan.aliases.items()):
        bank.presets.append(sf2.Preset(gm.PROGRAMS[program], program, bank_number, [sf2.Zone(target=n)]))
    return bank


def _set_levels(bank: Bank, peaks: list[float], playback_gain: float) -> None:
    """Each zone's attenuation, and each sample rescaled so that its attenuation in whole centibels is exact."""
    # what FluidSynth at its default gain needs for singsynth's level, and what the loudest note allows
    wanted = SINGSYNTH_CENTRE * playback_gain / (FLUIDSYNTH_CENTRE * FLUIDSYNTH_GAIN)
    loudest = max(peaks, default=0.0)
    gain = min(wanted, 1.0 / loudest) if loudest > 0 else wanted
    bank.fluid_gain = FLUIDSYNTH_GAIN * wanted / gain
    centibels = []
    for sample, peak in zip(bank.samples, peaks):
        level = peak * gain
        cb = 0 if level <= 0 else min(math.floor(-20 * math.log10(level) / EMU_DB_PER_CENTIBEL),
                                      sf2.MAX_ATTENUATION)
        if level > 0:  # what whole centibels leave over, made up in the samples (never past full scale)
            sample.data = sample.data * np.float32(level / 10 ** (-cb * EMU_DB_PER_CENTIBEL / 20))
        sample.data = sf2.to_24bit(sample.data)
        centibels.append(cb)
    for inst in bank.instruments:
        for zone in inst.zones:
            zone.generators[sf2.INITIAL_ATTENUATION] = centibels[zone.target]
