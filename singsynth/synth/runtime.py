"""Which runtime makes a render's notes on the CPU: numpy (model/numpy_forward.py), or torch.

numpy starts in 0.1 s where torch's import and model take 1.6-1.9 s of CPU, and makes a float32 note quicker than
torch does (it batches any number of notes; torch's float32 notes are made in pairs, note_length.run). torch is
quicker per note only in bfloat16, on a CPU that multiplies it natively, and only with the 16 kHz framing, whose
LSTM is most of a note's work. CPU seconds a note of 96 steps costs, batches of 32, one core (AMD EPYC with
AVX512-BF16; bench/generation.py):

| preset | numpy float32 | torch bfloat16 | torch float32 (pairs) |
| --- | --- | --- | --- |
| default (16 kHz) | 29 ms | 15 ms | 44 ms |
| gm48 (48 kHz) | 37 ms | 50 ms | 62 ms |

So numpy makes every render's notes, except in bfloat16 at 16 kHz where a render has more note-steps to make than
torch's start pays back: 1.7 s / (0.30 - 0.16 ms a step) is about 12,000 steps, 125 notes of 1.5 s.
"""
from __future__ import annotations

import functools

# the bfloat16 16 kHz case above: from this many note-steps to make on, torch's start pays back
BFLOAT16_BREAK_EVEN_STEPS = 12_000
BFLOAT16_FRAME = 1024  # the 16 kHz framing, where torch's bfloat16 LSTM is quicker per note


@functools.lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (model/precision.native_bf16), told from the kernel's CPU
    flags so that torch need not be imported; where the kernel does not say, torch is asked."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})
    except OSError:
        pass
    from ..model.precision import native_bf16
    return native_bf16()


def prefer_arrays(preset, note_steps: int) -> bool:
    """Whether numpy should make the `note_steps` LSTM steps of notes a render has to generate (see above)."""
    if preset.full_precision or not native_bfloat16():
        return True
    return preset.config.frame > BFLOAT16_FRAME or note_steps < BFLOAT16_BREAK_EVEN_STEPS


def choose(preset, note_steps: int) -> bool:
    """Set the preset to run its streams in numpy where prefer_arrays() says so and the numpy forward reads its
    weights, else in torch; returns whether numpy runs them. torch stays for a model on another device or already
    loaded."""
    if prefer_arrays(preset, note_steps) and preset.use_arrays():
        return True
    preset.release_arrays()
    return False
