"""One more instrument in a preset's model: its row in every per-instrument tensor, and the front of its notes.

A base's own rows are never touched: the new preset's state is the base's as read from its file (same dtypes,
same bytes) with one row appended to each tensor below, so its instruments play bit for bit as before. A harmonic
base without per-instrument control offsets (ModelConfig.instrument_controls) gets them, zeros for each of its
instruments, which add exactly nothing to their notes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch.nn import functional as F

from ...model.config import ModelConfig
from ...model.onset import apply_rise
from ...model.sing import SING, velocity_weights
from ...model.vibrato import warp_note

# Every tensor with one row per instrument. The tuning is measured from the recordings and never learnt (as in
# training, train/tuning.py); the others are learnt.
EMBEDDING = "sequence.instrument.weight"
TUNING = "decoder.tuning"
CONTROLS = "decoder.control_offsets"
LEARNT = (EMBEDDING, CONTROLS, "decoder.inharmonicity", "decoder.warp.instrument")
PER_INSTRUMENT = LEARNT + (TUNING,)


def read_state(weights_path: Path) -> dict[str, torch.Tensor]:
    """A preset's weights as stored (fp16 or float32 each): what the new preset's base rows are copied from."""
    from safetensors.torch import load_file
    return load_file(str(weights_path))


def widened(config: ModelConfig) -> ModelConfig:
    """One instrument more, with control offsets where the decoder is harmonic: the embedding alone cannot hold a
    sound the base never learnt."""
    return dataclasses.replace(config, n_instruments=config.n_instruments + 1,
                               instrument_controls=config.instrument_controls or config.decoder == "harmonic")


def with_controls(state: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """The base state, with zero control offsets for each of its instruments where the widened model has them and
    the base does not (float32, as the learnt row will be)."""
    if not widened(config).instrument_controls or CONTROLS in state:
        return state
    width = 1 + config.harmonics + config.noise_bands
    return {**state, CONTROLS: torch.zeros(config.n_instruments, 2, width)}


def start_rows(state: dict[str, torch.Tensor], instrument: int, tuning: torch.Tensor) -> dict[str, torch.Tensor]:
    """The new instrument's rows, started from a base instrument's (float32), with its own tuning [128] or []."""
    rows = {k: state[k][instrument].float().clone() for k in LEARNT if k in state}
    if TUNING in state:
        rows[TUNING] = tuning.float().reshape(state[TUNING].shape[1:])
    return rows


def appended(state: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The base state with each row appended to its tensor, in that tensor's dtype; all else the same objects."""
    out = dict(state)
    for key, row in rows.items():
        out[key] = torch.cat([state[key], row.detach().to(state[key].dtype)[None]])
    return out


def build(config: ModelConfig, state: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]) -> SING:
    """The widened model in float32, frozen but for the new instrument's learnt tensors (whose other rows get no
    gradient: only the last row's weight is ever used by the notes trained on)."""
    model = SING(widened(config))
    model.load_state_dict({k: v.float() for k, v in appended(state, rows).items()})
    model.eval().requires_grad_(False)
    if getattr(model.decoder, "warp", None) is not None:
        model.decoder.warp.train()  # playing's dead zone would hide a vibrato's first small steps from the gradient
    for name, parameter in model.named_parameters():
        if name in LEARNT:
            parameter.requires_grad_(True)
    return model


def learnt_rows(model: SING, rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The new instrument's rows as the model holds them now (the last row of each tensor)."""
    state = model.state_dict()
    return {k: state[k][-1].detach().clone() for k in rows}


def front(model: SING, weights: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor, samples: int,
          timbre: torch.Tensor | None = None) -> torch.Tensor:
    """The first `samples` of notes [B, samples], as SING.forward would make them, running the LSTM only as far as
    those samples need (it is causal, and the decoder looks `context` frames ahead): a cheap note to train on.
    `timbre` [B, I]: other instrument weights for the embedding than for the output stage (its tuning)."""
    cfg, c = model.config, model.decoder.context
    samples = min(samples, cfg.note_samples)
    first, _ = cfg.note_frames
    last = (cfg.padding + samples - 1) // cfg.stride  # the last frame that reaches the samples kept
    steps = min(last + 1 + c, cfg.steps)
    vel_weights, gain = velocity_weights(velocity)
    conditioning = model.sequence.conditioning(weights if timbre is None else timbre, pitch, vel_weights)
    embeddings, _ = model.sequence(conditioning, 0, steps)  # [B, D, steps]
    padded = F.pad(embeddings, (c, last + 1 + c - steps))[:, :, first:last + 1 + 2 * c]
    wav, displacement = model.decoder.frames_and_displacement(padded, weights, pitch, first_frame=first)
    if displacement is not None:
        note = warp_note(wav.float(), first * cfg.stride, displacement, first, cfg.padding, samples, cfg.frame,
                         cfg.stride)
    else:
        start = cfg.padding - first * cfg.stride
        note = wav[:, start:start + samples]
    note = note + model.decoder.offset
    if model.rise is not None:
        note = apply_rise(note.float(), model.rise(conditioning), 0)
    return note * gain[:, None]
