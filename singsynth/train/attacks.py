"""How a note starts: the step at its first sound and the time it takes to rise to half its peak.

step: the largest |sample| in the 0.25 ms after the first sample above 1e-4 of the note's peak, over that peak (a
note that jumps in is near 1 and clicks; a sampled instrument's is about 0.002). rise: seconds from that first
sample to the first sample at half the peak (a piano's few milliseconds, a string pad's hundreds)."""
from __future__ import annotations

import numpy as np

THRESHOLD = 1e-4
STEP_SECONDS = 0.25e-3


def step_and_rise(note: np.ndarray, sample_rate: int) -> tuple[float, float] | None:
    """A note's samples [n] -> (step, rise in seconds), or None for a silent note."""
    magnitude = np.abs(np.asarray(note, dtype=np.float64))
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak <= 0:
        return None
    first = int(np.argmax(magnitude > THRESHOLD * peak))
    window = magnitude[first:first + max(1, round(STEP_SECONDS * sample_rate))]
    half = first + int(np.argmax(magnitude[first:] >= 0.5 * peak))
    return float(window.max()) / peak, (half - first) / sample_rate
