"""Render speed, side by side with FluidSynth: MIDI files through the engine, cold (every note generated)
and warm (all cached), against `fluidsynth -F` rendering the same file at the same rate.

    python bench/render.py [--preset default] [--midi A.mid,B.mid] [--rate 48000]
                           [--soundfont /usr/share/sounds/sf3/FluidR3Mono_GM.sf3]

Without --preset a preset of random weights is built at the --config size (speed does not depend on the
weights) with one instrument per GM program the file uses plus a drum kit. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from singsynth import gm
from singsynth.io.midi import read_midi
from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, load_preset, save_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import Engine, make_engine
from singsynth.synth.schedule import Schedule, play_through

ROOT = Path(__file__).resolve().parent.parent


def random_preset(config: str, programs: list[int], folder: Path):
    instruments = [Instrument(i, gm.PROGRAMS[p], gm.slug(gm.PROGRAMS[p]), p) for i, p in enumerate(programs)]
    instruments.append(Instrument(len(programs), gm.DRUM_KIT_NAME, "drums", None, drums=True, pitch_range=(35, 81)))
    model = SING(get_config(config, n_instruments=len(instruments)))
    return save_preset(folder, model, instruments, {"name": f"random-{config}"})


def timed(engine: Engine, events) -> tuple[float, float]:
    frames = [0]

    def count(block):
        frames[0] += len(block)
    start = time.perf_counter()
    play_through(engine, Schedule(events, engine.sample_rate), count)
    return time.perf_counter() - start, frames[0] / engine.sample_rate


def fluidsynth_seconds(midi: str, soundfont: str, rate: int, out: Path) -> float | None:
    """Wall time of FluidSynth's own offline render of the file (None when it is not installed)."""
    if not shutil.which("fluidsynth") or not Path(soundfont).is_file():
        return None
    start = time.perf_counter()
    subprocess.run(["fluidsynth", "-ni", "-q", "-r", str(rate), "-F", str(out), soundfont, midi],
                   check=True, capture_output=True)
    return time.perf_counter() - start


DEFAULT_MIDI = ",".join(str(p) for p in [ROOT / "examples" / "demo.mid", *sorted((ROOT / "tests" / "data" / "midi").glob("*.mid"))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--midi", default=DEFAULT_MIDI, help="comma-separated MIDI files")
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--config", default="sing-cpu")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} torch threads, {args.rate} Hz, device {args.device}\n")
    print("| file | audio (s) | notes generated | singsynth cold (s) | x real time | singsynth warm (s) | "
          "x real time | fluidsynth -F (s) | x real time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for midi in args.midi.split(","):
        events = read_midi(midi)
        with tempfile.TemporaryDirectory() as tmp:
            if args.preset:
                preset = load_preset(args.preset, args.device)
            else:
                programs = sorted({m.program for _, m in events if m.type == "program_change" and m.channel != 9}) or [0]
                preset = load_preset(random_preset(args.config, programs, Path(tmp) / "p"), args.device)
            engine = make_engine(preset, args.rate, cache=NoteCache())  # memory only: the first pass is cold
            cold, seconds = timed(engine, events)
            generated = engine.stats["generated"]
            warm, _ = timed(engine, events)
            engine.close()
            fluid = fluidsynth_seconds(midi, args.soundfont, args.rate, Path(tmp) / "fluid.wav")
        fluid_text = "n/a | n/a" if fluid is None else f"{fluid:.2f} | {seconds / fluid:.0f}"
        print(f"| {Path(midi).name} | {seconds:.1f} | {generated} | {cold:.2f} | {seconds / cold:.1f} | {warm:.2f} | "
              f"{seconds / warm:.0f} | {fluid_text} |", flush=True)


if __name__ == "__main__":
    main()
