"""Live: how many voices the engine may keep so that a block is mixed in time.

A live block must be ready before the device asks for it. When the machine cannot mix every sounding
voice within the block's period (a flood of notes, a slow CPU, other programs), either voices go or the
audio breaks up; a synthesizer must never break up. So the engine measures how long each block takes
and keeps its voice limit where the median of the last WINDOW blocks takes at most LOAD_SHARE of a
period. A median, so that one slow block (the one where a big chord starts, a page fault) is no load.
Over the share, the limit falls by the share the median was over, and the next cut waits for a full
window of blocks made after this one. Well under it, the limit climbs back by 1/128 of the polyphony a
block, up to the polyphony asked for. Voices over the limit fade out as stolen voices do (released
longest ago first, else the oldest).
"""
from __future__ import annotations

import collections
import math
import statistics

# Mixing may take this share of a block's period; the rest is for the MIDI input, the note generation
# thread and the audio callback, which share the CPU and Python's lock with it.
LOAD_SHARE = 0.65
# The limit climbs back only while the median block takes less than this share of the period.
CALM_SHARE = 0.45
# The blocks the median is taken over.
WINDOW = 5
# One cut takes at most this share of the voices.
MAX_CUT = 0.25
# The limit never falls below this many voices (or the polyphony, if smaller).
MIN_VOICES = 16


class VoiceBudget:
    def __init__(self, polyphony: int, share: float = LOAD_SHARE, calm: float = CALM_SHARE,
                 floor: int = MIN_VOICES, settle: float = 0.0):
        """settle: the seconds voices cut take to fade out (until then they still cost time): blocks
        made meanwhile do not count towards the next cut."""
        self.polyphony = int(polyphony)
        self.share, self.calm, self.settle = share, calm, settle
        self.floor = min(int(floor), self.polyphony)
        self.limit = self.polyphony
        self.lowest = self.polyphony  # the lowest limit reached
        self.climb = max(1, self.polyphony // 128)
        self.recent: collections.deque[float] = collections.deque(maxlen=WINDOW)  # shares of a period
        self._skip = 0  # blocks still to leave out after a cut

    @property
    def load(self) -> float:
        """The share of a period the last blocks took (their median); 0 before a full window."""
        return statistics.median(self.recent) if len(self.recent) == WINDOW else 0.0

    def update(self, took: float, period: float, voices: int) -> int:
        """After a block of `period` seconds that took `took` seconds to make with `voices` sounding (not
        fading out): the voice limit for the next blocks."""
        if self._skip:
            self._skip -= 1
            return self.limit
        self.recent.append(took / period)
        load = self.load
        if load > self.share:
            keep = max(self.share / load, 1 - MAX_CUT)
            self.limit = max(self.floor, min(self.limit, int(voices * keep)))
            self.lowest = min(self.lowest, self.limit)
            self.recent.clear()  # the next cut is judged on blocks made with fewer voices
            self._skip = math.ceil(self.settle / period)
        elif len(self.recent) == WINDOW and load < self.calm and self.limit < self.polyphony:
            self.limit = min(self.polyphony, self.limit + self.climb)
        return self.limit
