"""Freeverb (Jezar at Dreampoint, 2000, public domain), the reverb FluidSynth played until 2.1: 8 parallel
lowpass-feedback combs and 4 series allpasses per side, the right side's delays 23 samples longer."""
from __future__ import annotations

import numpy as np

from .settings import ReverbSettings

# Freeverb's tuning (tuning.h), in samples at 44.1 kHz
COMBS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASSES = (556, 441, 341, 225)
STEREO_SPREAD = 23
FIXED_GAIN = 0.015  # input gain
SCALE_WET = 3.0
SCALE_DAMP = 0.4
SCALE_ROOM = 0.28
OFFSET_ROOM = 0.7


class Reverb:
    """A stereo Freeverb at `sample_rate`: process(x [n] mono send, out [n, 2]) adds its output to out.

    Its state is cut to zeros once its output stays below `threshold` for a whole stretch of kernels.GRID frames
    without input (-80 dB: the tail is rendered to silence, then is exactly silent, never denormal)."""

    def __init__(self, settings: ReverbSettings, sample_rate: int, threshold: float = 1e-4):
        scale = sample_rate / 44100
        lengths = [max(1, round(d * scale)) for d in COMBS] + [max(1, round((d + STEREO_SPREAD) * scale))
                                                               for d in COMBS]
        ap = [max(1, round(d * scale)) for d in ALLPASSES] + [max(1, round((d + STEREO_SPREAD) * scale))
                                                              for d in ALLPASSES]
        self.comb_len = np.array(lengths, dtype=np.int64)
        self.ap_len = np.array(ap, dtype=np.int64)
        self.combs = np.zeros((16, max(lengths)), dtype=np.float32)
        self.allpasses = np.zeros((8, max(ap)), dtype=np.float32)
        self.comb_pos = np.zeros(16, dtype=np.int64)
        self.ap_pos = np.zeros(8, dtype=np.int64)
        self.comb_lp = np.zeros(16, dtype=np.float32)
        self.tracker = np.array([0.0, 0.0, 0.0, 1.0])  # frames, input heard, output peak, state all zero
        self.threshold = float(threshold)
        self.settings = settings
        wet = settings.level * SCALE_WET
        f32 = np.float32
        self.feedback = f32(settings.room * SCALE_ROOM + OFFSET_ROOM)
        self.damp1 = f32(settings.damp * SCALE_DAMP)
        self.damp2 = f32(1 - settings.damp * SCALE_DAMP)
        self.gain = f32(FIXED_GAIN)
        self.wet1 = f32(wet * (settings.width / 2 + 0.5))
        self.wet2 = f32(wet * ((1 - settings.width) / 2))

    @property
    def silent(self) -> bool:
        """Its state is all zeros: with silent input, its output is exactly zero."""
        return self.tracker[3] == 1.0

    def clear(self) -> None:
        """Silent from now on: every delay line and filter at zero (the frame count goes on)."""
        self.combs[:] = 0
        self.allpasses[:] = 0
        self.comb_lp[:] = 0
        self.tracker[1:] = (0.0, 0.0, 1.0)

    def skip(self, n: int) -> None:
        """n frames of silent input while silent: what the kernel would do, count them and add exact zeros."""
        assert self.silent
        self.tracker[0] += n

    def process(self, x: np.ndarray, out: np.ndarray) -> None:
        """x: float32 [n], the sum of the left and right sends; adds the reverb to out, float32 [n, 2]."""
        if self.silent and not x.any():
            self.skip(len(x))
            return
        from .kernels import freeverb
        freeverb(x, out, self.combs, self.comb_len, self.comb_pos, self.comb_lp, self.allpasses, self.ap_len,
                 self.ap_pos, self.tracker, self.feedback, self.damp1, self.damp2, self.gain, self.wet1,
                 self.wet2, np.float32(self.threshold))
