"""The note cache's float16 conversions, made by torch where it is loaded, give numpy's own bits: on every float16
value, on the values halfway between neighbours (ties round to even), just either side of them and up to where
float16 overflows, and on a note's quiet tail; float16 back to float32 is exact."""
import numpy as np
import pytest
import torch

from singsynth.synth.half import _loaded_torch, all_finite, to_half, to_half_precision, widen


def every_half() -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)


def finite_halves() -> np.ndarray:
    halves = every_half()
    return halves[np.isfinite(halves)]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_torch_converts_float32_samples_numpy_the_rest():
    assert _loaded_torch(np.zeros(4, np.float32)) is torch
    assert _loaded_torch(np.zeros(4, np.float64)) is None
    assert _loaded_torch(np.zeros(8, np.float32)[::2]) is None
    read_only = np.zeros(4, np.float32)
    read_only.flags.writeable = False
    assert _loaded_torch(read_only) is None


def test_every_float16_value_comes_back_as_itself():
    halves = finite_halves()
    assert same_bits(to_half(halves.astype(np.float32)), halves)


def test_rounding_matches_numpy_at_and_around_every_midpoint():
    values = np.unique(finite_halves().astype(np.float32))
    midpoints = ((values[1:].astype(np.float64) + values[:-1]) / 2).astype(np.float32)
    tricky = np.concatenate([midpoints, np.nextafter(midpoints, np.float32(np.inf)),
                             np.nextafter(midpoints, np.float32(-np.inf)),
                             np.float32([-0.0, 1e-30, -1e-30, 65504, 65519.99, -65519.99])])
    assert same_bits(to_half(tricky), tricky.astype(np.float16))
    assert same_bits(to_half_precision(tricky), tricky.astype(np.float16).astype(np.float32))


def test_a_decaying_note_rounds_as_numpy_rounds_it():
    rng = np.random.default_rng(3)
    note = (rng.standard_normal(64000) * np.exp(-np.arange(64000) / 4000)).astype(np.float32)
    assert same_bits(to_half(note), note.astype(np.float16))
    assert same_bits(to_half_precision(note), note.astype(np.float16).astype(np.float32))
    wide = note.astype(np.float64)  # rounded once, straight to float16, as numpy does
    assert same_bits(to_half_precision(wide), wide.astype(np.float16).astype(np.float32))


def test_widening_is_exact_and_writes_into_out():
    halves = every_half()
    out = np.empty(len(halves), dtype=np.float32)
    assert widen(halves, out=out) is out
    assert same_bits(out, halves.astype(np.float32))


def test_widening_takes_float16_in_this_machines_byte_order_only():
    for wrong in (np.zeros(4, np.float32), np.zeros(4, dtype=">f2")):
        with pytest.raises(ValueError, match="float16"):
            widen(wrong)


def test_all_finite_finds_infinities_and_nans():
    assert all_finite(finite_halves())
    for bad in (np.inf, -np.inf, np.nan):
        assert not all_finite(np.concatenate([finite_halves()[:100], np.float16([bad])]))
