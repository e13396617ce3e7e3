"""singsynth learn: add an instrument learnt from a user's recordings to a copy of a preset."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from . import UsageError, add_preset_argument

logger = logging.getLogger(__name__)

DEFAULT_MINUTES = 5.0


def register(sub) -> None:
    p = sub.add_parser("learn", help="learn a new instrument from recordings, into a copy of a preset")
    p.add_argument("source", metavar="SOURCE",
                   help="a folder of WAV/FLAC one-shots (60.wav, C4.wav, F#3_v90.flac), an .sfz file, or a .sf2/.sf3 "
                        "SoundFont with --program")
    p.add_argument("--name", required=True, help="the new instrument's name")
    p.add_argument("--out", required=True, metavar="DIR", help="the preset folder to write (replaced if it holds one)")
    add_preset_argument(p)
    p.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                   help=f"the whole run's time, at most (default {DEFAULT_MINUTES:g})")
    p.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps at the most")
    p.add_argument("--program", type=int, default=None, help="SoundFont source: the preset's program 0..127")
    p.add_argument("--bank", type=int, default=0, help="SoundFont source: the preset's bank (default 0)")
    p.add_argument("--pitches", default="48-71", help="SoundFont source: the keys to render (default 48-71)")
    p.add_argument("--velocity", type=int, default=100, help="SoundFont source: the velocity to render (default 100)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _range(text: str) -> tuple[int, int]:
    parts = text.split("-")
    try:
        low, high = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (-1, -1)
    except ValueError:
        low, high = -1, -1
    if not 0 <= low <= high <= 127:
        raise UsageError(f"--pitches {text!r}: give keys as a range within 0..127, e.g. 48-71")
    return low, high


def run(args) -> int:
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise UsageError(f"--minutes {args.minutes:g}: give the minutes the run may take, above 0")
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps {args.steps}: give at least 1")
    if args.program is not None and not 0 <= args.program <= 127:
        raise UsageError(f"--program {args.program}: programs run 0..127")
    if not 0 <= args.bank <= 128:
        raise UsageError(f"--bank {args.bank}: banks run 0..128")
    if not 1 <= args.velocity <= 127:
        raise UsageError(f"--velocity {args.velocity}: MIDI velocities run 1..127")
    from ..train.learn.run import Source, learn
    source = Source(Path(args.source).expanduser(), args.program, args.bank, _range(args.pitches), args.velocity)
    result = learn(source, args.name, Path(args.out).expanduser(), args.preset, args.minutes, args.steps,
                   progress=not args.quiet)
    logger.info("%s: %s learnt from %d recordings, started from %s; %d steps, %.0f s; distance to the recordings "
                "%.3f -> %.3f", result.out, result.name, result.recordings - result.held_out, result.start,
                result.steps, result.seconds, result.start_distance, result.end_distance)
    if result.figures is not None:
        print(result.figures.line())
    else:
        print("held-out notes: none (fewer than 4 recordings); no figures")
    print(f"play it: singsynth note --preset {result.out} --instrument {result.name!r} --pitch 60 -o note.wav")
    return 0
