"""Whole notes in bfloat16 where the CPU has bfloat16 arithmetic (AVX512-BF16 or AMX).

Under autocast the LSTM and the decoder body multiply in bfloat16; the harmonic synthesis stays in float32, as
the decoder asks (harmonic.py). Whole notes come out 1.5 to 2 times as fast, within -45 dB of the float32 ones,
and on the default preset's 5171 held-out notes the figures of `singsynth eval` stay the same to the third
decimal (docs/presets.md). A streamed chunk stays in float32: at one note and a few steps bfloat16 is the slower
of the two here."""
from __future__ import annotations

import contextlib
import functools

import torch


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (without it oneDNN emulates it, slower than float32)."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def whole_note_precision(device: torch.device, full_precision: bool = False):
    """The context whole notes are generated in: bfloat16 autocast on a CPU with native bfloat16, unless
    `full_precision`; else nothing."""
    if full_precision or device.type != "cpu" or not native_bf16():
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)
