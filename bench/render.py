"""Offline rendering, whole processes side by side: `singsynth render` (cold: an empty note cache; warm:
every note cached) against `fluidsynth -F` rendering the same file at the same rate, reverb and chorus off
(with --effects R,C: both on, FluidSynth's by its defaults, singsynth's with every channel's CC91 and CC93
starting at R and C, e.g. 40,0 as a GS device starts, since few files set them).
Wall time from launching each process to its exit, output written, plus when the warm render's first
block reached the file. With --busy, another process keeps one core busy with matrix products (as another
synthesizer or a DAW's effects would) for a second table: cold renders with the default thread choice and
with torch's own (--threads = every core), idle and busy.

    python bench/render.py [--preset default] [--midi A.mid,B.mid] [--rate 48000] [--runs 3] [--busy] [--effects R,C]
                           [--soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2]

--runs: how many times each process of the first table runs, the median reported (the busy table runs each once).

Prints markdown tables.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import ROOT, SINGSYNTH, compile_package

DEFAULT_MIDI = [ROOT / "bench" / "data" / "k525_mvt1.mid", ROOT / "examples" / "demo.mid",
                *sorted((ROOT / "tests" / "data" / "midi").glob("*.mid"))]
# one core's worth of numeric work: a single-threaded matrix product, over and over
BUSY_CORE = [sys.executable, "-c", "import torch\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\n"
                                   "while True:\n    a @ a"]
HEADER_BYTES = 44  # a WAV header: past it, audio has been written


def timed(command: list[str], watch: Path | None = None) -> tuple[float, float | None]:
    """Wall seconds of a whole process, and when the first audio reached a new file in `watch` (None
    without `watch`); the command must succeed."""
    before = set(watch.iterdir()) if watch else set()
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = None
    while proc.poll() is None:
        if watch is not None and first is None:
            for path in set(watch.iterdir()) - before:
                try:
                    if path.stat().st_size > HEADER_BYTES:
                        first = time.perf_counter() - start
                except FileNotFoundError:  # renamed into place meanwhile
                    pass
        time.sleep(0.002)
    took = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed: {proc.stderr.read()[-2000:]}")
    return took, (first if first is not None else took) if watch is not None else None


def render_command(midi: Path, out: Path, args, cache: Path, *extra: str) -> list[str]:
    effects = (["--reverb-send", str(args.effects[0]), "--chorus-send", str(args.effects[1])] if args.effects
               else ["--no-reverb", "--no-chorus"])
    return [*SINGSYNTH, "render", str(midi), "-o", str(out), "--rate", str(args.rate), "--cache-dir", str(cache),
            "--quiet", *(["--preset", args.preset] if args.preset else []), *effects, *extra]


def audio_seconds(path: Path) -> float:
    import wave
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def notes_of(midi: Path) -> int:
    from singsynth.io.midi import read_midi
    return sum(1 for _, m in read_midi(str(midi)) if m.type == "note_on" and m.velocity > 0)


def speed_table(files: list[Path], args, tmp: Path) -> None:
    print(f"Each time the median of {args.runs} runs, the three programs taking turns; a cold run starts from an "
          f"empty note cache.\n")
    print("| file | audio (s) | notes | fluidsynth -F (s) | singsynth cold (s) | cold / fluidsynth | "
          "singsynth warm (s) | warm / fluidsynth | warm: first block written (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for midi in files:
        out = tmp / "out"
        out.mkdir(exist_ok=True)
        runs = []
        for run in range(args.runs):
            fluid, _ = timed(["fluidsynth", "-ni", "-q", *([] if args.effects else ["-R", "0", "-C", "0"]),
                              "-r", str(args.rate), "-F", str(tmp / "fluid.wav"), args.soundfont, str(midi)])
            cache = tmp / f"cache-{midi.stem}-{run}"
            cold, _ = timed(render_command(midi, out / "cold.wav", args, cache))
            warm, first = timed(render_command(midi, out / "warm.wav", args, cache), watch=out)
            runs.append((fluid, cold, warm, first))
            shutil.rmtree(cache)
        fluid, cold, warm, first = (statistics.median(r[i] for r in runs) for i in range(4))
        print(f"| {midi.name} | {audio_seconds(out / 'warm.wav'):.1f} | {notes_of(midi)} | {fluid:.2f} | {cold:.2f} | "
              f"{cold / fluid:.2f} | {warm:.2f} | {warm / fluid:.3f} | {first:.2f} |", flush=True)


def busy_table(files: list[Path], args, tmp: Path) -> None:
    cores = str(os.cpu_count() or 1)
    print(f"\nCold renders with another process keeping one core busy with matrix products ({cores} cores; "
          f"`--threads {cores}` is what torch chooses by itself):\n")
    print(f"| file | default, idle (s) | default, busy (s) | busy / idle | --threads {cores}, idle (s) | "
          f"--threads {cores}, busy (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for midi in files:
        row = []
        for extra in ((), ("--threads", cores)):
            for busy in (False, True):
                hog = subprocess.Popen(BUSY_CORE) if busy else None
                try:
                    time.sleep(2.0 if busy else 0)  # torch imported: the core is busy from here
                    cache = Path(tempfile.mkdtemp(dir=tmp))
                    row.append(timed(render_command(midi, tmp / "busy.wav", args, cache, *extra))[0])
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
        idle, busy, idle_all, busy_all = row
        print(f"| {midi.name} | {idle:.2f} | {busy:.2f} | {busy / idle:.2f} | {idle_all:.2f} | {busy_all:.2f} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--midi", default=",".join(map(str, DEFAULT_MIDI)), help="comma-separated MIDI files")
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    parser.add_argument("--preset", default=None, help="default: the shipped default")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each process, the median reported (default 3)")
    parser.add_argument("--busy", action="store_true", help="also the table of cold renders beside a busy core")
    parser.add_argument("--effects", default=None, metavar="R,C",
                        help="reverb and chorus on in both; singsynth's channels start at CC91=R, CC93=C")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.effects is not None:
        try:
            args.effects = [int(v) for v in args.effects.split(",")]
            assert len(args.effects) == 2 and all(0 <= v <= 127 for v in args.effects)
        except (ValueError, AssertionError):
            parser.error(f"--effects {args.effects}: give two controller values 0..127, as 40,0")
    compile_package()
    if not shutil.which("fluidsynth") or not Path(args.soundfont).is_file():
        raise SystemExit(f"needs fluidsynth and {args.soundfont} (Debian: fluidsynth, fluid-soundfont-gm)")
    files = [Path(m) for m in args.midi.split(",")]
    effects = f"effects on, sends from {args.effects[0]},{args.effects[1]}" if args.effects else "effects off"
    print(f"{os.cpu_count()} cores, {args.rate} Hz, preset {args.preset or 'default'}, {effects}; whole processes, "
          "wall time\n")
    with tempfile.TemporaryDirectory() as tmp:
        speed_table(files, args, Path(tmp))
        if args.busy:
            busy_table(files, args, Path(tmp))


if __name__ == "__main__":
    main()
