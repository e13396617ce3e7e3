"""A whole note through either output stage (sing.Decoder, harmonic.HarmonicDecoder), which both build on it."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .vibrato import warp_note


def whole_note(decoder: nn.Module, embeddings: torch.Tensor, instrument_weights: torch.Tensor | None,
               pitch: torch.Tensor | None) -> torch.Tensor:
    """Either output stage on a whole note: embeddings [B, D, steps] -> [B, note_samples]. The decoder's
    context is zero-padded each side; only the frames that reach the note are decoded (the others would be
    cropped off with the padding); the decoder's offset is added once. Where the decoder learns a vibrato, the
    note is read at its displaced times (model/vibrato.py)."""
    cfg, c = decoder.config, decoder.context
    first, last = cfg.note_frames
    padded = F.pad(embeddings, (c, c))[:, :, first:last + 1 + 2 * c]
    wav, displacement = decoder.frames_and_displacement(padded, instrument_weights, pitch, first_frame=first)
    if displacement is not None:
        note = warp_note(wav.float(), first * cfg.stride, displacement, first, cfg.padding, cfg.note_samples,
                         cfg.frame, cfg.stride)
        return note + decoder.offset
    start = cfg.padding - first * cfg.stride
    return wav[:, start:start + cfg.note_samples] + decoder.offset
