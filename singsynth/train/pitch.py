"""Fundamental-frequency estimation of a note: YIN for the period, a long spectrum for the cents."""
from __future__ import annotations

import math

import numpy as np

from ..model.config import SAMPLE_RATE

# MIDI 21 (27.5 Hz) to 108 (4186 Hz), with some room either side.
F0_MIN = 25.0
F0_MAX = 4500.0
# The sustained part of an NSynth note: after the attack, before the release at 3 s.
SUSTAIN = (0.2, 2.5)
YIN_THRESHOLD = 0.15
# A frame whose best normalised difference stays above this has no period worth the name.
VOICED_THRESHOLD = 0.3
# Frames this far below the loudest frame are taken as silence.
SILENCE_DB = 50.0
MIN_VOICED_FRAMES = 3
UPSAMPLE = 4  # YIN's lag resolution: a quarter sample
# Octave check: partials are looked for this many semitones either side of their place (narrow, so
# that aliased and noise peaks seldom fall in), and count as missing under OFF_SHARE of the power,
# as present over FADED_SHARE.
OCTAVE_WIDTH = 0.1
OFF_SHARE = 10 ** (-25 / 10)
FADED_SHARE = 10 ** (-20 / 10)


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def hz_to_midi(f0: float) -> float:
    return 69 + 12 * math.log2(f0 / 440.0)


def cents(f0: float, reference: float) -> float:
    """Signed distance from `reference` to `f0` in cents (100 per semitone)."""
    return 1200.0 * math.log2(f0 / reference)


def within(f0: float | None, reference: float, tolerance: float) -> bool:
    """True when f0 exists and lies within `tolerance` cents of `reference`."""
    return f0 is not None and f0 > 0 and abs(cents(f0, reference)) <= tolerance


def _frames(wav: np.ndarray, length: int, hop: int) -> np.ndarray:
    count = 1 + (len(wav) - length) // hop
    index = np.arange(length)[None, :] + hop * np.arange(count)[:, None]
    return wav[index]


def _cmnd(frames: np.ndarray, window: int, max_lag: int, upsample: int) -> np.ndarray:
    """YIN's cumulative mean normalised difference d'(tau) (de Cheveigné & Kawahara, 2002), at lags
    0, 1/upsample, 2/upsample, ... max_lag samples [frames, max_lag * upsample + 1].

    Fractional lags matter: a 4 kHz period lasts under four samples, and at whole lags its dip is
    missed, leaving a multiple of the period (an octave error) as the best match."""
    n = frames.shape[1]
    size = 1 << (n + window).bit_length()
    spec = np.fft.rfft(frames, size)
    head = np.fft.rfft(frames[:, :window], size)
    # r(tau) = sum_{j < window} x_j x_{j + tau}, band-limited interpolation by zero padding the spectrum
    fine = max_lag * upsample + 1
    corr = np.fft.irfft(np.conj(head) * spec, size * upsample)[:, :fine] * upsample
    energy = np.cumsum(np.pad(frames ** 2, ((0, 0), (1, 0))), axis=1)
    lags = np.arange(fine) / upsample
    whole = np.arange(max_lag + 1)
    shifted = energy[:, whole + window] - energy[:, whole]
    shifted = np.stack([np.interp(lags, whole, row) for row in shifted])
    diff = np.maximum(shifted[:, :1] + shifted - 2 * corr, 0.0)
    running = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, fine)
    out = np.ones_like(diff)
    out[:, 1:] = diff[:, 1:] / np.maximum(running, 1e-12)
    return out


def _period(d: np.ndarray, min_lag: int) -> tuple[float, float] | None:
    """The period in lag steps (interpolated) and its aperiodicity, from one frame's d'."""
    inner = d[min_lag:-1]
    is_min = (inner <= d[min_lag - 1:-2]) & (inner < d[min_lag + 1:])
    minima = np.flatnonzero(is_min) + min_lag
    if len(minima) == 0:
        return None
    best = d[minima].min()
    if best > VOICED_THRESHOLD:
        return None
    # YIN's rule: the first dip under the threshold, since the best one is often a multiple of the period
    good = minima[d[minima] < YIN_THRESHOLD]
    tau = int(good[0]) if len(good) else int(minima[np.argmin(d[minima])])
    a, b, c = d[tau - 1], d[tau], d[tau + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom > 0 else 0.0
    return tau + float(np.clip(shift, -0.5, 0.5)), float(b)


def _yin_f0(segment: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Frame-wise f0 (NaN where unvoiced), which frames are audible, frame starts, frame length."""
    max_lag = int(math.ceil(sample_rate / F0_MIN))
    window = 2 * max_lag  # two periods of the lowest pitch in every frame
    hop = window // 2
    length = window + max_lag
    if len(segment) < length:
        return np.full(0, np.nan), np.zeros(0, dtype=bool), np.zeros(0, dtype=int), length
    frames = _frames(segment.astype(np.float64), length, hop)
    starts = hop * np.arange(len(frames))
    level = np.sqrt((frames[:, :window] ** 2).mean(1))
    loud = level > max(level.max() * 10 ** (-SILENCE_DB / 20), 1e-5)
    f0 = np.full(len(frames), np.nan)
    if not loud.any():
        return f0, loud, starts, length
    d = _cmnd(frames[loud], window, max_lag, UPSAMPLE)
    min_lag = int(UPSAMPLE * sample_rate / F0_MAX)
    for row, i in zip(d, np.flatnonzero(loud)):
        found = _period(row, min_lag)
        if found is not None:
            f0[i] = UPSAMPLE * sample_rate / found[0]
    return f0, loud, starts, length


def _peak(spectrum: np.ndarray, lo: int, hi: int) -> tuple[float, float] | None:
    """Interpolated (bin, log magnitude) of the largest local maximum within bins [lo, hi]."""
    lo, hi = max(lo, 1), min(hi, len(spectrum) - 2)
    if hi <= lo:
        return None
    k = lo + int(np.argmax(spectrum[lo:hi + 1]))
    if k in (lo, hi) and not (spectrum[k] > spectrum[k - 1] and spectrum[k] > spectrum[k + 1]):
        return None  # the window's edge: leakage from a neighbour, not a partial
    a, b, c = spectrum[k - 1], spectrum[k], spectrum[k + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return k + shift, b - 0.25 * (a - c) * shift


class _Spectrum:
    """Log magnitude of one long zero-padded spectrum: partials resolved to a fraction of a cent."""

    def __init__(self, segment: np.ndarray, sample_rate: int):
        size = 1 << (4 * len(segment) - 1).bit_length()  # zero padding: smooth peaks to interpolate
        self.log = np.log(np.abs(np.fft.rfft(segment * np.hanning(len(segment)), size)) + 1e-12)
        self.bin_hz = sample_rate / size
        self.top = 0.95 * sample_rate / 2  # above this the anti-alias roll-off distorts partials

    def partial(self, freq: float, width: float) -> tuple[float, float] | None:
        """(frequency, log magnitude) of the peak within `width` semitones of freq, if there is one."""
        if freq * 2 ** (width / 12) > self.top:
            return None
        lo = int(freq * 2 ** (-width / 12) / self.bin_hz)
        hi = int(math.ceil(freq * 2 ** (width / 12) / self.bin_hz))
        peak = _peak(self.log, lo, hi)
        return None if peak is None else (peak[0] * self.bin_hz, peak[1])

    def off_share(self, f0: float, k: int, count: int = 8) -> float:
        """Share of the power of the first `count` partials of f0 found off the multiples of k."""
        power = {h: 0.0 for h in range(1, count + 1)}
        for h in power:
            if h * f0 * 2 ** (OCTAVE_WIDTH / 12) > self.top:
                break
            lo = int(h * f0 * 2 ** (-OCTAVE_WIDTH / 12) / self.bin_hz)
            hi = int(math.ceil(h * f0 * 2 ** (OCTAVE_WIDTH / 12) / self.bin_hz))
            power[h] = float(np.exp(2 * self.log[lo:hi + 1].max()))
        total = sum(power.values())
        return sum(p for h, p in power.items() if h % k) / total if total > 0 else 0.0


def _fix_octave(spectrum: _Spectrum, f0: float) -> float:
    """Correct YIN's period by whole multiples, judged on the partials.

    f0 is k times too low when its partials off the multiples of k are missing (aliased or noisy
    notes, whose waveform repeats better over two periods than one); twice too high when the odd
    partials of f0 / 2 hold real power (a fundamental that has faded: plucked strings)."""
    for k in (2, 3):
        while f0 * k <= F0_MAX and spectrum.off_share(f0, k) < OFF_SHARE:
            f0 *= k
    # once only, and only where the lower candidate has partials enough to judge by
    if f0 / 2 >= F0_MIN and 3 * f0 < spectrum.top and spectrum.off_share(f0 / 2, 2) > FADED_SHARE:
        f0 /= 2
    return f0


def _refine(spectrum: _Spectrum, f0: float, harmonics: int = 8) -> float:
    """Sharpen f0 with the partials: YIN's interpolated lag is coarse at the short periods of high notes,
    a spectral peak over seconds is exact to a cent."""
    for width in (0.6, 0.2):  # semitones either side: wide first, then around the improved estimate
        found = [(peak[0] / h, peak[1]) for h in range(1, harmonics + 1)
                 if (peak := spectrum.partial(h * f0, width)) is not None]
        if not found:
            return f0
        estimates, levels = np.array(found).T
        strong = levels > levels.max() - math.log(100)  # partials within 40 dB of the strongest
        weights = np.exp(levels[strong] - levels.max())
        f0 = float(np.sum(estimates[strong] * weights) / np.sum(weights))
    return f0


def estimate_f0(wav: np.ndarray, sample_rate: int = SAMPLE_RATE, sustain: tuple[float, float] = SUSTAIN,
                min_voiced: float = 0.5) -> float | None:
    """f0 in Hz of a note's sustained part, or None when it has no reliable pitch.

    The period is the median over the voiced frames of YIN; the note counts as pitched when at
    least `min_voiced` of its audible frames are voiced and agree on that period within a semitone."""
    wav = np.asarray(wav, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(wav)):
        return None
    segment = wav[int(sustain[0] * sample_rate):int(sustain[1] * sample_rate)]
    f0s, audible, starts, length = _yin_f0(segment, sample_rate)
    voiced = np.isfinite(f0s)
    if voiced.sum() < MIN_VOICED_FRAMES:
        return None
    coarse = float(np.median(f0s[voiced]))
    agree = voiced & (np.abs(12 * np.log2(np.where(voiced, f0s, coarse) / coarse)) < 1)
    if agree.sum() < max(MIN_VOICED_FRAMES, min_voiced * audible.sum()):
        return None
    # the spectrum covers the voiced span only, so a decayed tail adds no noise to the partials
    first, last = np.flatnonzero(agree)[[0, -1]]
    spectrum = _Spectrum(segment[starts[first]:starts[last] + length], sample_rate)
    # refine first: the octave check looks for partials in windows too narrow for YIN's error
    f0 = _refine(spectrum, coarse)
    fixed = _fix_octave(spectrum, f0)
    return f0 if fixed == f0 else _refine(spectrum, fixed)
