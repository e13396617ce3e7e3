"""A stereo chorus: modulated delay lines after FluidSynth's (fluid_chorus.c): each voice reads the input
back at a delay swept by a sine between about 0 and `depth` ms, the voices' sines spread evenly over a cycle."""
from __future__ import annotations

import numpy as np

from .settings import ChorusSettings

MIN_DELAY = 2  # samples: a read never reaches the frame being written


class Chorus:
    """process(x [n, 2], out [n, 2]) adds the chorus of the stereo send x to out. Each side is chorused from its
    own input, the right side's sines a quarter cycle after the left's, so the two sides differ."""

    def __init__(self, settings: ChorusSettings, sample_rate: int):
        self.settings = settings
        self.depth = settings.depth / 1000 * sample_rate / 2  # sine amplitude, samples
        self.center = self.depth + MIN_DELAY
        self.size = int(np.ceil(self.center + self.depth)) + 2 * MIN_DELAY
        self.line = np.zeros((2, self.size), dtype=np.float32)
        self.pos = np.array([0, 0, -1], dtype=np.int64)  # frames processed, write index, the LFO values' frame
        self.lfo = np.zeros((2, settings.voices, 2))
        self.step = settings.rate / sample_rate  # LFO cycles per frame
        # FluidSynth divides its level by its stereo unit's gain; here the level is shared by the voices
        self.wet = settings.level / settings.voices
        self.since_input = self.size  # frames since the last non-zero input: the line is all zero past its size

    @property
    def silent(self) -> bool:
        return self.since_input >= self.size

    def clear(self) -> None:
        """Silent from now on: the delay line at zero (the clocks go on)."""
        self.line[:] = 0
        self.since_input = self.size

    def skip(self, n: int) -> None:
        """n frames of silent input while silent: what the kernel would do, move the clocks on and add exact
        zeros (the line holds zeros only)."""
        self.pos[0] += n
        self.pos[1] = (self.pos[1] + n) % self.size
        self.since_input += n

    def process(self, x: np.ndarray, out: np.ndarray) -> None:
        n = len(x)
        sounding = x.any()
        if not sounding and self.silent:
            self.skip(n)
            return
        from .kernels import chorus
        chorus(x, out, self.line, self.pos, self.lfo, self.settings.voices, self.center, self.depth, self.step,
               self.wet)
        if not sounding:
            self.since_input += n
        elif x[-1].any():  # most blocks: sound to the end
            self.since_input = 0
        else:
            self.since_input = n - 1 - int(np.flatnonzero(x.any(axis=1))[-1])
