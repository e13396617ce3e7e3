"""Each instrument's tuning against its keys, measured once from training notes for the harmonic decoder."""
from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np
import torch

from ..model.config import SAMPLE_RATE, ModelConfig
from .device_notes import DeviceNotes
from .pitch import estimate_f0, midi_to_hz

logger = logging.getLogger(__name__)

NOTES_PER_INSTRUMENT = 24  # spread over the instrument's pitches; a median of 24 shrugs off octave slips
KEYS = 128
# Per key: a median over this many measured keys around it, so that one note's octave slip is outvoted
# while a SoundFont's sample zone (several keys sounding an octave down, or a few cents sharp) is kept.
KEY_MEDIAN = 5


# Note i's samples, float32 in [-1, 1]: only the notes measured are read, never the whole data set at once.
NoteAudio = Callable[[int], np.ndarray]


def _octaves(wav: np.ndarray, pitch: int, sample_rate: int) -> float | None:
    """log2(f0 of the note / f0 of its key), or None without a clear pitch."""
    f0 = estimate_f0(wav, sample_rate)
    return math.log2(f0 / midi_to_hz(pitch)) if f0 else None


def measure_tuning(audio: NoteAudio, instruments: list[int], pitches: list[int], drums: list[bool],
                   count: int, sample_rate: int = SAMPLE_RATE) -> list[float]:
    """Per instrument, the median of log2(f0 of the note / f0 of its key), in octaves.

    `audio(i)` gives note i, with the notes' instrument indices and MIDI pitches [N]; `drums[i]` marks a
    kit, whose keys are no pitches (offset 0). Some General MIDI programs sound an octave or two away from
    their key, and some are tuned a few cents off: the harmonic decoder needs the truth's f0, not the key's.
    An instrument with no note of clear pitch gets 0."""
    offsets = []
    for inst in range(count):
        rows = [i for i, k in enumerate(instruments) if k == inst]
        if drums[inst] or not rows:
            offsets.append(0.0)
            continue
        rows = sorted(rows, key=lambda i: (pitches[i], i))
        picks = np.unique(np.linspace(0, len(rows) - 1, min(NOTES_PER_INSTRUMENT, len(rows))).round().astype(int))
        ratios = [r for r in (_octaves(audio(rows[p]), pitches[rows[p]], sample_rate) for p in picks) if r is not None]
        offsets.append(float(np.median(ratios)) if ratios else 0.0)
        logger.debug("instrument %d: tuning %+.1f cents from %d notes", inst, 1200 * offsets[-1], len(ratios))
    return offsets


def measure_key_tuning(audio: NoteAudio, instruments: list[int], pitches: list[int], velocities: list[float],
                       drums: list[bool], count: int, sample_rate: int = SAMPLE_RATE) -> list[list[float]]:
    """Per instrument and MIDI key, log2(f0 of the note / f0 of the key), in octaves [count][128].

    One note per key is measured, the loudest; each key then takes the median over the KEY_MEDIAN measured
    keys around it; keys without a note (held out, or outside the range) take the straight line between the
    nearest measured keys, and the nearest one's value beyond the ends. A SoundFont's instrument can follow
    its keys at another rate than a semitone each (sound effects), or switch to a sample an octave away
    for a few keys: one offset per instrument misses both. A kit, or an instrument without a note of clear
    pitch, gets 0 everywhere."""
    tables = []
    for inst in range(count):
        loudest: dict[int, int] = {}
        for i, (k, p) in enumerate(zip(instruments, pitches)):
            if k == inst and (p not in loudest or velocities[i] > velocities[loudest[p]]):
                loudest[p] = i
        measured = {} if drums[inst] else {p: _octaves(audio(i), p, sample_rate) for p, i in sorted(loudest.items())}
        keys = [p for p, r in measured.items() if r is not None]
        if not keys:
            tables.append([0.0] * KEYS)
            continue
        values = [measured[p] for p in keys]
        half = KEY_MEDIAN // 2
        smoothed = [float(np.median(values[max(0, j - half):j + half + 1])) for j in range(len(keys))]
        tables.append([float(v) for v in np.interp(np.arange(KEYS), keys, smoothed)])
        logger.debug("instrument %d: key tuning from %d keys, %+.0f to %+.0f cents", inst, len(keys),
                     1200 * min(smoothed), 1200 * max(smoothed))
    return tables


def tune_decoder(decoder: torch.nn.Module, config: ModelConfig, notes: DeviceNotes, drums: list[bool]) -> None:
    """Set the harmonic decoder's tuning per instrument (or per instrument and key, config.key_tuning) from the
    training notes of `notes`; `drums[i]` marks a kit. Measured, never learnt."""
    train = notes.train_index.numpy()
    count = len(drums)

    def audio(i: int):  # one training note at a time: the whole set may not fit twice
        return notes.notes(int(train[i])).cpu().numpy().astype("float32") / 32768
    labels = notes.labels
    instruments, pitches = labels["instrument"][train].tolist(), labels["pitch"][train].tolist()
    if config.key_tuning:
        tables = measure_key_tuning(audio, instruments, pitches, labels["velocity"][train].tolist(),
                                    drums, count, config.sample_rate)
        decoder.tuning.copy_(torch.tensor(tables))
        logger.info("tuning against the keys, per key, in cents: %s", ", ".join(
            f"{1200 * min(t):+.0f}..{1200 * max(t):+.0f}" for t, d in zip(tables, drums) if not d))
        return
    offsets = measure_tuning(audio, instruments, pitches, drums, count, config.sample_rate)
    decoder.tuning.copy_(torch.tensor(offsets))
    logger.info("tuning against the keys, in cents: %s",
                ", ".join(f"{1200 * o:+.0f}" for o, d in zip(offsets, drums) if not d))
