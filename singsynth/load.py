"""Live: how many voices the engine may keep so that a block is mixed in time.

A live block must be ready before the device asks for it. When the machine cannot mix every sounding
voice within the block's period (a flood of notes, a slow CPU, other programs), either voices go or the
audio breaks up; a synthesizer must never break up. So the engine measures how long each block took
and keeps its voice limit where blocks take at most LOAD_SHARE of a period, on average over the last
few blocks (one slow block, such as the one where a big chord starts, is not a load): over it, the
limit falls by the share it was over, then waits a few blocks to see the effect; well under it, the
limit climbs back a voice or two a block, up to the polyphony asked for. Voices over the limit fade
out as stolen voices do (released longest ago first, else the oldest).
"""
from __future__ import annotations

# Mixing may take this share of a block's period; the rest is for the MIDI input, the note generation
# thread and the audio callback, which share the CPU and Python's lock with it.
LOAD_SHARE = 0.5
# The limit climbs back only while blocks take less than this share of the period.
CALM_SHARE = 0.35
# How fast the average follows each block's time: about the last 1 / SMOOTHING blocks count.
SMOOTHING = 0.2
# One cut takes at most this share of the voices; the next comes HOLD blocks later at the earliest,
# once the voices cut have faded out and the average shows what the cut did.
MAX_CUT = 0.25
HOLD = 3
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
        self.load = 0.0  # the share of a period blocks have been taking, on average
        self._hold = 0  # blocks before the next cut may come

    def update(self, took: float, period: float, voices: int) -> int:
        """After a block of `period` seconds that took `took` seconds to make with `voices` sounding:
        the voice limit for the next blocks."""
        self.load += SMOOTHING * (took / period - self.load)
        self._hold = max(self._hold - 1, 0)
        if self.load > self.share:
            if not self._hold:
                keep = max(self.share / self.load, 1 - MAX_CUT)
                self.limit = max(self.floor, min(self.limit, int(voices * keep)))
                self.lowest = min(self.lowest, self.limit)
                self._hold = HOLD
        elif self.load < self.calm and self.limit < self.polyphony:
            self.limit = min(self.polyphony, self.limit + self.climb)
        return self.limit
