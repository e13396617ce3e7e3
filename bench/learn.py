"""`singsynth learn` on instruments the default preset never heard: TimGM6mb's, from 24 one-shots each.

    python bench/learn.py --work DIR [--soundfont TimGM6mb.sf2] [--programs 71,24,56] [--minutes 5]
                          [--plot docs/learn_held_out.png] [--evaluate-only]

For each program: 24 one-shots (keys 48-71, velocity 100, rendered by FluidSynth as `singsynth dataset soundfont`
renders notes) are written to DIR/PROGRAM/shots/ as WAV files, and `singsynth learn` runs on them as a user would (a
subprocess, timed by the wall clock; it holds out every 4th recording itself); every program is learnt before any is
judged, so that only the learn runs need a quiet machine. Each preset written is then judged on two sets of held-out
keys: the ones learn held out (in the gaps between the recorded keys) and keys outside the recorded range (40, 44,
76, 80), rendered the same way: in-tune share (25 cents against the source's own f0), multi-scale distance to the
source, the nearest base instrument's distance (each of the base's melodic instruments at its most favourable
loudness; the best is shown) and a sampler's (the nearest recorded key, transposed). The level column compares
velocity 50 to velocity 100 (dB) in the source and in the learnt instrument, at the gap keys. --plot draws the first
program's held-out notes beside the recordings.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

from singsynth import gm
from singsynth.preset import load_preset
from singsynth.train.eval_report import plot_note
from singsynth.train.fluid_render import FluidRenderer
from singsynth.train.learn.figures import evaluate, generate, sampler_notes
from singsynth.train.learn.fit import loudness

RECORDED = range(48, 72)
OUTSIDE = (40, 44, 76, 80)
VELOCITY = 100


def render(renderer: FluidRenderer, program: int, keys, velocity: int = VELOCITY) -> np.ndarray:
    return np.stack([renderer.render(0, 0, program, k, velocity) for k in keys])


def learn(work: Path, program: int, minutes: float, evaluate_only: bool) -> tuple[Path, float]:
    out = work / str(program) / "preset"
    if evaluate_only:
        return out, float("nan")
    name = f"TimGM {gm.PROGRAMS[program]}"
    command = [sys.executable, "-m", "singsynth", "learn", str(work / str(program) / "shots"), "--name", name,
               "--out", str(out), "--minutes", str(minutes), "--quiet"]
    begun = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - begun
    if done.returncode:
        sys.exit(f"learn failed for program {program}: {done.stderr.strip()}")
    print(f"# {name}: {done.stdout.strip().splitlines()[0]}", flush=True)
    return out, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/TimGM6mb.sf2")
    parser.add_argument("--programs", default="71,24,56", help="GM programs, comma-separated")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--work", required=True, type=Path, help="folder for the one-shots and learnt presets")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--evaluate-only", action="store_true", help="judge the presets an earlier run left")
    args = parser.parse_args(argv)
    renderer = FluidRenderer([Path(args.soundfont)])
    programs = [int(p) for p in args.programs.split(",")]
    runs = {}
    for program in programs:  # every learn run first, so that a quiet machine is needed for them alone
        shots = args.work / str(program) / "shots"
        shots.mkdir(parents=True, exist_ok=True)
        recorded = render(renderer, program, RECORDED)
        for key, note in zip(RECORDED, recorded):
            soundfile.write(str(shots / f"{key}.wav"), note, 16_000, subtype="FLOAT")
        runs[program] = (recorded, *learn(args.work, program, args.minutes, args.evaluate_only))
    print("# learning done; judging", flush=True)
    rows = []
    for number, program in enumerate(programs):
        recorded, out, seconds = runs[program]
        preset = load_preset(out)
        preset.full_precision = True
        record = json.loads((out / "preset.json").read_text())["learnt"]
        gain = 10 ** (record["gain_db"] / 20)
        held = record["held_out"]
        train = [k for k in RECORDED if k not in held]
        train_audio = recorded[[k - RECORDED.start for k in train]] * gain
        new = len(preset.instruments) - 1
        melodic = [i.index for i in preset.instruments[:-1] if not i.drums]
        for label, keys in (("gaps", held), ("outside", list(OUTSIDE))):
            truth = render(renderer, program, keys) * gain
            figures = evaluate(preset, new, truth, keys, [VELOCITY] * len(keys), train_audio, train, melodic)
            level = ""
            if label == "gaps":
                soft = render(renderer, program, keys, 50) * gain
                source = 10 * np.log10(loudness(soft, 16_000) / loudness(truth, 16_000))
                played = [generate(preset, new, keys, [v] * len(keys)) for v in (50, VELOCITY)]
                learnt = 10 * np.log10(loudness(played[0], 16_000) / loudness(played[1], 16_000))
                level = f"{source:+.1f} / {learnt:+.1f}"
            rows.append((f"{program} {gm.PROGRAMS[program]}", label, keys, figures, seconds, record["steps"], level))
            if args.plot and number == 0:
                played = generate(preset, new, keys, [VELOCITY] * len(keys))
                sampled = sampler_notes(train_audio, train, keys)
                k = 0 if label == "gaps" else len(keys) - 1
                path = args.plot.with_name(f"{args.plot.stem}_{label}{args.plot.suffix}")
                plot_note(path, f"TimGM6mb {gm.PROGRAMS[program]}, key {keys[k]} ({label}: not learnt from)",
                          [("recording", truth[k]), ("learnt", played[k]),
                           (f"sampler from key {min(train, key=lambda t: abs(t - keys[k]))}", sampled[k])])
                print(f"# wrote {path}", flush=True)
    renderer.close()
    print("| program | held-out keys | in tune (25 c) | learnt | nearest base instrument | learnt / base | sampler "
          "| learnt / sampler | v50 - v100 dB (source / learnt) | learn time | steps |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, label, keys, f, seconds, steps, level in rows:
        tune = "-" if f.in_tune is None else f"{100 * f.in_tune:.0f} % of {f.pitched}"
        print(f"| {name} | {label} {','.join(map(str, keys))} | {tune} | {f.learnt:.3f} | {f.base_name} {f.base:.3f} "
              f"| {f.learnt / f.base:.2f}x | {f.sampler:.3f} | {f.learnt / f.sampler:.2f}x | {level} "
              f"| {seconds:.0f} s | {steps} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
