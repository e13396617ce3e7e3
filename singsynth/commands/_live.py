"""The options and the live session that listen and play share: engine, audio output, status line."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import threading

from ..process import ProcessSettings
from ..process import settings as process_settings
from . import UsageError, add_preset_argument
from ._effects import add_effects_arguments, effects_config
from ._engine import add_instrument_arguments, add_precision_argument, build_live_engine, check_device, check_threads

logger = logging.getLogger(__name__)

# The JACK client PortAudio opens for the audio; the MIDI client is midi_ports.CLIENT_NAME.
JACK_AUDIO_CLIENT = "singsynth-out"
# --buffer: blocks of lead; past this many the latency is seconds, which no one playing wants
MAX_BUFFER = 64
# how long the audio waits for the note generator's process to load the preset before it starts anyway
WORKER_READY_SECONDS = 60


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    """Options listen and play share: the engine's (as for render), the audio device, the status line."""
    add_preset_argument(p)
    add_instrument_arguments(p)
    add_precision_argument(p)
    add_effects_arguments(p)
    p.add_argument("--gain", type=float, default=0.0, metavar="DB", help="master gain in dB (default 0)")
    p.add_argument("--audio-device", help="audio output by number or name (see `singsynth ports`)")
    p.add_argument("--rate", type=int, help="sample rate in Hz (default: the device's)")
    p.add_argument("--blocksize", type=int, default=256, help="frames per audio block (default: 256)")
    p.add_argument("--buffer", type=float, default=1.5, metavar="BLOCKS",
                   help="blocks of audio still to play when the next is made, the one playing counted for what "
                        "remains of it (default: 1.5); more is safer, fewer is less latency")
    p.add_argument("--latency", default="low", help="device latency: low, high or seconds (default: low)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for generating notes (default: half the cores, at least 1)")
    p.add_argument("--quiet", action="store_true", help="no status line")


def flood_line(dropped_messages: int, session: LiveSession) -> str:
    """What a flood of MIDI cost, for the exit report: messages and notes dropped, the note cache's size."""
    engine = session.producer.engine
    stats = engine.stats
    late = session.summary.late_events if session.summary is not None else 0
    return (f"{dropped_messages} MIDI messages dropped (queue full), {late} late (placed in a block made after "
            f"their own), "
            f"{stats['dropped']} new notes dropped (generation behind); note cache {len(engine.cache)} notes, "
            f"{stats['cache_bytes'] / 2**20:.0f} of {engine.cache.max_bytes / 2**20:.0f} MiB")


def stand_in_line(engine) -> str:
    """How cold notes were played, for the exit report (synth/stand_in.py, synth/worker.py)."""
    stats = engine.stats
    line = (f"{stats['stood_in']} notes stood in for by a ready note until their own arrived "
            f"({stats['replaced']} crossfaded into it), {stats['generated']} generated")
    return line + (f"; the note generator was restarted {stats['restarts']} times" if stats["restarts"] else "")


def voice_limit_line(engine) -> str:
    """What keeping blocks in time cost (synth/cpu_load.py), for the exit report."""
    stats = engine.stats
    return (f"{stats['shed']} voices faded early to keep up (voice limit down to "
            f"{stats['lowest_voice_limit']} of {engine.polyphony})")


class LiveSession:
    """What a live session hands listen and play: the producer (engine, ring) to run, the Event that stops it,
    and the run's Summary, set by the command for the exit report."""

    def __init__(self, producer, stop: threading.Event):
        self.producer = producer
        self.stop = stop
        self.summary = None


def _latency(text: str) -> float | str:
    if text in ("low", "high"):
        return text
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--latency {text!r}: give low, high or a number of seconds") from None


def output_device(args):
    """The --audio-device to play on (PortAudio's JACK client named first); UsageError if none."""
    from ..io import audio
    process_settings().name_audio_client(JACK_AUDIO_CLIENT)
    return audio.find_output(args.audio_device)


@dataclasses.dataclass(frozen=True)
class LiveSettings:
    """What the live options ask for, each checked once (check_live_arguments)."""
    threads: int  # generation threads
    effects: object  # the EffectsConfig
    latency: float | str  # the device latency: low, high or seconds


def check_live_arguments(args) -> LiveSettings:
    """Every option of listen and play checked once, before anything is opened or loaded (UsageError)."""
    check_device(args)
    if args.blocksize <= 0 or not 0 < args.buffer <= MAX_BUFFER:  # not: NaN fails every comparison
        raise UsageError(f"--blocksize must be positive and --buffer above 0 and at most {MAX_BUFFER}")
    return LiveSettings(generation_threads(args.threads), effects_config(args), _latency(args.latency))


def generation_threads(threads: int | None) -> int:
    """Live, the model shares the CPU with the audio callback, the producer and the MIDI input: by
    default it gets half the cores. On 2 cores that is one thread, which also makes a cold note's
    first streamed chunk sooner than two threads that wait on each other (bench/generation.py)."""
    check_threads(threads)
    return threads or max(1, (os.cpu_count() or 2) // 2)


@contextlib.contextmanager
def live_session(args, settings: LiveSettings, device=None, preload_events=None):
    """Load the preset, open the audio output and run until stopped; on the way out: all notes off,
    stream closed, underruns reported, the process as it was. SIGINT and SIGTERM stop it cleanly.

    With --preload, the notes of preload_events (or, if None, every note of the instruments) are
    generated before the stream opens. `settings`: check_live_arguments(args), done before anything was opened."""
    from ..io import audio
    from ..preset import load_preset
    from ..synth.live import Producer

    device = device or output_device(args)
    rate = int(args.rate or device.default_samplerate)
    stop = threading.Event()
    with ProcessSettings() as process:
        if args.preload:  # the model is built here only for --preload: live, notes are made in the worker process
            process.set_torch_threads(settings.threads)
        process.hand_over_gil_often()
        preset = load_preset(args.preset, device=args.device, lazy=True)
        preset.full_precision = args.full_precision
        engine = build_live_engine(args, preset, rate, settings.effects, live_threads=settings.threads)
        try:
            if engine.effects.config.on:  # compiled (or loaded) now: a first send must not stall the mixer
                engine.effects.prepare()
            if args.preload:
                engine.preload(preload_events, progress=not args.quiet)
            elif getattr(args, "start_ahead", False):
                engine.start_ahead()
            if not engine.supply.wait_ready(WORKER_READY_SECONDS):
                logger.warning("the note generator is not ready after %d s: cold notes wait for it",
                               WORKER_READY_SECONDS)
            # a quarter of a second of room: the producer keeps only --buffer blocks in it
            ring = audio.RingBuffer(max(rate // 4, int(4 * args.buffer * args.blocksize)), channels=2)
            stream = audio.open_output(ring, device, rate, args.blocksize, settings.latency)
            status = None if args.quiet else StatusLine(sys.stderr)
            producer = Producer(engine, ring, rate, args.blocksize, args.buffer, status=status,
                                alive=lambda: stream.active)
            process.catch_signals(stop)
            session = LiveSession(producer, stop)
            process.freeze_garbage()
            logger.info("audio: %s at %d Hz, %d-frame blocks, %g ahead", device.name, rate, args.blocksize,
                        args.buffer)
            stream.start()
            try:
                with status.attached() if status is not None else contextlib.nullcontext():
                    yield session
            finally:
                dead = producer.stalled or not stream.active
                stream.stop()
                stream.close()
                if session.summary is not None:
                    logger.info("%s", session.summary.line())
                else:
                    logger.info("%d underruns", ring.underruns)
                logger.info("%s", voice_limit_line(engine))
                logger.info("%s", stand_in_line(engine))
                if dead:
                    raise UsageError("the audio device stopped (device removed or audio server gone)")
        finally:
            engine.close()


class StatusLine:
    """The one live status line, rewritten in place. While attached(), a log message first wipes the
    line, so warnings print on lines of their own and the status line is redrawn below them."""

    def __init__(self, stream):
        self.stream = stream
        self.width = 0

    def __call__(self, line: str) -> None:
        # pad over what a longer previous line left on screen
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def filter(self, record) -> bool:  # a logging filter on the handlers that share the stream
        self.clear()
        return True

    @contextlib.contextmanager
    def attached(self, handlers=None):
        handlers = logging.getLogger().handlers if handlers is None else handlers
        for handler in handlers:
            handler.addFilter(self)
        try:
            yield self
        finally:
            for handler in handlers:
                handler.removeFilter(self)
            if self.width:
                self.stream.write("\n")
                self.stream.flush()
                self.width = 0
