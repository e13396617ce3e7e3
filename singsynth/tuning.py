"""Each instrument's tuning against its keys, measured once from training notes for the harmonic decoder."""
from __future__ import annotations

import logging
import math

import numpy as np

from .pitch import estimate_f0, midi_to_hz

logger = logging.getLogger(__name__)

NOTES_PER_INSTRUMENT = 24  # spread over the instrument's pitches; a median of 24 shrugs off octave slips


def measure_tuning(audio: np.ndarray, instruments: list[int], pitches: list[int], drums: list[bool],
                   count: int) -> list[float]:
    """Per instrument, the median of log2(f0 of the note / f0 of its key), in octaves.

    audio [N, T] int16 or float with the notes' instrument indices and MIDI pitches [N]; `drums[i]` marks a
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
        ratios = []
        for i in (rows[p] for p in picks):
            f0 = estimate_f0(np.asarray(audio[i], dtype=np.float32) / (32768.0 if audio.dtype == np.int16 else 1.0))
            if f0:
                ratios.append(math.log2(f0 / midi_to_hz(pitches[i])))
        offsets.append(float(np.median(ratios)) if ratios else 0.0)
        logger.debug("instrument %d: tuning %+.1f cents from %d notes", inst, 1200 * offsets[-1], len(ratios))
    return offsets
