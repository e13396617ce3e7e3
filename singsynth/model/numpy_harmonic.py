"""The harmonic-plus-noise output stage (model/harmonic.py) and a note's own vibrato, its oscillator and displaced
reading (model/vibrato.py), in numpy, for model/numpy_forward.py.

Each note's partial spread over the bins is the same in every frame: it is laid out once a stream (ArrayHarmonic.spread)
and kept with the stream's state, where torch lays it out again every chunk. Only a note's audible partials are
multiplied (the others are silent, and adding their exact zeros changes no sum). The noise's phases are torch's own:
its CPU generator is the 32-bit Mersenne Twister numpy also has, and torch.rand's float64 takes the low 53 bits of
two draws (tests/test_numpy_forward.py holds the table to torch's).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .config import (CONTROLS_PIVOT_KEY, CONTROLS_SLOPE_KEYS, DEEPEST_CENTS, DEPTH_GAIN, FARROW_DEGREE,
                     HIGHEST_RATE_HZ, LANCZOS_A, LOWEST_RATE_HZ, MAX_DISPLACEMENT_SECONDS, PLAY_DEAD_ZONE, ModelConfig)
from .numpy_ops import overlap_add, sigmoid, squared_hann

# model/harmonic.py
KERNEL_HALF_WIDTH = 8
GUARD_BINS = 16
AMPLITUDE_OFFSET = -3.0
NOISE_OFFSET = -5.0
NOISE_LEVEL = 16.0
NOISE_SEED = 20181203
INHARMONICITY_SCALE = 0.02


def control_offsets(rows: np.ndarray, instrument_weights: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """harmonic.py's control_offsets: rows [I, 2, C], weights [B, I], keys [B] -> [B, C] (float32)."""
    weights = instrument_weights.astype(np.float32)
    octaves = (pitch.astype(np.float32) - np.float32(CONTROLS_PIVOT_KEY)) / np.float32(CONTROLS_SLOPE_KEYS)
    return weights @ rows[:, 0] + octaves[:, None] * (weights @ rows[:, 1])


def exp_sigmoid(x: np.ndarray) -> np.ndarray:
    return 2.0 * sigmoid(x) ** np.float32(math.log(10.0)) + np.float32(1e-7)


def exact_exp2(x: np.ndarray) -> np.ndarray:
    return np.exp2(np.asarray(x, np.float32).astype(np.float64)).astype(np.float32)


def _dirichlet(nu: np.ndarray, n: int) -> np.ndarray:
    den = np.sin(math.pi * nu / n)
    small = np.abs(den) < 1e-6
    ratio = np.sin(math.pi * nu) / np.where(small, np.float32(1), den)
    return np.where(small, np.float32(n), ratio)


def hann_dtft(nu: np.ndarray, n: int) -> np.ndarray:
    """The periodic Hann window's DTFT at fractional bins nu, complex64 (harmonic.hann_dtft)."""
    inner_re = 0.5 * _dirichlet(nu, n) + 0.25 * math.cos(math.pi / n) * (_dirichlet(nu - 1, n) + _dirichlet(nu + 1, n))
    inner_im = 0.25 * math.sin(math.pi / n) * (_dirichlet(nu + 1, n) - _dirichlet(nu - 1, n))
    phase = -math.pi * nu * (n - 1) / n
    c, s = np.cos(phase), np.sin(phase)
    out = np.empty(nu.shape, np.complex64)
    out.real, out.imag = c * inner_re - s * inner_im, s * inner_re + c * inner_im
    return out


def torch_rand(seed: int, count: int) -> np.ndarray:
    """torch.rand(count, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), without torch."""
    bits = np.random.MT19937(0)
    bits._legacy_seeding(seed)  # std::mt19937's seeding of a 32-bit seed, as torch's CPU generator
    raw = bits.random_raw(2 * count).astype(np.uint64)
    x = ((raw[0::2] << np.uint64(32)) | raw[1::2]) & np.uint64((1 << 53) - 1)
    return x.astype(np.float64) * 2.0 ** -53


@functools.lru_cache(maxsize=4)
def noise_table(steps: int, bins: int) -> np.ndarray:
    """The Hann-windowed white noise of every frame [steps, bins], complex64 (HarmonicSynth.noise)."""
    phases = 2 * math.pi * torch_rand(NOISE_SEED, steps * bins).reshape(steps, bins)
    white = np.exp(1j * phases)
    below = np.concatenate([white[:, 1:2].conj(), white[:, :-1]], axis=1)
    above = np.concatenate([white[:, 1:], white[:, -2:-1].conj()], axis=1)
    return (0.5 * white - 0.25 * (below + above)).astype(np.complex64)


class ArrayHarmonic:
    """HarmonicDecoder's controls and HarmonicSynth, for features [B, T, H]."""

    def __init__(self, config: ModelConfig, w: dict[str, np.ndarray]):
        self.config = config
        self.bins = config.frame // 2 + 1
        self.index_offset = KERNEL_HALF_WIDTH + 1
        self.highest = config.sample_rate / 2 - GUARD_BINS * config.sample_rate / config.frame
        self.controls = (np.ascontiguousarray(w["decoder.controls.weight"][:, :, 0].T), w["decoder.controls.bias"])
        self.tuning = w["decoder.tuning"]
        self.inharmonicity = w.get("decoder.inharmonicity")
        self.control_offsets = w.get("decoder.control_offsets")
        self.harmonic_numbers = np.arange(1, config.harmonics + 1, dtype=np.float32)
        self.residual = None
        self.offset = 0.0
        if config.residual:
            window = squared_hann(config.frame)
            self.residual = np.ascontiguousarray(w["decoder.residual.weight"][:, 0, :] * window)
            self.offset = float(w["decoder.residual.bias"][0])
        self.warp = ArrayVibrato(config, w) if config.vibrato else None
        self.noise = noise_table(config.steps, self.bins)

    def frequencies(self, instrument_weights: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        """[B, I], [B] -> the partials' frequencies in Hz [B, K] (HarmonicDecoder.partial_frequencies)."""
        iw = instrument_weights.astype(np.float32)
        if self.config.key_tuning:
            offset = (iw * self.tuning[:, pitch].T).sum(1)
        else:
            offset = iw @ self.tuning
        # 2^x correctly rounded to float32 (through float64), as torch's scalar kernels give it; its vector kernels
        # may be an ulp off, and an ulp of a partial's frequency is a phase off by 1e-4 rad by the note's end
        octaves = (pitch.astype(np.float32) - np.float32(69.0)) / np.float32(12.0)
        f0 = np.float32(440.0) * exact_exp2(octaves) * exact_exp2(offset)
        k = self.harmonic_numbers
        freqs = f0[:, None] * k
        if self.inharmonicity is not None:
            b = iw @ (INHARMONICITY_SCALE * self.inharmonicity) ** 2
            freqs = freqs * np.sqrt(1 + b[:, None] * k ** 2)
        return freqs.astype(np.float32)

    def spread(self, freqs: np.ndarray) -> list[np.ndarray]:
        """Each note's audible partials spread over the bins, the same in every frame: [K_audible, offset + bins]
        complex64 a note (HarmonicSynth.harmonic_spectrum's spread)."""
        n, rate = self.config.frame, self.config.sample_rate
        size = self.index_offset + self.bins
        out = []
        for f in freqs:
            count = int(np.count_nonzero(f < self.highest))
            position = f[:count] * np.float32(n / rate)
            bins = np.round(position)[:, None] + np.arange(-KERNEL_HALF_WIDTH, KERNEL_HALF_WIDTH + 1, dtype=np.float32)
            kernel = hann_dtft(bins - position[:, None], n)
            spread = np.zeros((count, size), np.complex64)
            np.put_along_axis(spread, bins.astype(np.int64) + self.index_offset, kernel, axis=1)
            out.append(spread)
        return out

    def frames_and_displacement(self, features: np.ndarray, instrument_weights: np.ndarray, pitch: np.ndarray,
                                first_frame: int, spread: list[np.ndarray] | None = None,
                                freqs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Features [B, T, H] -> the overlap-added frames [B, (T-1)*stride + frame] and the displacements [B, T]
        (None without a vibrato head); `spread` and `freqs`: the notes' own, where a stream keeps them."""
        cfg = self.config
        k = cfg.harmonics
        controls = features @ self.controls[0]
        controls += self.controls[1]
        if self.control_offsets is not None:
            controls += control_offsets(self.control_offsets, instrument_weights, pitch)[:, None, :]
        amplitude = exp_sigmoid(controls[:, :, :1] + np.float32(AMPLITUDE_OFFSET))
        distribution = exp_sigmoid(controls[:, :, 1:1 + k])
        bands = exp_sigmoid(controls[:, :, 1 + k:] + np.float32(NOISE_OFFSET))
        if freqs is None:
            freqs = self.frequencies(instrument_weights, pitch)
        if spread is None:
            spread = self.spread(freqs)
        audible = (freqs < self.highest).astype(np.float32)[:, None, :]
        distribution = distribution * audible
        distribution /= np.maximum(distribution.sum(2, keepdims=True), np.float32(1e-7))
        noise = np.float32(NOISE_LEVEL * cfg.frame / 1024) * interpolate(bands, self.bins)
        wav = self.synth(0.5 * (amplitude * distribution), freqs, spread, noise, first_frame)
        if self.residual is not None:
            wav += overlap_add(features @ self.residual, cfg.stride)
        return wav, self.displacement(instrument_weights, pitch, first_frame, features.shape[1])

    def displacement(self, instrument_weights: np.ndarray, pitch: np.ndarray, first_frame: int,
                     frames: int) -> np.ndarray | None:
        """Each frame's displacement in samples [B, frames] where the model learns a vibrato, else None."""
        if self.warp is None:
            return None
        return self.warp.displacement(instrument_weights, pitch, first_frame, frames)

    def synth(self, amplitudes: np.ndarray, freqs: np.ndarray, spread: list[np.ndarray], noise: np.ndarray,
              first_frame: int) -> np.ndarray:
        """Partial amplitudes [B, T, K] (halved), frequencies [B, K], spreads, noise gains [B, T, bins] ->
        [B, (T - 1) * stride + frame] (HarmonicSynth.forward)."""
        cfg = self.config
        batch, count, _ = amplitudes.shape
        starts = (np.arange(count, dtype=np.float64) + first_frame) * cfg.stride - cfg.padding
        low = self.index_offset + 1
        spectrum = np.empty((batch, count, self.bins), np.complex64)
        for b in range(batch):
            audible = spread[b].shape[0]
            turns = np.remainder(freqs[b, :audible].astype(np.float64)[None, :] * starts[:, None] / cfg.sample_rate,
                                 1.0)
            psi = (2 * math.pi * turns).astype(np.float32)
            half = 0.5 * amplitudes[b, :, :audible]
            z = np.empty((count, audible), np.complex64)
            z.real, z.imag = half * np.cos(psi), half * np.sin(psi)
            full = z @ spread[b]  # [T, offset + bins]
            # a real signal: the negative-frequency images of the low partials folded back
            full[:, self.index_offset:self.index_offset + low] += full[:, :low][:, ::-1].conj()
            spectrum[b] = full[:, self.index_offset:]
        spectrum += noise * self.noise[first_frame:first_frame + count]
        frames = np.fft.irfft(spectrum, n=cfg.frame, axis=2).astype(np.float32, copy=False)
        return overlap_add(frames, cfg.stride)


def interpolate(bands: np.ndarray, size: int) -> np.ndarray:
    """F.interpolate(mode="linear", align_corners=True) along the last axis: [B, T, n] -> [B, T, size]."""
    n = bands.shape[2]
    if n == 1:
        return np.repeat(bands, size, axis=2)
    scale = np.float32((n - 1) / (size - 1))
    src = scale * np.arange(size, dtype=np.float32)
    lo = np.minimum(src.astype(np.int64), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    lam = (src - lo).astype(np.float32)
    return bands[:, :, lo] * (1 - lam) + bands[:, :, hi] * lam


# -- a note's own vibrato (model/vibrato.py): an oscillator per note, and the displaced reading --



class ArrayVibrato:
    """VibratoHead in play: each note's depth, rate and phase from its instrument and key, and the displacement at
    frame centres they make."""

    def __init__(self, config: ModelConfig, w: dict[str, np.ndarray]):
        self.config = config
        self.instrument = w["decoder.warp.instrument"]
        self.layers = (np.ascontiguousarray(w["decoder.warp.layers.0.weight"].T), w["decoder.warp.layers.0.bias"],
                       np.ascontiguousarray(w["decoder.warp.layers.2.weight"].T), w["decoder.warp.layers.2.bias"])

    def parameters(self, instrument_weights: np.ndarray, pitch: np.ndarray):
        """[B, I], [B] -> depth (cents), rate (Hz) and phase (radians) [B] each (VibratoHead.forward)."""
        key = (pitch.astype(np.float32) - np.float32(64.0)) / np.float32(32.0)
        x = np.concatenate([instrument_weights.astype(np.float32) @ self.instrument, key[:, None],
                            np.square(key)[:, None]], axis=1)
        w0, b0, w2, b2 = self.layers
        out = np.maximum(x @ w0 + b0, 0) @ w2 + b2
        depth = np.float32(DEEPEST_CENTS) * sigmoid(np.float32(DEPTH_GAIN) * out[:, 0])
        rate = np.float32(LOWEST_RATE_HZ) * (np.float32(HIGHEST_RATE_HZ / LOWEST_RATE_HZ) **
                                             sigmoid(out[:, 1].copy()).astype(np.float64)).astype(np.float32)
        return depth, rate, np.arctan2(out[:, 3], out[:, 2])

    def displacement(self, instrument_weights: np.ndarray, pitch: np.ndarray, first_frame: int,
                     frames: int) -> np.ndarray:
        """Frames first_frame.. -> each one's displacement in samples [B, frames] (vibrato.oscillator, in play: within
        the dead zone exactly 0). Notes whose oscillator cannot leave the dead zone get 0 without computing it."""
        cfg = self.config
        depth, rate, phase = self.parameters(instrument_weights, pitch)
        a = np.exp2(depth.astype(np.float64) / 1200) - 1
        w = 2 * math.pi * rate.astype(np.float64)
        g = np.zeros((len(depth), frames), np.float32)
        moving = np.flatnonzero(2 * cfg.sample_rate * a / w > PLAY_DEAD_ZONE)  # |g| is at most 2 sr a / w
        if len(moving):
            k = np.arange(first_frame, first_frame + frames, dtype=np.float64)
            t = np.maximum((k * cfg.stride + cfg.frame / 2 - cfg.padding) / cfg.sample_rate, 0)
            p = phase[moving].astype(np.float64)[:, None]
            moved = ((cfg.sample_rate * a[moving] / w[moving])[:, None]
                     * (np.cos(p) - np.cos(w[moving][:, None] * t[None, :] + p))).astype(np.float32)
            g[moving] = np.sign(moved) * np.maximum(np.abs(moved) - np.float32(PLAY_DEAD_ZONE), 0)
        return g


def reach_samples(sample_rate: int) -> int:
    return math.ceil(MAX_DISPLACEMENT_SECONDS * sample_rate) + LANCZOS_A + 1


def displacement_at(displacement: np.ndarray, first_frame: int, start: int, count: int, frame: int,
                    stride: int) -> np.ndarray:
    frames = displacement.shape[1]
    p = np.arange(start, start + count, dtype=np.float64)
    u = np.clip((p - frame / 2) / stride - first_frame, 0, frames - 1)
    lo = np.minimum(np.floor(u).astype(np.int64), max(frames - 2, 0))
    hi = np.minimum(lo + 1, frames - 1)
    w = (u - lo).astype(displacement.dtype)
    return displacement[:, lo] * (1 - w) + displacement[:, hi] * w


@functools.lru_cache(maxsize=None)
def farrow_coefficients() -> np.ndarray:
    """The Lanczos kernel's taps as polynomials in u - 1/2: [degree + 1, 2A] (vibrato.farrow_coefficients)."""
    u = np.linspace(0, 1, 4097, dtype=np.float64)
    taps = np.arange(-LANCZOS_A + 1, LANCZOS_A + 1, dtype=np.float64)
    distance = u[:, None] - taps
    w = np.sinc(distance) * np.sinc(distance / LANCZOS_A)
    w = w / w.sum(1, keepdims=True)
    powers = (u - 0.5)[:, None] ** np.arange(FARROW_DEGREE + 1, dtype=np.float64)
    return np.linalg.lstsq(powers, w, rcond=None)[0].astype(np.float32)


def read_displaced(x: np.ndarray, offset: int, g: np.ndarray) -> np.ndarray:
    """Samples x [B, L]; output j read at offset + j + g[:, j] (vibrato.read_displaced); rows whose g is all 0
    copied."""
    batch, count = g.shape
    length = x.shape[1]
    positions = np.arange(offset, offset + count)
    plain = np.zeros((batch, count), x.dtype)
    inside = (positions >= 0) & (positions < length)
    plain[:, inside] = x[:, positions[inside]]
    moving = np.flatnonzero((g != 0).any(1))
    if len(moving):
        plain[moving] = _displaced(x[moving], positions, g[moving])
    return plain


def _displaced(xs: np.ndarray, positions: np.ndarray, gs: np.ndarray) -> np.ndarray:
    length = xs.shape[1]
    whole = np.floor(gs)
    u = (gs - whole - 0.5).astype(xs.dtype)
    base = positions[None, :] + whole.astype(np.int64)
    valid = (base >= 0) & (base < length)
    base = np.clip(base, 0, length - 1)
    padded = np.pad(xs, ((0, 0), (LANCZOS_A - 1, LANCZOS_A)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * LANCZOS_A, axis=1)  # [B, L, 2A]
    filtered = windows @ farrow_coefficients().T  # [B, L, degree + 1]
    rows = np.arange(len(xs))[:, None]
    moved = np.zeros_like(u)
    for m in reversed(range(FARROW_DEGREE + 1)):  # Horner
        moved = moved * u + filtered[rows, base, m]
    return moved * valid


def warp_note(wav: np.ndarray, wav_start: int, displacement: np.ndarray, first_frame: int, start: int, count: int,
              frame: int, stride: int) -> np.ndarray:
    g = displacement_at(displacement, first_frame, start, count, frame, stride)
    return read_displaced(wav, start - wav_start, g)
