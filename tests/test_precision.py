"""Notes in bfloat16 where the CPU has bfloat16 arithmetic, whole or streamed: close to the float32 notes, and
float32 when asked for (--full-precision) or where the CPU lacks it."""
import numpy as np
import pytest
import torch

from singsynth.cli import main
from singsynth.io.wav import read_wav
from singsynth.model.precision import low_precision, native_bf16, whole_note_precision


@pytest.fixture(scope="module")
def preset(tiny_preset):
    return tiny_preset


def notes(preset, full_precision: bool) -> np.ndarray:
    preset.full_precision = full_precision
    return preset.generate(preset.instrument_weights([0, 1, 2]), [60, 67, 38], [100, 40, 127])


def test_bfloat16_only_on_a_cpu_that_has_it_and_not_at_full_precision():
    assert isinstance(whole_note_precision(torch.device("cpu")), torch.autocast) == native_bf16()
    assert not isinstance(whole_note_precision(torch.device("cpu"), full_precision=True), torch.autocast)
    assert not isinstance(whole_note_precision(torch.device("cuda")), torch.autocast)
    assert low_precision(torch.device("cpu")) == native_bf16()
    assert not low_precision(torch.device("cpu"), full_precision=True) and not low_precision(torch.device("cuda"))


@pytest.mark.parametrize("full_precision", [True, False])
def test_streams_are_made_as_whole_notes_are(preset, full_precision):
    preset.full_precision = full_precision
    stream = preset.open_stream(preset.instrument_weights([0]), [60], [100])
    assert stream.state.bfloat16 == low_precision(torch.device("cpu"), full_precision)


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no bfloat16 arithmetic: whole notes stay float32")
def test_whole_notes_in_bfloat16_are_close_to_float32_and_not_the_same(preset):
    full, fast = notes(preset, True), notes(preset, False)
    assert fast.dtype == np.float32 and fast.shape == full.shape
    assert not np.array_equal(fast, full), "bfloat16 was not used"
    error = np.sqrt(np.mean((fast - full) ** 2, axis=1) / np.mean(full ** 2, axis=1))
    assert np.all(error < 0.02), error  # within -34 dB of each note (the default preset: -45 dB)


def test_the_note_command_makes_its_one_note_in_float32_either_way(preset, tmp_path):
    """One note is too little work for torch's start to pay back (synth/runtime.py): numpy makes it, in float32,
    with --full-precision or without, the same samples; and never imports torch for it (test_numpy_forward.py)."""
    written = {}
    for full in (True, False):
        out = tmp_path / f"note-{full}.wav"
        flag = ["--full-precision"] if full else []
        assert main(["note", "--preset", str(preset.path), "--instrument", "flute", "--pitch", "60", "--velocity",
                     "100", "--no-disk-cache", "--no-reverb", "--no-chorus", "--float", "-o", str(out), *flag]) == 0
        written[full] = read_wav(out)[1]
    assert np.abs(written[True]).max() > 1e-3
    np.testing.assert_array_equal(written[True], written[False])
