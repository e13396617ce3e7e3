"""singsynth render: a MIDI file -> an audio file, offline and faster than real time, no audio device."""
from __future__ import annotations

import logging
import time
from typing import Callable

import mido
import numpy as np

from ..cli import UsageError, add_preset_argument

logger = logging.getLogger(__name__)

BLOCK = 1024
TAIL_SECONDS = 0.25
# After the file ends every note is released; none outlasts a SING note (4 s) plus its release.
MAX_TAIL_SECONDS = 30.0


def register(sub) -> None:
    p = sub.add_parser("render", help="render a MIDI file to WAV (or FLAC) offline")
    p.add_argument("midi", metavar="FILE.mid", help="standard MIDI file (type 0 or 1)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="output file: .wav, or .flac "
                   "(FLAC needs the soundfile package)")
    add_instrument_arguments(p)
    p.add_argument("--rate", type=int, default=48000, help="output sample rate in Hz (default 48000)")
    add_preset_argument(p)
    p.add_argument("--float", action="store_true", help="write 32-bit float WAV (default 16-bit)")
    p.add_argument("--gain", type=float, default=0.0, metavar="DB", help="master gain in dB (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_instrument_arguments(p) -> None:
    """Options shared by everything that builds an Engine offline."""
    p.add_argument("--instrument", default=None, help="instrument for every melodic channel: a name, a GM "
                   "program 0..127 or a blend like flute:0.7,violin:0.3 (default: the file's program changes)")
    p.add_argument("--morph", default=None, metavar="A,B", help="sweep between two instruments with the mod wheel")
    p.add_argument("--morph-cc", type=int, default=1, metavar="CC", help="controller for --morph (default 1)")
    p.add_argument("--polyphony", type=int, default=256, help="most voices at once (default 256)")
    p.add_argument("--tuning", type=float, default=440.0, metavar="HZ", help="pitch of A4 (default 440)")
    p.add_argument("--release", type=float, default=1.0, metavar="S", help="release after note-off (default 1 s)")
    p.add_argument("--preload", action="store_true", help="generate every note the file needs before playing")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model runs (default cpu)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cache-dir", default=None, metavar="DIR",
                       help="keep generated notes here (default ~/.cache/singsynth/notes)")
    group.add_argument("--no-disk-cache", action="store_true", help="keep generated notes in memory only")
    p.add_argument("--cache-size", type=int, default=1024, metavar="MIB", help="note cache in memory (default 1024)")
    p.add_argument("--velocity-steps", type=int, default=16, metavar="N",
                   help="velocities share a note within 127/N steps (default 16)")


def check_device(args) -> None:
    """--device cuda without a CUDA device -> UsageError (before anything slow is done)."""
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device available; use --device cpu")


def build_engine(args, preset, rate: int, blocking: bool = True):
    """The Engine and its cache from parsed arguments; bad values -> UsageError."""
    from ..cache import NoteCache
    from ..engine import Engine
    if args.cache_size <= 0 or not 2 <= args.velocity_steps <= 127:
        raise UsageError("--cache-size must be positive and --velocity-steps within 2..127")
    try:
        cache = NoteCache.for_preset(preset, rate, root=args.cache_dir, disk=not args.no_disk_cache,
                                     max_bytes=args.cache_size * 2**20, velocity_steps=args.velocity_steps)
        return Engine(preset, sample_rate=rate, polyphony=args.polyphony, instrument=args.instrument,
                      morph=args.morph, morph_cc=args.morph_cc, cache=cache, tuning_a4=args.tuning,
                      master_gain=10 ** (getattr(args, "gain", 0.0) / 20), release=args.release, blocking=blocking)
    except ValueError as exc:  # InstrumentError and out-of-range settings
        raise UsageError(str(exc)) from None


def _end_of_file() -> list[mido.Message]:
    """At the end of the file every pedal comes up and every key is released."""
    msgs = []
    for channel in range(16):
        msgs += [mido.Message("control_change", channel=channel, control=64, value=0),
                 mido.Message("control_change", channel=channel, control=123, value=0)]
    return msgs


def render_events(engine, events: list[tuple[float, mido.Message]], write: Callable[[np.ndarray], None],
                  block: int = BLOCK, progress: bool = False) -> int:
    """Play timed events through the engine, block by block, until the last release ends; returns frames."""
    from tqdm import tqdm

    from ..midi import to_frames
    rate = engine.sample_rate
    timed = to_frames(events, rate)
    end = timed[-1][0] if timed else 0
    tail = int(TAIL_SECONDS * rate)
    i, frame, ended, idle_frames = 0, 0, False, 0
    with tqdm(total=round(end / rate + 1.0, 1), unit="s", desc="render", disable=not progress, leave=False,
              bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]") as bar:
        while True:
            now = []
            while i < len(timed) and timed[i][0] < frame + block:
                now.append((timed[i][0] - frame, timed[i][1]))
                i += 1
            if i == len(timed) and not ended:
                at = now[-1][0] if now else 0
                now += [(at, msg) for msg in _end_of_file()]
                ended = True
            write(engine.process(now, block))
            frame += block
            bar.update(block / rate)
            if ended and engine.idle:
                idle_frames += block
                if idle_frames >= tail:
                    break
            if ended and frame - end > MAX_TAIL_SECONDS * rate:
                logger.warning("voices still sounding %g s after the end of the file: stopping", MAX_TAIL_SECONDS)
                break
    return frame


def run(args) -> int:
    from ..midi import MidiError, duration, read_midi
    from ..preset import load_preset
    from ..wavfile import MAX_WAV_DATA, AudioFileError, AudioWriter, check_output, too_long_for_wav
    try:
        fmt = check_output(args.output)
    except AudioFileError as exc:
        raise UsageError(str(exc)) from None
    try:
        events = read_midi(args.midi)
    except MidiError as exc:
        raise UsageError(str(exc)) from None
    frames = int(duration(events) * args.rate)  # at least this much audio: refuse now what cannot be written
    if fmt == "WAV" and frames * 2 * (4 if args.float else 2) > MAX_WAV_DATA:
        raise UsageError(f"{args.output}: {too_long_for_wav(frames, args.rate)}")
    check_device(args)
    preset = load_preset(args.preset, device=args.device)
    engine = build_engine(args, preset, args.rate)
    started = time.perf_counter()
    with engine:
        if args.preload:
            engine.preload(events, progress=not args.quiet)
        try:
            with AudioWriter(args.output, engine.sample_rate, 2, float32=args.float) as writer:
                frames = render_events(engine, events, writer.write, progress=not args.quiet)
        except AudioFileError as exc:  # past 4 GiB of WAV, a full disk; the partial file is gone
            raise UsageError(str(exc)) from None
        stats = engine.stats
    seconds, took = frames / engine.sample_rate, time.perf_counter() - started
    logger.info("wrote %s: %.1f s at %d Hz in %.1f s (%.1fx real time); %d notes generated, %d cache hits",
                args.output, seconds, engine.sample_rate, took, seconds / max(took, 1e-9), stats["generated"],
                stats["cache_hits"] + stats["disk_hits"])
    return 0
