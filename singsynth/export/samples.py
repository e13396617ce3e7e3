"""A singsynth note as a SoundFont sample, and the generators that make a player sound it as the engine does.

A melodic note is kept up to its loop end, the loop's crossfade in place before it (model/sustain_loop.py), and
loops there for as long as it sounds, through the release too, as a voice does. A note that decays over its loop
is the one thing a sample loop cannot do by itself: the engine plays each pass at the level the previous one ended
at. So the exported loop is made level (the fitted fall undone from the loop start on) and the volume envelope
does the falling instead, from the loop start at the same dB per second; before the loop start the two are the
same samples, and after it the envelope falls as smoothly as the note did.

Envelope times follow FluidSynth, the player the export is checked with: its decay and release cover 96 dB in
their time (the SoundFont specification leaves the depth to the player; others take 100 dB, a 4 % difference).
"""
from __future__ import annotations

import math

import numpy as np

from ..io import sf2
from ..model.sustain_loop import Loop, crossfade
from ..synth.cache import Note
from ..synth.envelope import RELEASE_FLOOR

ENVELOPE_DB = 96.0  # what a player's decay and release fall in their time
ATTACK_SECONDS = 2 ** (sf2.MIN_TIMECENTS / 1200)  # the default attack, the shortest there is (1 ms)
# A drum hit sounds to its end whatever note-off says (the engine's one-shot voices): the longest release a
# SoundFont can give, 100 s, lets a hit released at once fall under 1 dB a second meanwhile.
ONE_SHOT_RELEASE = sf2.MAX_TIMECENTS
# The tail of a one-shot note this far under its peak is cut: below what 16 bits can hold of it.
TRIM_DB = -96.0


def timecents(seconds: float) -> int:
    """A SoundFont time: 1200 * log2(seconds), within what the format allows."""
    tc = round(1200 * math.log2(max(seconds, 1e-6)))
    return int(min(max(tc, sf2.MIN_TIMECENTS), sf2.MAX_TIMECENTS))


def release_generator(release_seconds: float, fall_db_per_second: float = 0.0) -> int:
    """releaseVolEnv for the engine's release: an exponential fall to -60 dB (RELEASE_FLOOR) in release_seconds,
    that is ENVELOPE_DB in proportionally more time. A note that decays goes on decaying in the engine while it is
    released, where a player's release takes over from its decay: the release falls faster by the decay's rate."""
    floor_db = -20 * math.log10(RELEASE_FLOOR)
    return timecents(ENVELOPE_DB / (floor_db / release_seconds + fall_db_per_second))


def looped_note(note: Note, loop: Loop) -> tuple[np.ndarray, float]:
    """The samples to export (up to the loop end, the crossfade in place) and the dB the loop falls over one pass,
    left to the volume envelope (0: the loop holds its level, as the engine plays it)."""
    l0, l1, x = loop
    data = note.data[:l1].astype(np.float32)
    fall = 0.0
    xfade = note.xfade if note.xfade is not None else crossfade(note.data, loop, note.loop_decay)
    if note.loop_decay != 1.0:
        fall = -20 * math.log10(note.loop_decay)
        ramp = np.clip(np.arange(l1 - l0, dtype=np.float64) / (l1 - l0), 0.0, 1.0)
        data[l0:] = data[l0:] * 10 ** (fall * ramp / 20)
        xfade = crossfade(data, loop, 1.0)
    data[l1 - x:l1] = xfade
    return data, fall


def one_shot_note(note: Note) -> np.ndarray:
    """A drum note up to where it falls under TRIM_DB of its peak (at least one sample)."""
    data = note.data
    peak = float(np.max(np.abs(data))) if len(data) else 0.0
    loud = np.flatnonzero(np.abs(data) > peak * 10 ** (TRIM_DB / 20)) if peak > 0 else np.array([0])
    return data[:int(loud[-1]) + 1].astype(np.float32)


def envelope_generators(loop: Loop, rate: int, fall_db: float, release_seconds: float) -> dict[int, int]:
    """The volume envelope of a looped note whose loop falls `fall_db` per pass: hold until the loop start, then a
    decay at that many dB per loop length, down to silence, and the release (release_generator); for a loop that
    holds its level, the release alone."""
    if fall_db <= 0:
        return {sf2.RELEASE_VOL_ENV: release_generator(release_seconds)}
    l0, l1, _ = loop
    per_second = fall_db * rate / (l1 - l0)
    return {sf2.HOLD_VOL_ENV: timecents(l0 / rate - ATTACK_SECONDS),
            sf2.DECAY_VOL_ENV: timecents(ENVELOPE_DB / per_second),
            sf2.SUSTAIN_VOL_ENV: 1000,  # 100 dB down: the decay never stops
            sf2.RELEASE_VOL_ENV: release_generator(release_seconds, per_second)}
