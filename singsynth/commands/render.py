"""singsynth render: a MIDI file -> an audio file, offline and faster than real time, no audio device."""
from __future__ import annotations

import logging
import time

from . import UsageError, add_preset_argument
from ._effects import add_effects_arguments, effects_config
from ._output import add_output_arguments
from ._engine import (add_instrument_arguments, add_precision_argument, add_threads_argument, build_engine,
                      check_device, offline_threads)
from ._model_ready import ready_the_model

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("render", help="render a MIDI file to WAV (or FLAC) offline")
    p.add_argument("midi", metavar="FILE.mid", help="standard MIDI file (type 0 or 1)")
    add_output_arguments(p)
    add_instrument_arguments(p)
    add_threads_argument(p)
    add_precision_argument(p)
    add_effects_arguments(p)
    p.add_argument("--rate", type=int, default=48000, help="output sample rate in Hz (default 48000)")
    add_preset_argument(p)
    p.add_argument("--gain", type=float, default=0.0, metavar="DB", help="master gain in dB (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.midi import duration, read_midi
    from ..io.wav import MAX_WAV_DATA, AudioWriter, check_output, sample_bytes, too_long_for_wav
    from ..preset import load_preset
    from ..process import settings
    from ..synth.schedule import render_file
    settings().keep_freed_memory()  # a batch process: freed memory is kept for the next batch rather than mapped afresh
    fmt = check_output(args.output)
    effects = effects_config(args)  # a bad setting is told before anything is read
    events = read_midi(args.midi)
    # about this much audio (to the file's end, or a little past it): refuse now what a WAV file cannot hold
    frames = int(duration(events) * args.rate)
    if fmt == "WAV" and frames * 2 * sample_bytes(args.float, args.pcm24) > MAX_WAV_DATA:
        raise UsageError(f"{args.output}: {too_long_for_wav(frames, args.rate)}")
    check_device(args)
    threads = offline_threads(args)  # a bad --threads is told before the preset is read
    preset = load_preset(args.preset, device=args.device, lazy=True)  # the model: at the first uncached note
    preset.full_precision = args.full_precision
    engine = build_engine(args, preset, args.rate, effects, threads=threads)
    if engine.effects.needed(msg for _, msg in events):  # numba's import overlaps reading or making the notes
        engine.effects.prepare_in_background()
    ready_the_model(engine, preset, events)
    started = time.perf_counter()
    with engine:
        with AudioWriter(args.output, engine.sample_rate, 2, float32=args.float, pcm24=args.pcm24) as writer:
            frames = render_file(engine, events, writer.write, progress=not args.quiet)
        stats = engine.stats
    seconds, took = frames / engine.sample_rate, time.perf_counter() - started
    # each note counted once: made by the model, or found in the note cache (memory or disk)
    logger.info("wrote %s: %.1f s at %d Hz in %.1f s (%.1fx real time); %d notes generated, %d from the cache, "
                "%d extended", args.output, seconds, engine.sample_rate, took, seconds / max(took, 1e-9),
                stats["generated"], stats["from_cache"], engine.supply.extended)
    return 0
