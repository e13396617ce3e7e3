"""Where a warm render's time goes: `singsynth render` of a file whose notes are all cached, each phase timed inside
the process, beside the whole process and `fluidsynth -F` on the same file. Each run is a fresh process; the
table gives medians. The phases are timed by wrapping singsynth's functions, which adds a little to each.

    python bench/render_phases.py [--midi bench/data/k525_mvt1.mid] [--rate 48000] [--runs 5]
                                  [--soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2]

Prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import ROOT, SINGSYNTH, compile_package

# (label, module, attribute path): every call of each is timed; none of them calls another of them
PHASES = [
    ("reading the MIDI file", "singsynth.io.midi", "read_midi"),
    ("reading the preset", "singsynth.preset", "load_preset"),
    ("reading the notes' files", "singsynth.synth.cache", "NoteCache._load"),
    ("widening the notes to float32", "singsynth.synth.note_supply", "NoteSupply._fit"),
    ("each note's loop decay and crossfade", "singsynth.synth.note_supply", "NoteSupply._finish"),
    ("planning which notes the events play", "singsynth.synth.engine", "Engine._keys"),
    ("handling the events", "singsynth.synth.engine", "Engine._handle"),
    ("mixing the voices", "singsynth.synth.engine", "Engine._mix"),
    ("the limiter", "singsynth.synth.engine", "Engine._limiter"),
    ("writing the WAV file", "singsynth.io.wav", "AudioWriter.write"),
    ("closing it and moving it into place", "singsynth.io.wav", "AudioWriter.close"),
]

# Run as `render_phases.py --inside ARGS...`: a render with its phases timed, the times printed as JSON last.
INSIDE = """
import importlib, json, os, sys, time
started = time.perf_counter()
from singsynth.cli import main
spent = {}
def timed(label, owner, name):
    f = getattr(owner, name)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t
    setattr(owner, name, wrapper)
for label, module, path in PHASES:
    owner = importlib.import_module(module)
    *outer, name = path.split(".")
    for part in outer:
        owner = getattr(owner, part)
    timed(label, owner, name)
imported = time.perf_counter()
sys.argv = ["singsynth", *ARGS]
code = main()
spent["imports (after Python itself started)"] = imported - started
spent["the command in all"] = time.perf_counter() - imported
print(json.dumps(spent))
sys.stdout.flush()
os._exit(code)
"""


def wall(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed: {done.stderr[-2000:]}")
    return took, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--midi", default=str(ROOT / "bench" / "data" / "k525_mvt1.mid"))
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not shutil.which("fluidsynth") or not Path(args.soundfont).is_file():
        raise SystemExit(f"needs fluidsynth and {args.soundfont} (Debian: fluidsynth, fluid-soundfont-gm)")
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        out, cache = Path(tmp) / "out.wav", Path(tmp) / "cache"
        render = ["render", args.midi, "-o", str(out), "--rate", str(args.rate), "--cache-dir", str(cache), "--quiet"]
        wall([*SINGSYNTH, *render])  # every note generated and cached: the runs below are warm
        inside = INSIDE.replace("PHASES", repr(PHASES)).replace("ARGS", repr(render))
        fluid, whole, phases, bare = [], [], [], []
        for _ in range(args.runs):
            bare.append(wall([sys.executable, "-c", "pass"])[0])
            fluid.append(wall(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-r", str(args.rate), "-F",
                               str(Path(tmp) / "fluid.wav"), args.soundfont, args.midi])[0])
            whole.append(wall([*SINGSYNTH, *render])[0])
            phases.append(json.loads(wall([sys.executable, "-c", inside])[1].strip().splitlines()[-1]))
    median = statistics.median
    budget = median(fluid) / 10
    print(f"{Path(args.midi).name} at {args.rate} Hz, every note cached; medians of {args.runs} runs, seconds\n")
    print("| phase | s | share of a tenth of FluidSynth's time |")
    print("| --- | --- | --- |")
    print(f"| fluidsynth -F, whole process | {median(fluid):.3f} | |")
    print(f"| singsynth render, whole process | {median(whole):.3f} | {median(whole) / budget:.2f} |")
    print(f"| python -c pass, whole process | {median(bare):.3f} | {median(bare) / budget:.2f} |")
    labels = [label for label, _, _ in PHASES] + ["imports (after Python itself started)", "the command in all"]
    for label in labels:
        seconds = median(run.get(label, 0.0) for run in phases)
        print(f"| {label} | {seconds:.3f} | {seconds / budget:.2f} |")
    timed = median(sum(run.get(label, 0.0) for label, _, _ in PHASES) for run in phases)
    rest = median(run["the command in all"] for run in phases) - timed
    print(f"| the command's other work | {rest:.3f} | {rest / budget:.2f} |")


if __name__ == "__main__":
    main()
