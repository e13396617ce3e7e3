"""Held notes: keys held far past SING's 4 s note, rendered offline, and how their level goes on.

Each GM program plays one note (note-on, held --hold seconds, note-off) through the engine, as `render`
plays a file; a preset lacking the program plays its family's instrument, as the engine does. Plots each
note's level (RMS over 50 ms windows, dB) against time to a PNG, and prints a markdown table: the level
at 1, 3, 5 and 8 s relative to the note's loudest window, the loop's decay per pass (sustain_loop.loop_decay),
and the pulse: the largest rise from one window to the next once the note loops (after 2.9 s), while
the key is held, next to the largest rise from 1 s to 2.9 s (the note as generated: its own flutter).
A decaying note should go on decaying (no pulse), a sustained one hold steady. --uncompensated loops
as the engine did before loop_decay (every pass from the loop start's level), for comparison.

    python bench/held_notes.py [--preset default] [--programs 0,24,19,48] [--pitch 60] [--velocity 100]
                               [--hold 10] [--rate 48000] [--out docs/held_notes.png] [--uncompensated]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import mido
import numpy as np

from singsynth import gm
from singsynth.model.sustain_loop import LOOP_END
from singsynth.preset import load_preset
from singsynth.synth import note_supply
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import Engine, make_engine
from singsynth.synth.instruments import ProgramMap
from singsynth.synth.schedule import Schedule, play_through

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 0.05  # seconds
REPORT_AT = (1.0, 3.0, 5.0, 8.0)  # seconds
NOTE_SECONDS = 4.0  # SING's note: the loop ends at LOOP_END of it


def held(engine: Engine, program: int, pitch: int, velocity: int, hold: float) -> tuple[np.ndarray, float]:
    """The engine's output (mono) for one key held `hold` seconds on `program`, through its release, and
    the loop decay of the note it played."""
    events = [(0.0, mido.Message("program_change", program=program)),
              (0.0, mido.Message("note_on", note=pitch, velocity=velocity)),
              (hold, mido.Message("note_off", note=pitch))]
    blocks, decay = [], [1.0]

    def keep(block: np.ndarray) -> None:
        blocks.append(block.mean(axis=1))
        if engine.voices:
            decay[0] = engine.voices[0].note.loop_decay
    play_through(engine, Schedule(events, engine.sample_rate), keep)
    return np.concatenate(blocks), decay[0]


def levels(wav: np.ndarray, rate: int) -> np.ndarray:
    """RMS in dB over consecutive WINDOW-long windows (silence: -inf)."""
    width = round(WINDOW * rate)
    count = len(wav) // width
    power = np.mean(wav[:count * width].astype(np.float64).reshape(count, width) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(power)


def largest_rise(level: np.ndarray, t0: float, t1: float) -> float:
    """The largest rise in dB from one window to the next between t0 and t1 seconds."""
    rises = np.diff(level[int(t0 / WINDOW):int(t1 / WINDOW)])
    rises = rises[np.isfinite(rises)]
    return float(rises.max()) if len(rises) else float("nan")


def summary(level: np.ndarray, hold: float) -> dict:
    """Levels at REPORT_AT relative to the peak, and the largest rise between windows before and while looping."""
    peak = level.max()
    loop_end = LOOP_END * NOTE_SECONDS
    return {"at": {t: level[int(t / WINDOW)] - peak for t in REPORT_AT if int(t / WINDOW) < len(level)},
            "flutter": largest_rise(level, 1.0, loop_end), "pulse": largest_rise(level, loop_end, hold)}


def plot(curves: list[tuple[str, np.ndarray]], hold: float, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for label, level in curves:
        t = (np.arange(len(level)) + 0.5) * WINDOW
        ax.plot(t, level - level.max(), label=label, linewidth=1)
    ax.axvline(LOOP_END * NOTE_SECONDS, color="grey", linestyle=":", linewidth=1)  # where looping begins
    ax.axvline(hold, color="grey", linestyle="--", linewidth=1)  # note-off
    ax.set_xlabel("seconds")
    ax.set_ylabel(f"level (dB re peak, {WINDOW * 1000:.0f} ms RMS)")
    ax.set_ylim(-90, 3)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--programs", default="0,24,19,48", help="GM programs, comma separated")
    ap.add_argument("--pitch", type=int, default=60)
    ap.add_argument("--velocity", type=int, default=100)
    ap.add_argument("--hold", type=float, default=10.0, help="seconds the key is held")
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "held_notes.png")
    ap.add_argument("--uncompensated", action="store_true", help="loop without following the note's decay")
    args = ap.parse_args()
    if args.uncompensated:
        note_supply.loop_decay = lambda data, loop: 1.0  # every pass of the loop from the loop start's level
    preset = load_preset(args.preset)
    programs = ProgramMap(preset)
    curves = []
    print(f"Held notes, preset `{preset.name}`, pitch {args.pitch}, velocity {args.velocity}, "
          f"held {args.hold:g} s{', uncompensated loop' if args.uncompensated else ''}; level in dB relative "
          f"to the note's peak ({WINDOW * 1000:.0f} ms RMS)\n")
    print("| GM program | plays | " + " | ".join(f"{t:g} s" for t in REPORT_AT)
          + " | loop decay / pass | largest rise 1-2.9 s | pulse (largest rise, looping) |")
    print("|---|---|" + "---:|" * (len(REPORT_AT) + 3))
    for program in (int(p) for p in args.programs.split(",")):
        engine = make_engine(preset, sample_rate=args.rate, cache=NoteCache())
        wav, decay = held(engine, program, args.pitch, args.velocity, args.hold)
        level = levels(wav, args.rate)
        row = summary(level, args.hold)
        name = programs(program).name
        curves.append((f"{program} {name}", level))
        cells = " | ".join(f"{row['at'][t]:.1f}" if t in row["at"] else "-" for t in REPORT_AT)
        print(f"| {program} {gm.PROGRAMS[program]} | {name} | {cells} | {20 * np.log10(decay):.1f} dB | "
              f"{row['flutter']:+.2f} dB | {row['pulse']:+.2f} dB |")
    print(f"\nplot: {plot(curves, args.hold, args.out)}")


if __name__ == "__main__":
    main()
