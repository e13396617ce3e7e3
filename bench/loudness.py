"""Loudness against FluidSynth: each MIDI file rendered by singsynth and by FluidSynth with its default gain
(reverb and chorus off), the RMS of the whole file's mono mix compared, and whether singsynth's limiter acted.

    python bench/loudness.py [--preset default] [--soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2]
                             [FILE.mid ...]   (default: examples/demo.mid and tests/data/midi/*.mid)

Needs the fluidsynth program and a General MIDI SoundFont (Debian: fluidsynth, fluid-soundfont-gm).
Prints a markdown table; the target is singsynth within 3 dB of FluidSynth with the limiter idle.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from singsynth.io.midi import read_midi
from singsynth.preset import load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.mixer import LIMIT_THRESHOLD
from singsynth.synth.schedule import Schedule, play_through

REPO = Path(__file__).resolve().parent.parent
RATE = 44_100
TOLERANCE_DB = 3.0


def db(x: float) -> float:
    return 20 * math.log10(max(x, 1e-12))


def fluidsynth_mono(midi: Path, soundfont: Path) -> np.ndarray:
    """FluidSynth's render at its defaults (gain 0.2), reverb and chorus off, as a mono mix in [-1, 1]."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ref.wav"
        subprocess.run(["fluidsynth", "-ni", "-R", "0", "-C", "0", "-r", str(RATE), "-F", str(out), str(soundfont),
                        str(midi)], check=True, capture_output=True, timeout=600)
        with wave.open(str(out), "rb") as f:
            channels = f.getnchannels()
            samples = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return samples.reshape(-1, channels).mean(axis=1)


def singsynth_mono(midi: Path, preset) -> tuple[np.ndarray, float]:
    """singsynth's render as a mono mix, and the lowest gain its limiter applied (1: never acted)."""
    engine = make_engine(preset, sample_rate=RATE, cache=NoteCache(max_bytes=2**30))
    blocks, lowest = [], [1.0]

    def write(block: np.ndarray) -> None:
        blocks.append(block.mean(axis=1))
        lowest[0] = min(lowest[0], engine.stats["limiter_gain"])
    with engine:
        play_through(engine, Schedule(read_midi(str(midi)), engine.sample_rate), write)
    return np.concatenate(blocks), lowest[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("midi", nargs="*", type=Path)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--soundfont", type=Path, default=Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"))
    args = parser.parse_args()
    files = args.midi or [REPO / "examples" / "demo.mid", *sorted((REPO / "tests" / "data" / "midi").glob("*.mid"))]
    preset = load_preset(args.preset)
    print(f"preset: {preset.name}; reference: fluidsynth -ni -R 0 -C 0 -r {RATE} {args.soundfont.name}\n")
    print("| file | FluidSynth RMS (dBFS) | singsynth RMS (dBFS) | difference (dB) | singsynth peak (dBFS) "
          "| limiter acted | within 3 dB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for midi in files:
        ref = fluidsynth_mono(midi, args.soundfont)
        ours, lowest = singsynth_mono(midi, preset)
        diff = db(float(np.sqrt(np.mean(ours ** 2)))) - db(float(np.sqrt(np.mean(ref ** 2))))
        # the soft knee starts at LIMIT_THRESHOLD: a peak under it and a gain of 1 mean the limiter stayed idle
        acted = lowest < 1.0 or float(np.abs(ours).max()) > LIMIT_THRESHOLD
        print(f"| {midi.name} | {db(float(np.sqrt(np.mean(ref ** 2)))):.1f} | "
              f"{db(float(np.sqrt(np.mean(ours ** 2)))):.1f} | {diff:+.1f} | {db(float(np.abs(ours).max())):.1f} | "
              f"{'yes' if acted else 'no'} | {'yes' if abs(diff) <= TOLERANCE_DB and not acted else 'no'} |",
              flush=True)


if __name__ == "__main__":
    main()
