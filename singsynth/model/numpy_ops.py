"""Array operations the numpy forward pass (numpy_forward.py, numpy_harmonic.py) shares."""
from __future__ import annotations

import math

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), its input held within +-80 first: e^-x of a larger one is subnormal, dozens of times slower
    to compute on x86, and the sigmoid there is 1 (or under 2e-35) either way."""
    out = np.clip(x, -80.0, 80.0)
    np.negative(out, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def squared_hann(length: int) -> np.ndarray:
    """torch.hann_window(length, periodic=False) ** 2."""
    n = np.arange(length, dtype=np.float64)
    return ((0.5 - 0.5 * np.cos(2 * math.pi * n / (length - 1))) ** 2).astype(np.float32)


def overlap_add(frames: np.ndarray, stride: int) -> np.ndarray:
    """Frames [B, T, N], N a multiple of the stride -> [B, (T - 1) * stride + N] (harmonic.overlap_add)."""
    batch, count, size = frames.shape
    hops = size // stride
    parts = frames.reshape(batch, count, hops, stride)
    out = np.zeros((batch, count + hops - 1, stride), dtype=np.float32)
    for j in range(hops):
        out[:, j:j + count] += parts[:, :, j]
    return out.reshape(batch, -1)
