"""Cold renders of real songs against FluidSynth: every MIDI file of the music21 corpus (or --midi), whole processes
side by side, in the same run: `fluidsynth -ni -r RATE -F out.wav SOUNDFONT file.mid` (its reverb and chorus on, as
it starts), `singsynth render` from an empty note cache (cold) and again from the cache that run left (warm).

    pip install music21   # only for its MIDI files
    python bench/cold_corpus.py [--preset default] [--dry] [--rate 48000] [--runs 1] [--midi A.mid,B.mid]
                                [--soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2] [--baseline OLD_CHECKOUT]

Without --dry singsynth renders as it does by default (reverb and chorus on where the file's or the instruments'
sends ask for them); with --dry, --no-reverb --no-chorus. "notes" is how many notes the cold render generated,
"note-s" the seconds of them (a whole note is 4 s). --runs: each process that many times, the median reported.
Wall time from launching each process to its exit, and the CPU time it used (every thread: on a machine shared
with other work, the fairer figure). Prints a markdown table, its last row the totals.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import SINGSYNTH, compile_package

GENERATED = re.compile(r"(\d+) notes generated")


def corpus() -> list[Path]:
    """The MIDI files music21 ships (its corpus and test files), by name."""
    try:
        import music21
    except ImportError:
        raise SystemExit("needs music21 for its MIDI files: pip install music21 (or give --midi)") from None
    root = Path(music21.__file__).parent
    return sorted({p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi")}, key=lambda p: p.name)


def timed(command: list[str], source: str | None = None) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user and system, every thread) and the standard error of a whole process;
    `source`: the singsynth source tree it imports (None: this one)."""
    env = dict(os.environ, PYTHONPATH=source) if source else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed: {done.stderr[-2000:]}")
    return took, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, done.stderr


def stored_seconds(cache: Path) -> float:
    """Seconds of notes generated that the cache holds (in a folder named by their rate; the notes as played at
    another rate, in played-<rate>, not counted)."""
    import numpy as np
    return sum(len(np.load(p, mmap_mode="r")) / int(p.parent.name) for p in cache.rglob("*.npy")
               if p.parent.name.isdigit())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--midi", default=None, help="comma-separated MIDI files (default: music21's)")
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    parser.add_argument("--preset", default=None, help="default: the shipped default")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--dry", action="store_true", help="singsynth with --no-reverb --no-chorus")
    parser.add_argument("--baseline", default=None, metavar="DIR", help="another singsynth source tree (a checkout "
                        "of an older commit) rendered the same way, in the same run, for a before/after table")
    args = parser.parse_args()
    if not shutil.which("fluidsynth") or not Path(args.soundfont).is_file():
        raise SystemExit(f"needs fluidsynth and {args.soundfont} (Debian: fluidsynth, fluid-soundfont-gm)")
    files = [Path(m) for m in args.midi.split(",")] if args.midi else corpus()
    compile_package()
    extra = ["--no-reverb", "--no-chorus"] if args.dry else []
    print(f"{os.cpu_count()} cores, {args.rate} Hz, preset {args.preset or 'default'}, singsynth "
          f"{'--no-reverb --no-chorus' if args.dry else 'effects as by default'}; FluidSynth with its reverb and "
          f"chorus; median of {args.runs} run(s), whole processes, wall time\n")
    base = " | baseline cold, warm (s) | baseline CPU: cold, warm (s) | baseline notes, note-s" if args.baseline else ""
    print("| file | FluidSynth (s) | singsynth cold (s) | cold / FluidSynth | notes | note-s | singsynth warm (s) | "
          f"warm / FluidSynth | CPU: FluidSynth, cold, warm (s){base} |")
    print("| --- " * (9 + (3 if args.baseline else 0)) + "|")
    totals = [0.0] * 10
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for midi in files:
            rows = []
            for run in range(args.runs):
                fluid, fluid_cpu, _ = timed(["fluidsynth", "-ni", "-r", str(args.rate), "-F", str(tmp / "fluid.wav"),
                                             args.soundfont, str(midi)])
                cache = tmp / f"cache-{run}"
                command = [*SINGSYNTH, "render", str(midi), "-o", str(tmp / "out.wav"), "--rate", str(args.rate),
                           "--cache-dir", str(cache), "--quiet", *(["--preset", args.preset] if args.preset else []),
                           *extra]
                cold, cold_cpu, log = timed(command)
                found = GENERATED.search(log)
                notes = int(found.group(1)) if found else -1
                seconds = stored_seconds(cache)
                warm, warm_cpu, _ = timed(command)
                shutil.rmtree(cache, ignore_errors=True)
                before = (0.0, 0.0, 0.0, 0.0, -1, 0.0)
                if args.baseline:
                    b_cold, b_cold_cpu, b_log = timed(command, args.baseline)
                    found = GENERATED.search(b_log)
                    b_seconds = stored_seconds(cache)
                    b_warm, b_warm_cpu, _ = timed(command, args.baseline)
                    before = (b_cold, b_warm, b_cold_cpu, b_warm_cpu, int(found.group(1)) if found else -1, b_seconds)
                    shutil.rmtree(cache, ignore_errors=True)
                rows.append((fluid, cold, warm, fluid_cpu, cold_cpu, warm_cpu, *before[:4], notes, seconds,
                             *before[4:]))
            med = [statistics.median(r[i] for r in rows) for i in range(10)]
            fluid, cold, warm, fluid_cpu, cold_cpu, warm_cpu, b_cold, b_warm, b_cold_cpu, b_warm_cpu = med
            notes, seconds, b_notes, b_seconds = rows[0][10:]
            totals = [t + m for t, m in zip(totals, med)]
            cols = (f" | {b_cold:.2f}, {b_warm:.2f} | {b_cold_cpu:.2f}, {b_warm_cpu:.2f} | {b_notes}, {b_seconds:.0f}"
                     if args.baseline else "")
            print(f"| {midi.name} | {fluid:.2f} | {cold:.2f} | {cold / fluid:.2f}x | {notes} | {seconds:.0f} | "
                  f"{warm:.2f} | {warm / fluid:.2f}x | {fluid_cpu:.2f}, {cold_cpu:.2f}, {warm_cpu:.2f}{cols} |",
                  flush=True)
    t = totals
    cols = f" | {t[6]:.1f}, {t[7]:.1f} | {t[8]:.1f}, {t[9]:.1f} | " if args.baseline else ""
    print(f"| all {len(files)} | {t[0]:.1f} | {t[1]:.1f} | {t[1] / t[0]:.2f}x | | | {t[2]:.1f} | {t[2] / t[0]:.2f}x | "
          f"{t[3]:.1f}, {t[4]:.1f}, {t[5]:.1f}{cols} |")


if __name__ == "__main__":
    sys.exit(main())
