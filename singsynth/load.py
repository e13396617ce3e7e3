"""Live: how many voices the engine may keep so that a block is mixed in time.

A live block must be ready before the device asks for it. When the machine cannot mix every sounding
voice within the block's period (a flood of notes, a slow CPU, other programs), either voices go or the
audio breaks up; a synthesizer must never break up. So the engine measures how long each block took
and keeps its voice limit where blocks take at most LOAD_SHARE of a period: over it, the limit falls at
once, by the share the block was over; well under it, the limit climbs back a voice or two a block,
up to the polyphony asked for. Voices over the limit fade out as stolen voices do (released longest ago
first, else the oldest).
"""
from __future__ import annotations

# Mixing may take this share of a block's period; the rest is for the MIDI input, the note generation
# thread and the audio callback, which share the CPU and Python's lock with it.
LOAD_SHARE = 0.5
# The limit climbs back only while blocks take less than this share of the period.
CALM_SHARE = 0.35
# One slow block (a page fault, another program's burst) cuts at most this share of the voices.
MAX_CUT = 0.25
# The limit never falls below this many voices (or the polyphony, if smaller).
MIN_VOICES = 16


class VoiceBudget:
    def __init__(self, polyphony: int, share: float = LOAD_SHARE, calm: float = CALM_SHARE,
                 floor: int = MIN_VOICES):
        self.polyphony = int(polyphony)
        self.share, self.calm = share, calm
        self.floor = min(int(floor), self.polyphony)
        self.limit = self.polyphony
        self.lowest = self.polyphony  # the lowest limit reached
        self.climb = max(1, self.polyphony // 128)

    def update(self, took: float, period: float, voices: int) -> int:
        """After a block of `period` seconds that took `took` seconds to make with `voices` sounding:
        the voice limit for the next blocks."""
        budget = self.share * period
        if took > budget:
            keep = max(budget / took, 1 - MAX_CUT)
            self.limit = max(self.floor, min(self.limit, int(voices * keep)))
            self.lowest = min(self.lowest, self.limit)
        elif took < self.calm * period and self.limit < self.polyphony:
            self.limit = min(self.polyphony, self.limit + self.climb)
        return self.limit
