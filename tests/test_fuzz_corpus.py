"""The nastiest MIDI files bench/fuzz_midi.py made, through the real CLI in a subprocess: each renders or is
refused with one stderr line and exit 2, within a time and a memory limit, and leaves no partial file."""
from __future__ import annotations

import resource
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from singsynth.io.midi import MAX_EVENTS, read_midi
from singsynth.io.wav import read_wav
from singsynth.synth.schedule import MAX_TAIL_SECONDS

CORPUS = Path(__file__).resolve().parent / "data" / "fuzz"
RATE = 8000
MEMORY = 2 * 2**30  # address space: far above a render of these files, far below what a runaway reader takes
TIMEOUT = 60
# file -> None: renders; or a piece of the one-line refusal. tests/data/fuzz/README.md says what each one is.
EXPECTED = {
    "delta-time-150-bytes.mid": "variable-length number is longer than 4 bytes",
    "header-length-4-gib.mid": "MThd header length is 4,294,967,295",
    "key-signature-93-sharps.mid": None,
    "smpte-division.mid": None,
    "unknown-chunk.mid": None,
    "sysex-then-running-status.mid": None,
    "track-length-wrong.mid": "runs past the end of its track",
    "tempo-zero.mid": "tempo of 0 microseconds per beat",
    "tempo-extremes.mid": None,
    "endless-notes-pedal-down.mid": None,
    "zero-length-notes.mid": None,
    "over-two-hours.mid": "lasts more than 2 hours",
}


@pytest.fixture(scope="module")
def preset_dir(tiny_preset_dir):
    return tiny_preset_dir


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One note cache for the module: files made from the same seed share their notes."""
    return tmp_path_factory.mktemp("notes")


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def render(midi: Path, out: Path, preset: Path, cache: Path) -> tuple[int, list[str]]:
    """`singsynth render` in a subprocess -> (exit code, non-empty stderr lines)."""
    proc = subprocess.run([sys.executable, "-m", "singsynth", "render", str(midi), "-o", str(out), "--quiet",
                           "--preset", str(preset), "--rate", str(RATE), "--cache-dir", str(cache)],
                          capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=_limit_memory)
    return proc.returncode, [line for line in proc.stderr.splitlines() if line.strip()]


def check(midi: Path, tmp_path: Path, preset: Path, cache: Path, refusal: str | None) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.wav"
    code, err = render(midi, out, preset, cache)
    assert not any("Traceback" in line for line in err), "\n".join(err)
    if refusal is None:
        assert code == 0, err
        rate, audio = read_wav(out)
        # every note ends: the render stops within the longest tail after the file's last event
        assert rate == RATE and len(audio) / rate <= read_midi(midi)[-1][0] + MAX_TAIL_SECONDS + 1
        assert [p.name for p in out_dir.iterdir()] == ["out.wav"]
    else:
        assert code == 2 and len(err) == 1, err
        assert err[0].startswith("singsynth render: error: ") and midi.name in err[0] and refusal in err[0]
        assert list(out_dir.iterdir()) == []


def test_every_corpus_file_has_an_expectation():
    assert sorted(p.name for p in CORPUS.glob("*.mid")) == sorted(EXPECTED)
    assert all(p.stat().st_size <= 50_000 for p in CORPUS.glob("*.mid"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_renders_or_is_refused_in_one_line(preset_dir, cache_dir, tmp_path, name):
    check(CORPUS / name, tmp_path, preset_dir, cache_dir, EXPECTED[name])


def test_a_million_and_one_messages_are_refused_in_one_line(preset_dir, cache_dir, tmp_path):
    # generated, not stored: 500,001 short notes one tick apart (1,000,002 messages with the end of track)
    notes = b"".join(b"\x01\x90" + bytes((36 + k % 60,)) + b"\x64\x01\x80" + bytes((36 + k % 60,)) + b"\x00"
                     for k in range(MAX_EVENTS // 2 + 1))
    track = notes + b"\x00\xff\x2f\x00"
    midi = tmp_path / "million.mid"
    midi.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + track)
    check(midi, tmp_path, preset_dir, cache_dir, f"more than {MAX_EVENTS:,} MIDI messages")
