"""Notes in bfloat16 where the CPU has bfloat16 arithmetic (AVX512-BF16 or AMX).

Whole notes: under autocast the LSTM and the decoder body multiply in bfloat16; the harmonic synthesis stays in
float32, as the decoder asks (harmonic.py). They come out 1.5 to 2 times as fast, within -45 dB of the float32
ones, and on the default preset's 5171 held-out notes the figures of `singsynth eval` stay the same to the third
decimal (docs/presets.md).

Streamed notes: a chunk is a few steps of a few notes, and autocast would cast the LSTM's weights again at every
chunk (slower than float32 at one note). Their LSTM runs on a copy of its weights cast once to bfloat16
(SequenceGenerator.forward), and the decoder under autocast: a cold note's first chunk in about 7 ms instead of 10
on one core, 8 notes' in 15 ms instead of 34 (bench/generation.py --precisions float32,bfloat16)."""
from __future__ import annotations

import contextlib
import functools

import torch


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (without it oneDNN emulates it, slower than float32)."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def low_precision(device: torch.device, full_precision: bool = False) -> bool:
    """Whether notes are made in bfloat16 on this device: on a CPU with native bfloat16, unless `full_precision`."""
    return not full_precision and device.type == "cpu" and native_bf16()


def whole_note_precision(device: torch.device, full_precision: bool = False):
    """The context whole notes are generated in: bfloat16 autocast where low_precision(), else nothing."""
    if not low_precision(device, full_precision):
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)
