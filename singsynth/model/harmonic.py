"""The harmonic-plus-noise output stage: per frame, how loud each harmonic of the note's known pitch is and
how loud the noise is in each band, synthesised in SING's own framing.

The controls follow DDSP's oscillators (Engel, Hantrakul, Gu, Roberts, "DDSP: Differentiable Digital Signal
Processing", ICLR 2020). Each 1024-sample frame is built as one spectrum: the DFT of Hann-windowed sinusoids
whose phase is the whole note's phase at the frame's start. Overlap-added at stride 256, the frames hold every
partial at exactly its frequency, phase-continuous across frames, with no oscillator state to carry: a frame
depends only on its own controls and its absolute index, so a streamed note equals the whole note.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import CONTROLS_PIVOT_KEY, CONTROLS_SLOPE_KEYS, ModelConfig
from .overlap import transposed_overlap_add
from .vibrato import Framing, VibratoHead
from .whole_note import whole_note

# Bins kept each side of a partial: a constant sinusoid then comes out 64 dB clean or better (6 bins: 58 dB).
KERNEL_HALF_WIDTH = 8
# Partials at or above this are silent: a partial's kernel reaches 8 bins up, so 16 bins below Nyquist keeps it
# clear (at 16 kHz and 1024-sample frames: 7750 Hz; at 48 kHz and 3072: 23750 Hz).
GUARD_BINS = 16
HIGHEST_PARTIAL_HZ = 7750.0  # SING's 16 kHz framing


def highest_partial_hz(config: ModelConfig) -> float:
    return config.sample_rate / 2 - GUARD_BINS * config.sample_rate / config.frame
# Controls start quiet, so a fresh model is near silence rather than loud noise.
AMPLITUDE_OFFSET = -3.0
NOISE_OFFSET = -5.0
# Unit band gains give noise of RMS about 0.6 at 16 kHz (irfft of unit magnitudes: RMS 1/32; Hann frames at
# stride 256 sum to 1.5 in power).
NOISE_LEVEL = 16.0


def noise_level(config: ModelConfig) -> float:
    """NOISE_LEVEL for 1024-sample frames. A bin is 15.6 Hz in either framing (1024 at 16 kHz, 3072 at 48 kHz)
    and irfft divides by the frame's length, so the gains scale with it to keep the noise's level per Hz."""
    return NOISE_LEVEL * config.frame / 1024
NOISE_SEED = 20181203
# Inharmonicity B = (scale * raw)^2: non-negative, and Adam's steps of about lr in raw move B over the
# range that strings have (1e-5 .. 1e-3 for raw 0.16 .. 1.6).
INHARMONICITY_SCALE = 0.02
INHARMONICITY_START = 0.1
# Tensors a preset keeps in float32: a tuning offset in fp16 would be off by up to a cent.
FULL_PRECISION = ("decoder.tuning", "decoder.inharmonicity")


def exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's positive control: 2 sigmoid(x)^ln 10 + 1e-7, from silence to +6 dB."""
    return 2.0 * torch.sigmoid(x) ** math.log(10.0) + 1e-7


def control_offsets(rows: torch.Tensor, instrument_weights: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """Each note's offset on the control logits [B, C] from the per-instrument rows [I, 2, C] (an offset and its
    slope per octave from CONTROLS_PIVOT_KEY), blended by the weights [B, I]. A row of zeros adds exactly 0."""
    weights = instrument_weights.float()
    octaves = (pitch.float() - CONTROLS_PIVOT_KEY) / CONTROLS_SLOPE_KEYS
    return weights @ rows[:, 0] + octaves[:, None] * (weights @ rows[:, 1])


def nominal_f0(pitch: torch.Tensor) -> torch.Tensor:
    """MIDI pitches [B] -> Hz [B], A4 = 440 (playback tuning is the engine's)."""
    return 440.0 * 2.0 ** ((pitch.to(torch.float32) - 69.0) / 12.0)


def _dirichlet(nu: torch.Tensor, n: int) -> torch.Tensor:
    """sin(pi nu) / sin(pi nu / n), n at nu = 0; the guard keeps the unused branch's gradient finite."""
    den = torch.sin(math.pi * nu / n)
    small = den.abs() < 1e-6
    ratio = torch.sin(math.pi * nu) / torch.where(small, torch.ones_like(den), den)
    return torch.where(small, torch.full_like(nu, float(n)), ratio)


def hann_dtft(nu: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The DTFT of the periodic Hann window of length n at fractional bins nu, as (real, imaginary).

    W(nu) = 0.5 D(nu) - 0.25 D(nu - 1) - 0.25 D(nu + 1) with D the Dirichlet kernel of length n, which is
    e^{-i pi nu (n-1)/n} sin(pi nu) / sin(pi nu / n)."""
    inner_re = 0.5 * _dirichlet(nu, n) + 0.25 * math.cos(math.pi / n) * (_dirichlet(nu - 1, n) + _dirichlet(nu + 1, n))
    inner_im = 0.25 * math.sin(math.pi / n) * (_dirichlet(nu + 1, n) - _dirichlet(nu - 1, n))
    phase = -math.pi * nu * (n - 1) / n
    c, s = torch.cos(phase), torch.sin(phase)
    return c * inner_re - s * inner_im, s * inner_re + c * inner_im


def overlap_add(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """Frames [B, T, N], N a multiple of the stride -> [B, (T - 1) * stride + N]."""
    batch, count, size = frames.shape
    hops = size // stride
    parts = frames.reshape(batch, count, hops, stride)
    out = frames.new_zeros(batch, count + hops - 1, stride)
    for j in range(hops):  # a frame's j-th hop lands on hop t + j of the output
        out[:, j:j + count] += parts[:, :, j]
    return out.reshape(batch, -1)


class HarmonicSynth(nn.Module):
    """Per-frame controls -> overlap-added frames. No parameters: only the framing and fixed noise phases."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.bins = config.frame // 2 + 1
        self.offset = KERNEL_HALF_WIDTH + 1  # room below bin 0 for the kernels of low partials
        self.register_buffer("kernel_bins", torch.arange(-KERNEL_HALF_WIDTH, KERNEL_HALF_WIDTH + 1), persistent=False)
        self.register_buffer("window", torch.hann_window(config.frame, periodic=True), persistent=False)
        # the noise: fixed pseudo-random phases per (absolute frame, bin), so the same note always comes out the
        # same, Hann-windowed (in the DFT: the taps -1/4, 1/2, -1/4); the band gains then filter each frame
        generator = torch.Generator().manual_seed(NOISE_SEED)
        phases = 2 * math.pi * torch.rand(config.steps, self.bins, generator=generator, dtype=torch.float64)
        white = torch.polar(torch.ones_like(phases), phases)
        below = torch.cat([white[:, 1:2].conj(), white[:, :-1]], dim=1)  # X[m - 1], Hermitian at bin 0
        above = torch.cat([white[:, 1:], white[:, -2:-1].conj()], dim=1)  # X[m + 1], Hermitian at the top
        windowed = 0.5 * white - 0.25 * (below + above)
        self.register_buffer("noise", torch.view_as_real(windowed).float(), persistent=False)  # [steps, bins, 2]

    def harmonic_spectrum(self, amplitudes: torch.Tensor, freqs: torch.Tensor, first_frame: int) -> torch.Tensor:
        """Partial amplitudes [B, T, K] at frequencies [B, K] (Hz) -> the frames' spectra [B, T, bins, 2] (real and
        imaginary parts): each frame the DFT of its Hann-windowed partials.

        Frame t (absolute index first_frame + t) starts at note sample t * stride - padding; the phase of each
        partial there is computed in float64 and reduced modulo 2 pi, so it stays exact over the whole note.
        Partials at or above highest_partial_hz are silenced (and parked at 0 Hz, inside the spectrum)."""
        cfg = self.config
        rate = cfg.sample_rate
        batch, count, partials = amplitudes.shape
        n = cfg.frame
        audible = freqs < highest_partial_hz(cfg)
        amplitudes = amplitudes * audible[:, None, :]
        freqs = torch.where(audible, freqs, torch.zeros_like(freqs))
        # each partial's spread over the bins, the same in every frame: [B, K, offset + bins], sparse
        position = freqs * (n / rate)  # [B, K] in bins
        bins = position.detach().round()[:, :, None] + self.kernel_bins  # [B, K, J]
        kernel_re, kernel_im = hann_dtft(bins - position[:, :, None], n)
        index = bins.long() + self.offset
        size = self.offset + self.bins
        spread_re = amplitudes.new_zeros(batch, partials, size).scatter(2, index, kernel_re)
        spread_im = amplitudes.new_zeros(batch, partials, size).scatter(2, index, kernel_im)
        # each partial's phase at each frame's start; no gradient: d(psi)/df grows with time
        starts = (torch.arange(count, device=freqs.device, dtype=torch.float64) + first_frame) * cfg.stride - cfg.padding
        turns = torch.remainder(freqs.detach().double()[:, None, :] * starts[None, :, None] / rate, 1.0)
        psi = (2 * math.pi * turns).to(amplitudes.dtype)  # [B, T, K]
        half = 0.5 * amplitudes  # a cosine is half at +f, half at -f
        z = torch.cat([half * torch.cos(psi), half * torch.sin(psi)], dim=2)  # (a / 2) e^{i psi}: [B, T, 2K]
        # the complex product z @ spread as one real one, its columns (real, imaginary) interleaved per bin, so
        # that the result is already complex in memory: [re, im] @ [[re, im], [-im, re]]
        spread = torch.stack([torch.cat([spread_re, -spread_im], 1), torch.cat([spread_im, spread_re], 1)], dim=3)
        spectrum = torch.bmm(z, spread.reshape(batch, 2 * partials, 2 * size)).reshape(batch, count, size, 2)
        # a real signal: X[m] = Y[m] + conj(Y[-m]), the negative-frequency images of the low partials
        low = self.offset + 1
        conj = spectrum.new_tensor([1.0, -1.0])
        spectrum[:, :, self.offset:self.offset + low] += spectrum[:, :, :low].flip(2) * conj
        return spectrum[:, :, self.offset:]

    def forward(self, amplitudes: torch.Tensor, freqs: torch.Tensor, noise: torch.Tensor,
                first_frame: int = 0) -> torch.Tensor:
        """Partial amplitudes [B, T, K], frequencies [B, K] (Hz), noise gains per bin [B, T, bins]
        -> the overlap-added waveform [B, (T - 1) * stride + frame].

        Hann frames at stride N/4 sum to 2, hence the harmonic part's 1/2. The noise of a frame is the
        windowed white noise filtered by its gains (a zero-phase filter as short as the gains are smooth)."""
        spectrum = self.harmonic_spectrum(0.5 * amplitudes, freqs, first_frame)
        spectrum += noise[..., None] * self.noise[first_frame:first_frame + noise.shape[1]]
        frames = torch.fft.irfft(torch.view_as_complex(spectrum), n=self.config.frame, dim=2)
        return overlap_add(frames, self.config.stride)


class HarmonicDecoder(nn.Module):
    """Embeddings [B, D, T] and each note's instrument weights and pitch -> harmonics of the note's f0 plus
    band noise, framed as SING's decoder (1024-sample frames at stride 256).

    Per instrument (or per instrument and key) it holds a tuning offset in octaves, measured once from the
    training data and never learnt (some General MIDI programs sound an octave away from their key), and,
    when configured, a learnt
    inharmonicity B stretching the partials: f_k = k f0 sqrt(1 + B k^2), and learnt offsets on the control logits
    (ModelConfig.instrument_controls)."""

    def __init__(self, config: ModelConfig, body: nn.Module):
        super().__init__()
        self.config = config
        self.context = config.decoder_kernel // 2
        self.body = body
        self.controls = nn.Conv1d(config.hidden, 1 + config.harmonics + config.noise_bands, 1)
        self.synth = HarmonicSynth(config)
        # octaves from the key's nominal f0, per instrument, or per instrument and MIDI key
        self.register_buffer("tuning", torch.zeros(config.n_instruments, 128) if config.key_tuning
                             else torch.zeros(config.n_instruments))
        if config.inharmonicity:
            self.inharmonicity = nn.Parameter(torch.full((config.n_instruments,), INHARMONICITY_START))
        if config.instrument_controls:  # zeros: an instrument without its own offsets plays as the shared decoder
            self.control_offsets = nn.Parameter(torch.zeros(config.n_instruments, 2, 1 + config.harmonics
                                                            + config.noise_bands))
        self.residual = nn.ConvTranspose1d(config.hidden, 1, config.frame, config.stride) if config.residual else None
        self.warp = (VibratoHead(config.n_instruments, Framing(config.frame, config.stride, config.padding,
                                                             config.sample_rate))
                     if config.vibrato else None)
        self.register_buffer("harmonic_numbers", torch.arange(1, config.harmonics + 1, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("residual_window", torch.hann_window(config.frame, periodic=False) ** 2, persistent=False)

    @property
    def offset(self) -> torch.Tensor | float:
        """What is added once to every sample: the residual path's bias."""
        return self.residual.bias if self.residual is not None else 0.0

    def partial_frequencies(self, instrument_weights: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """[B, I], [B] -> the partials' frequencies in Hz [B, K]; blends mix tuning and B by their weights."""
        if self.config.key_tuning:
            offset = (instrument_weights * self.tuning[:, pitch].T).sum(1)  # each note's key in each instrument
        else:
            offset = instrument_weights @ self.tuning
        f0 = nominal_f0(pitch) * torch.exp2(offset)
        k = self.harmonic_numbers
        freqs = f0[:, None] * k
        if self.config.inharmonicity:
            b = instrument_weights @ (INHARMONICITY_SCALE * self.inharmonicity) ** 2
            freqs = freqs * torch.sqrt(1 + b[:, None] * k ** 2)
        return freqs

    def frames(self, embeddings: torch.Tensor, instrument_weights: torch.Tensor, pitch: torch.Tensor,
               first_frame: int = 0) -> torch.Tensor:
        """Embeddings with `context` extra steps each side [B, D, T + 2c] -> overlap-added [B, (T-1)*stride+frame];
        `first_frame` is the absolute index of the first of the T frames. Without the residual's bias."""
        return self.frames_and_displacement(embeddings, instrument_weights, pitch, first_frame)[0]

    def frames_and_displacement(self, embeddings: torch.Tensor, instrument_weights: torch.Tensor, pitch: torch.Tensor,
                                first_frame: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """frames(), and each frame's displacement in samples [B, T] where the model learns a vibrato
        (model/vibrato.py; None where it does not)."""
        features = self.body(embeddings)  # [B, H, T]
        controls = self.controls(features).float().transpose(1, 2)  # [B, T, 1 + K + bands]
        if self.config.instrument_controls:
            controls = controls + control_offsets(self.control_offsets, instrument_weights, pitch)[:, None, :]
        k = self.config.harmonics
        amplitude = exp_sigmoid(controls[:, :, :1] + AMPLITUDE_OFFSET)
        distribution = exp_sigmoid(controls[:, :, 1:1 + k])
        bands = exp_sigmoid(controls[:, :, 1 + k:] + NOISE_OFFSET)
        with torch.autocast(embeddings.device.type, enabled=False):  # the synthesis stays in float32
            freqs = self.partial_frequencies(instrument_weights.float(), pitch)
            audible = (freqs < highest_partial_hz(self.config)).to(distribution.dtype)[:, None, :]
            distribution = distribution * audible
            distribution = distribution / distribution.sum(2, keepdim=True).clamp(min=1e-7)
            noise = noise_level(self.config) * F.interpolate(bands.reshape(-1, 1, bands.shape[2]), size=self.synth.bins,
                                                mode="linear", align_corners=True).reshape(*bands.shape[:2], -1)
            wav = self.synth(amplitude * distribution, freqs, noise, first_frame)
        if self.residual is not None:
            residual = transposed_overlap_add(features, self.residual.weight, self.residual_window, self.config.stride)
            wav = wav + residual.float()
        if self.warp is None:
            return wav, None
        return wav, self.warp.displacement(instrument_weights, pitch, first_frame, features.shape[2])

    def forward(self, embeddings: torch.Tensor, instrument_weights: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """[B, D, steps] -> the note [B, note_samples]."""
        return whole_note(self, embeddings, instrument_weights, pitch)
