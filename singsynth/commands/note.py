"""singsynth note: one note of an instrument (or a blend) to an audio file, as render writes it in a song."""
from __future__ import annotations

import logging
import math

from . import UsageError, add_preset_argument
from ._effects import add_effects_arguments, effects_config
from ._engine import (add_instrument_arguments, add_precision_argument, add_threads_argument, build_engine,
                      check_device, offline_threads)
from ._model_ready import ready_the_model
from ._output import add_output_arguments

logger = logging.getLogger(__name__)

# --duration: how long the key is held by default (the model's notes last 4 s: 3 s held and a 1 s release
# show most of one), and at most (past a note's 4 s, a held note loops)
HELD_SECONDS = 3.0
MAX_HELD_SECONDS = 600.0


def register(sub) -> None:
    p = sub.add_parser("note", help="render one note to an audio file, as render plays it")
    p.add_argument("--pitch", type=int, default=60, help="MIDI pitch 0..127 (default 60)")
    p.add_argument("--velocity", type=int, default=100, help="MIDI velocity 1..127 (default 100)")
    p.add_argument("--duration", type=float, default=HELD_SECONDS, metavar="S",
                   help=f"seconds the key is held (default {HELD_SECONDS:g}); the note's release follows")
    add_output_arguments(p)
    p.add_argument("--rate", type=int, default=48000, help="output sample rate in Hz (default 48000)")
    add_instrument_arguments(p)
    add_threads_argument(p)
    add_precision_argument(p)
    add_effects_arguments(p)
    p.add_argument("--gain", type=float, default=0.0, metavar="DB", help="master gain in dB (default 0)")
    add_preset_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import mido

    from ..io.midi import MidiEvents
    from ..io.wav import AudioWriter, check_output
    from ..preset import load_preset
    from ..process import settings
    from ..synth.schedule import render_file

    if not args.instrument and not args.morph:
        raise UsageError("--instrument: give the instrument to play, a name, a GM program 0..127 or a blend "
                         "(see: singsynth instruments)")
    if not 0 <= args.pitch <= 127:
        raise UsageError(f"--pitch {args.pitch}: MIDI pitches run 0..127")
    if not 1 <= args.velocity <= 127:
        raise UsageError(f"--velocity {args.velocity}: MIDI velocities run 1..127")
    if not (math.isfinite(args.duration) and 0 < args.duration <= MAX_HELD_SECONDS):
        raise UsageError(f"--duration {args.duration:g}: give the seconds the key is held, above 0 and at most "
                         f"{MAX_HELD_SECONDS:g}")
    check_output(args.output)
    effects = effects_config(args)
    check_device(args)
    threads = offline_threads(args)
    settings().keep_freed_memory()  # as render: a batch process
    preset = load_preset(args.preset, device=args.device, lazy=True)  # the model: once the names are known good
    preset.full_precision = args.full_precision
    engine = build_engine(args, preset, args.rate, effects, threads=threads)
    # the one note as a song of one note: what render writes for a file that holds it
    events = MidiEvents([(0.0, mido.Message("note_on", note=args.pitch, velocity=args.velocity)),
                         (args.duration, mido.Message("note_off", note=args.pitch))])
    ready_the_model(engine, preset, events)
    with engine:
        with AudioWriter(args.output, engine.sample_rate, 2, float32=args.float, pcm24=args.pcm24) as writer:
            frames = render_file(engine, events, writer.write)
    logger.info("wrote %s: %s, pitch %d, velocity %d, held %g s; %.2f s at %d Hz", args.output,
                args.instrument or args.morph, args.pitch, args.velocity, args.duration, frames / engine.sample_rate,
                engine.sample_rate)
    return 0
