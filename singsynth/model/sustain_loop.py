"""The sustain loop of a note, and how much a pass of it decays.

A held melodic note loops: reading past 2.9 s (72.5 % of the note) jumps back to 1.5 s (37.5 %); the 50 ms
(1.25 %) before the loop end are a crossfade from the note into the 50 ms before the loop start (crossfade(),
stored with the note, its level kept whatever the phase in which the two ends meet), so the jump is seamless.
A decaying note (piano, guitar) is louder at the loop start than at its end: looped as it is, it would swell
back up at every pass. loop_decay() measures the gain one pass of the loop loses to the decay (1 for a steady
note: organ, strings); the crossfade meets the loop start at that lower level, and each pass plays at the level
the previous one ended at.
"""
from __future__ import annotations

import math

import numpy as np

LOOP_START, LOOP_END, LOOP_XFADE = 0.375, 0.725, 0.0125  # fractions of the note: 1.5 s, 2.9 s, 50 ms
DECAY_WINDOW = 0.005  # fraction of the note (20 ms): the window of each level measured for loop_decay()
MIN_DECAY_WINDOWS = 8  # fewer levels than this over the loop tell nothing reliable about the decay
STEADY_DB = 1.0  # a note falling less than this over one pass of the loop is held steady
LEVEL_FLOOR_DB = -120.0  # levels below count as this: silence has no log
# Ends in opposite phase would need an endless boost where they cancel: 12 dB at most.
MAX_CROSSFADE_GAIN = 4.0
# A sustaining note's loop is made level by at most this: a model note falling further is not a held note
# gone slightly wrong, and raising its end further would only make its noise loud.
MAX_LEVELLING_DB = 6.0

Loop = tuple[int, int, int]  # (loop start, loop end, crossfade length) in samples


def loop_points(note_len: int) -> Loop:
    """The loop of a note of note_len samples."""
    return int(note_len * LOOP_START), int(note_len * LOOP_END), max(int(note_len * LOOP_XFADE), 1)


def crossfade(data: np.ndarray, loop: Loop, decay: float = 1.0) -> np.ndarray:
    """The samples that replace the `x` before the loop end: the note fading into what precedes the loop
    start, that part at the level one pass of the loop decays to (`decay`, see loop_decay).

    The two ends are alike in part (a harmonic note's partials meet in some phase), so neither a linear fade
    (right for ends in phase) nor an equal-power one (right for unrelated ends) keeps the level: a linear fade
    scaled at each sample by the level the two ends' correlation predicts does, whatever it is."""
    l0, l1, x = loop
    end = data[l1 - x:l1].astype(np.float64)
    start = data[l0 - x:l0].astype(np.float64) * decay
    into = (np.arange(x, dtype=np.float64) + 0.5) / x
    out_of = 1.0 - into
    level_end, level_start = math.sqrt(np.mean(end * end)), math.sqrt(np.mean(start * start))
    if level_end == 0.0 or level_start == 0.0:
        return (end * out_of + start * into).astype(np.float32)
    r = float(np.mean(end * start)) / (level_end * level_start)
    wanted = out_of * level_end + into * level_start
    mixed = np.sqrt(np.maximum((out_of * level_end) ** 2 + (into * level_start) ** 2
                               + 2 * r * out_of * into * level_end * level_start, 0.0))
    gain = np.minimum(wanted / np.maximum(mixed, 1e-12), MAX_CROSSFADE_GAIN)
    return ((end * out_of + start * into) * gain).astype(np.float32)


def loop_fall(data: np.ndarray, loop: Loop) -> float:
    """How many dB a straight line fitted to the note's level over the loop (up to its crossfade) falls over
    the loop's length (negative: it grows); 0 for a note too short to tell."""
    l0, l1, x = loop
    width = max(int(len(data) * DECAY_WINDOW), 1)
    count = (l1 - x - l0) // width
    if count < MIN_DECAY_WINDOWS or len(data) < l1:
        return 0.0
    windows = data[l0:l0 + count * width].astype(np.float64).reshape(count, width)
    power = np.maximum(np.mean(windows * windows, axis=1), 10 ** (LEVEL_FLOOR_DB / 10))
    level = 10 * np.log10(power)
    centres = (np.arange(count) + 0.5) * width
    fall = -np.polyfit(centres, level, 1)[0] * (l1 - l0)  # the slope is in dB per sample
    return float(fall) if np.isfinite(fall) else 0.0


def loop_decay(data: np.ndarray, loop: Loop) -> float:
    """The gain one pass of the loop loses to the note's decay, 10^(-fall / 20) (loop_fall).

    1 (held steady) for a note growing or falling less than STEADY_DB, a silent one, or one too short to tell."""
    fall = loop_fall(data, loop)
    return 1.0 if fall < STEADY_DB else 10 ** (-fall / 20)


def level_loop(data: np.ndarray, loop: Loop) -> np.ndarray:
    """The note with its loop made level, for an instrument that sustains: from the loop start on, a gain that
    undoes the loop's fitted fall (at most MAX_LEVELLING_DB), held after the loop end, so that each pass ends
    as loud as the next begins and a held note neither sinks nor pulses."""
    l0, l1, _ = loop
    fall = float(np.clip(loop_fall(data, loop), -MAX_LEVELLING_DB, MAX_LEVELLING_DB))
    if fall == 0.0:
        return data
    ramp = np.clip((np.arange(len(data) - l0, dtype=np.float64)) / (l1 - l0), 0.0, 1.0)
    out = data.copy()
    out[l0:] = data[l0:] * 10 ** (fall * ramp / 20)
    return out
