"""Commands that run no model start without importing torch (importing it is most of a cold start's
seconds; bench/startup.py measures the times). Each command runs in its own interpreter, as a user's does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_fixtures import make_preset

from singsynth.io.wav import read_wav

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.mid"
# Runs the command line, then says on stdout's last line whether torch was imported.
RUN = ("import sys; from singsynth.cli import main; code = main(sys.argv[1:]); "
       "print('torch imported' if 'torch' in sys.modules else 'no torch'); sys.exit(code)")


def singsynth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300)


def torch_imported(result: subprocess.CompletedProcess) -> bool:
    return result.stdout.strip().splitlines()[-1] == "torch imported"


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    return make_preset(tmp_path_factory.mktemp("startup") / "tiny")


@pytest.mark.parametrize("args", [("instruments",), ("info",), ("ports",), ("info", "--config", "sing-cpu")],
                         ids=["instruments", "info", "ports", "info-config"])
def test_commands_that_run_no_model_import_no_torch(args):
    result = singsynth(*args)
    assert result.returncode == 0, result.stderr
    assert not torch_imported(result)


def test_an_argument_error_imports_no_torch():
    result = subprocess.run([sys.executable, "-c", RUN, "render", "--rate", "fast"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "invalid int value" in result.stderr
    # argparse exits before RUN's last line; the module list is checked from within instead
    check = subprocess.run([sys.executable, "-c", "import sys; from singsynth.cli import get_parser; get_parser(); "
                            "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "False"


def test_a_render_from_cached_notes_imports_no_torch_and_plays_the_same(preset, tmp_path):
    cache = tmp_path / "cache"
    cold = singsynth("render", str(DEMO), "-o", str(tmp_path / "cold.wav"), "--preset", str(preset),
                     "--cache-dir", str(cache), "--quiet")
    assert cold.returncode == 0, cold.stderr
    assert "0 from the cache" in cold.stderr  # its notes were generated, by the numpy forward pass: no torch either
    assert not torch_imported(cold)
    warm = singsynth("render", str(DEMO), "-o", str(tmp_path / "warm.wav"), "--preset", str(preset),
                     "--cache-dir", str(cache), "--quiet")
    assert warm.returncode == 0, warm.stderr
    assert not torch_imported(warm)
    assert (tmp_path / "cold.wav").read_bytes() == (tmp_path / "warm.wav").read_bytes()


def test_a_render_that_misses_one_note_makes_it_again(preset, tmp_path):
    cache = tmp_path / "cache"
    assert singsynth("render", str(DEMO), "-o", str(tmp_path / "a.wav"), "--preset", str(preset),
                     "--cache-dir", str(cache), "--quiet").returncode == 0
    notes = sorted((cache).rglob("*.npy"))
    for copy in cache.rglob(notes[0].name):  # the note's samples and its copies as played
        copy.unlink()
    again = singsynth("render", str(DEMO), "-o", str(tmp_path / "b.wav"), "--preset", str(preset),
                      "--cache-dir", str(cache), "--quiet")
    assert again.returncode == 0, again.stderr
    assert "1 notes generated" in again.stderr and not torch_imported(again)  # by the numpy forward pass
    # the note made again alone differs from the one made in a batch by float rounding only
    (_, a), (_, b) = read_wav(tmp_path / "a.wav"), read_wav(tmp_path / "b.wav")
    assert a.shape == b.shape and np.abs(a - b).max() < 1e-3


def test_a_render_that_sends_nothing_to_the_effects_imports_no_numba(preset, tmp_path):
    """The demo sets no CC91 or CC93: its render never loads numba; with every channel's reverb send at GS's 40
    it does, and sounds otherwise."""
    check = "import sys; print('numba' in sys.modules)"
    args = ["render", str(DEMO), "--preset", str(preset), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    for extra, numba in (([], False), (["--reverb-send", "40"], True)):
        argv = args + extra + ["-o", str(tmp_path / f"{numba}.wav")]
        done = subprocess.run([sys.executable, "-c", f"from singsynth.cli import main; main({argv!r}); {check}"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == str(numba)
    (_, dry), (_, wet) = read_wav(tmp_path / "False.wav"), read_wav(tmp_path / "True.wav")
    assert len(wet) > len(dry)
