"""A warm render's bits, to hold a change to "no audible change" exactly: renders each MIDI file with this checkout
(once to fill a note cache, then warm from it) and prints the length and the SHA-256 of the audio samples. Run it
on two commits with the same --cache-dir: equal digests are bit-identical renders.

    python bench/render_digest.py [--preset default] [--midi bench/data/k525_mvt1.mid] [--rate 48000]
                                  [--cache-dir DIR]

Prints a markdown table.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
from pathlib import Path

from processes import ROOT, SINGSYNTH

from singsynth.io.wav import read_wav


def render(midi: Path, out: Path, preset: str, rate: int, cache: Path) -> None:
    subprocess.run([*SINGSYNTH, "render", str(midi), "-o", str(out), "--preset", preset, "--rate", str(rate),
                    "--cache-dir", str(cache), "--quiet"], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--midi", default=str(ROOT / "bench" / "data" / "k525_mvt1.mid"), help="files, comma-separated")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--cache-dir", default=None, help="note cache to share between commits (default: a new one)")
    args = parser.parse_args()
    print("| file | seconds | frames | SHA-256 of the samples (warm render) |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir) if args.cache_dir else Path(tmp) / "cache"
        for midi in (Path(m) for m in args.midi.split(",")):
            out = Path(tmp) / f"{midi.stem}.wav"
            render(midi, out, args.preset, args.rate, cache)  # fills the cache (or finds it filled)
            render(midi, out, args.preset, args.rate, cache)
            rate, audio = read_wav(out)
            digest = hashlib.sha256(audio.tobytes()).hexdigest()
            print(f"| {midi.name} | {len(audio) / rate:.3f} | {len(audio)} | `{digest}` |")


if __name__ == "__main__":
    main()
