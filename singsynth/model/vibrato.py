"""A note's own vibrato: the whole note read at a time displaced by a small amount that moves as a sine.

Frame synthesis cannot move a note's pitch by itself: frames of 64 ms with pitches of their own put the partials
of overlapping frames out of phase, a comb filter on the upper partials (docs/full-band.md). Reading the finished
note at n + g(n) instead moves every partial together, as a sampler's vibrato does: the pitch is scaled by
1 + g'(n).

g is an oscillator whose depth, rate and phase the model learns per note, from its instrument and key
(VibratoHead): g(t) = a / w (cos p - cos(w t + p)) seconds from the note's first sample (w = 2 pi f), so the pitch
is 1 + a sin(w t + p), moving over whole cycles around the note's own pitch. Depth and rate are taught apart from
the phase (model/pitch_loss.py): where a source's neighbouring keys share their vibrato's phase (a sample played a
little faster or slower) it can be learnt, where they do not (an ensemble, a choir) a loss asking for the phase in
the same breath as the depth would teach a held-out key to have no vibrato at all. g is taken at frame centres
and interpolated linearly between them, as the streamed note needs it frame by frame.

The note is read with a Lanczos kernel of LANCZOS_A lobes: linear interpolation would take the top octave away,
and at a displacement of 0 the kernel is the identity, so a note without vibrato comes out as the frames made it.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .config import (DEEPEST_CENTS, DEPTH_GAIN, FARROW_DEGREE, HIGHEST_RATE_HZ, LANCZOS_A, LOWEST_RATE_HZ,  # noqa: F401
                     MAX_DISPLACEMENT_SECONDS, PLAY_DEAD_ZONE, VIBRATO_HIDDEN, VIBRATO_WIDTH)

# a fresh head starts without vibrato (config.py: DEPTH_GAIN)
DEPTH_START = -10.0


@dataclass(frozen=True)
class Framing:
    """Where a note's frames lie: frame k's centre is k * stride + frame / 2 padded samples, and the note's first
    sample is padded sample `padding`."""
    frame: int
    stride: int
    padding: int
    sample_rate: int


class Vibrato(NamedTuple):
    """Per note [B]: depth (cents), rate (Hz) and phase (radians, at the note's first sample)."""
    depth: torch.Tensor
    rate: torch.Tensor
    phase: torch.Tensor


class VibratoHead(nn.Module):
    """Each note's instrument weights [B, I] and key [B] -> its Vibrato; and from that, each frame's displacement
    (displacement()). Blended instruments blend their embeddings."""

    def __init__(self, n_instruments: int, framing: Framing):
        super().__init__()
        self.framing = framing
        self.instrument = nn.Parameter(torch.randn(n_instruments, VIBRATO_WIDTH) * 0.5)
        self.layers = nn.Sequential(nn.Linear(VIBRATO_WIDTH + 2, VIBRATO_HIDDEN), nn.ReLU(), nn.Linear(VIBRATO_HIDDEN, 4))
        nn.init.zeros_(self.layers[2].weight)
        with torch.no_grad():  # the phase as a point on the plane: (1, 0) is 0
            self.layers[2].bias.copy_(torch.tensor([DEPTH_START / DEPTH_GAIN, 0.0, 1.0, 0.0]))

    def forward(self, instrument_weights: torch.Tensor, pitch: torch.Tensor) -> Vibrato:
        key = (pitch.float() - 64.0) / 32.0
        x = torch.cat([instrument_weights.float() @ self.instrument, key[:, None], key[:, None].square()], dim=1)
        out = self.layers(x)
        depth = DEEPEST_CENTS * torch.sigmoid(DEPTH_GAIN * out[:, 0])
        rate = LOWEST_RATE_HZ * (HIGHEST_RATE_HZ / LOWEST_RATE_HZ) ** torch.sigmoid(out[:, 1])
        return Vibrato(depth, rate, torch.atan2(out[:, 3], out[:, 2]))

    def displacement(self, instrument_weights: torch.Tensor, pitch: torch.Tensor, first_frame: int,
                     frames: int) -> torch.Tensor:
        """Frames first_frame.. first_frame + frames - 1 -> each one's displacement in samples [B, frames]: 0
        before the note's first sample, the oscillator from there on."""
        return oscillator(self(instrument_weights, pitch), first_frame, frames, self.framing,
                          dead_zone=not self.training)


def oscillator(vibrato: Vibrato, first_frame: int, frames: int, framing: Framing,
               dead_zone: bool = False) -> torch.Tensor:
    """Each note's Vibrato -> the displacement in samples at frame centres [B, frames] of a pitch
    1 + a sin(w t + p), t from the note's first sample (a = 2^(depth/1200) - 1), 0 before it."""
    depth = vibrato.depth
    k = torch.arange(first_frame, first_frame + frames, device=depth.device, dtype=torch.float64)
    t = ((k * framing.stride + framing.frame / 2 - framing.padding) / framing.sample_rate).clamp(min=0)
    a = torch.exp2(depth.double() / 1200) - 1
    w = 2 * math.pi * vibrato.rate.double()
    p = vibrato.phase.double()[:, None]
    g = (framing.sample_rate * a / w)[:, None] * (torch.cos(p) - torch.cos(w[:, None] * t[None, :] + p))
    g = g.to(depth.dtype)
    if dead_zone:
        g = torch.sign(g) * torch.relu(g.abs() - PLAY_DEAD_ZONE)
    return g


def reach_samples(sample_rate: int) -> int:
    """How far a displaced read can look past a sample, either way: the displacement and the kernel's lobes."""
    return math.ceil(MAX_DISPLACEMENT_SECONDS * sample_rate) + LANCZOS_A + 1


def displacement_at(displacement: torch.Tensor, first_frame: int, start: int, count: int, frame: int,
                    stride: int) -> torch.Tensor:
    """Per-frame displacements [B, T] of frames first_frame.. -> the displacement at padded samples
    [start, start + count) [B, count]: linear between frame centres (t * stride + frame / 2), held before the
    first centre and after the last."""
    frames = displacement.shape[1]
    p = torch.arange(start, start + count, device=displacement.device, dtype=torch.float64)
    u = ((p - frame / 2) / stride - first_frame).clamp(0, frames - 1)
    lo = u.floor().long().clamp(max=max(frames - 2, 0))
    hi = (lo + 1).clamp(max=frames - 1)
    w = (u - lo).to(displacement.dtype)
    return displacement[:, lo] * (1 - w) + displacement[:, hi] * w


@functools.lru_cache(maxsize=None)
def farrow_coefficients() -> torch.Tensor:
    """The Lanczos kernel's 2A taps, each as a polynomial of degree FARROW_DEGREE in the fraction u - 1/2 (u in
    [0, 1)): [degree + 1, 2A], fitted once by least squares, normalised so that the taps sum to 1 at every u.
    A Farrow structure then filters the samples with each row once (a convolution) and only evaluates the
    polynomial per sample, instead of building 2A weights per sample: several times quicker, within 1e-7."""
    # kept for the process: made under inference mode (a note generated first), it could not be trained through
    with torch.inference_mode(False):
        u = torch.linspace(0, 1, 4097, dtype=torch.float64)
        taps = torch.arange(-LANCZOS_A + 1, LANCZOS_A + 1, dtype=torch.float64)
        distance = u[:, None] - taps
        w = torch.sinc(distance) * torch.sinc(distance / LANCZOS_A)
        w = w / w.sum(1, keepdim=True)
        powers = (u - 0.5)[:, None] ** torch.arange(FARROW_DEGREE + 1, dtype=torch.float64)
        return torch.linalg.lstsq(powers, w).solution.float()


def read_displaced(x: torch.Tensor, offset: int, g: torch.Tensor) -> torch.Tensor:
    """Samples x [B, L]; output sample j (j < g.shape[1]) read at x position offset + j + g[:, j], with a Lanczos
    kernel whose weights sum to 1. Outside x reads 0. Rows whose g is all 0 are copied, unless g is being trained:
    the kernel's slope at 0 is what lets a displacement start to grow."""
    batch, count = g.shape
    length = x.shape[1]
    positions = torch.arange(offset, offset + count, device=x.device)
    moving = (g != 0).any(1) | g.requires_grad
    if bool(moving.all()):
        return _displaced(x, positions, g)
    plain = x.new_zeros(batch, count)
    inside = (positions >= 0) & (positions < length)
    plain[:, inside] = x[:, positions[inside]]
    if not bool(moving.any()):
        return plain
    rows = moving.nonzero()[:, 0]
    return plain.index_copy(0, rows, _displaced(x[rows], positions, g[rows]))


def _displaced(xs: torch.Tensor, positions: torch.Tensor, gs: torch.Tensor) -> torch.Tensor:
    """read_displaced() for rows that all move: the Farrow filter and its polynomial per sample."""
    length = xs.shape[1]
    whole = torch.floor(gs)
    u = (gs - whole - 0.5).to(xs.dtype)
    base = positions[None, :] + whole.long()
    valid = (base >= 0) & (base < length)
    base = base.clamp(0, length - 1)
    coefficients = farrow_coefficients().to(xs.device, xs.dtype)
    # filtered[:, m, j] = sum over taps t of coefficients[m, t] * x[j - A + 1 + t]
    filtered = F.conv1d(F.pad(xs, (LANCZOS_A - 1, LANCZOS_A))[:, None], coefficients[:, None, :])
    # every row's samples in one gather, taken apart by unbind: in training, a gather or a select per row would each
    # fill a zero gradient the size of all the rows, nine times over a note
    rows = filtered.gather(2, base[:, None, :].expand(-1, filtered.shape[1], -1)).unbind(1)
    moved = torch.zeros_like(u)
    for row in reversed(rows):  # Horner
        moved = moved * u + row
    return moved * valid


def warp_note(wav: torch.Tensor, wav_start: int, displacement: torch.Tensor, first_frame: int, start: int,
              count: int, frame: int, stride: int) -> torch.Tensor:
    """A decoded stretch wav [B, L] starting at padded sample wav_start, and its frames' displacements -> the padded
    samples [start, start + count) read at their displaced times [B, count]."""
    g = displacement_at(displacement, first_frame, start, count, frame, stride)
    return read_displaced(wav, start - wav_start, g)


@dataclass
class WarpStream:
    """A streamed note's displaced reading, chunk by chunk: the decoded samples still in reach, the displacement of
    every frame decoded so far, and how far the output has got."""
    samples: torch.Tensor  # [B, n]: padded samples [samples_start, samples_start + n)
    samples_start: int
    displacement: torch.Tensor  # [B, frames decoded]
    first_frame: int  # absolute index of displacement[:, 0]
    done_until: int  # padded samples before this are handed out

    def split(self, i: int) -> "WarpStream":
        return WarpStream(self.samples[i:i + 1].clone(), self.samples_start, self.displacement[i:i + 1].clone(),
                          self.first_frame, self.done_until)

    @staticmethod
    def stack(streams: list["WarpStream"]) -> "WarpStream":
        first = streams[0]
        if any((s.samples_start, s.first_frame, s.done_until) != (first.samples_start, first.first_frame,
                                                                   first.done_until) for s in streams):
            raise ValueError("displaced readings at different points of their notes cannot be batched")
        return WarpStream(torch.cat([s.samples for s in streams]), first.samples_start,
                          torch.cat([s.displacement for s in streams]), first.first_frame, first.done_until)


def start_warp(batch: int, device: torch.device) -> WarpStream:
    return WarpStream(torch.zeros(batch, 0, device=device), 0, torch.zeros(batch, 0, device=device), -1, 0)


def warp_chunk(stream: WarpStream, final: torch.Tensor, final_start: int, displacement: torch.Tensor,
               first_frame: int, last: bool, frame: int, stride: int, sample_rate: int) -> tuple[torch.Tensor, int]:
    """Newly final padded samples [B, n] from final_start, and the displacements of the frames just decoded
    (first of them: first_frame) -> the samples now read out [B, m] and the padded position of the first. Holds
    back the samples whose reading could reach past what is decoded, until the `last` chunk."""
    if stream.first_frame < 0:
        stream.first_frame = first_frame
        stream.samples_start = stream.done_until = final_start
    stream.displacement = torch.cat([stream.displacement, displacement.float()], dim=1)
    stream.samples = torch.cat([stream.samples, final.float()], dim=1)
    reach = reach_samples(sample_rate)
    end = stream.samples_start + stream.samples.shape[1]
    ready = end if last else end - reach
    start = stream.done_until
    if ready <= start:
        return final.new_zeros(final.shape[0], 0), start
    out = warp_note(stream.samples, stream.samples_start, stream.displacement, stream.first_frame, start,
                    ready - start, frame, stride)
    stream.done_until = ready
    keep_from = max(ready - reach - stream.samples_start, 0)  # what later readings can still reach
    stream.samples = stream.samples[:, keep_from:]
    stream.samples_start += keep_from
    return out, start
