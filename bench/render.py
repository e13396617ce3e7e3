"""Render speed: a MIDI file through the engine, cold (every note generated) and warm (all cached).

Speed does not depend on the weights, so without --preset a preset of random weights is built at the
--config size with one instrument per GM program the file uses plus a drum kit.
Run from the repository root: python bench/render.py [--config sing-cpu] [--midi examples/demo.mid]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from singsynth import gm
from singsynth.cache import NoteCache
from singsynth.commands.render import render_events
from singsynth.config import get_config
from singsynth.engine import Engine
from singsynth.midi import read_midi
from singsynth.model import SING
from singsynth.preset import Instrument, load_preset, save_preset

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
    render_events(engine, events, count)
    return time.perf_counter() - start, frames[0] / engine.sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--midi", default=str(ROOT / "examples" / "demo.mid"))
    parser.add_argument("--preset", default=None)
    parser.add_argument("--config", default="sing-cpu")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    events = read_midi(args.midi)
    with tempfile.TemporaryDirectory() as tmp:
        if args.preset:
            preset = load_preset(args.preset, args.device)
        else:
            programs = sorted({m.program for _, m in events if m.type == "program_change" and m.channel != 9}) or [0]
            preset = load_preset(random_preset(args.config, programs, Path(tmp) / "p"), args.device)
        engine = Engine(preset, args.rate, cache=NoteCache())
        cold, seconds = timed(engine, events)
        generated = engine.stats["generated"]
        warm, _ = timed(engine, events)
    print(f"{Path(args.midi).name}: {seconds:.1f} s of audio at {args.rate} Hz, {preset.name} on {args.device}, "
          f"{torch.get_num_threads()} threads")
    print(f"cold: {cold:6.2f} s ({seconds / cold:5.1f}x real time), {generated} notes generated "
          f"({cold / max(generated, 1) * 1000:.0f} ms per note, mixing included)")
    print(f"warm: {warm:6.2f} s ({seconds / warm:5.1f}x real time), mixing only")


if __name__ == "__main__":
    main()
