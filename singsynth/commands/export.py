"""singsynth export: a preset's instruments rendered into a SoundFont 2 bank that any SoundFont player plays."""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
from pathlib import Path

from . import UsageError, add_preset_argument
from ._engine import add_precision_argument, add_threads_argument, check_device, offline_threads

logger = logging.getLogger(__name__)

MAX_SPACING = 24


def register(sub) -> None:
    p = sub.add_parser("export", help="render a preset's instruments into a SoundFont (.sf2)")
    add_preset_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.sf2", help="the SoundFont file to write")
    p.add_argument("--instrument", action="append", default=None, metavar="NAME",
                   help="export this instrument (a name, a GM program 0..127 or a blend like flute:0.7,violin:0.3); "
                        "repeat for more (default: the whole preset as a General MIDI bank)")
    p.add_argument("--keys-per-zone", type=int, default=None, metavar="N",
                   help="one sample every N keys, played transposed for the keys around it (default: 3 for "
                        "named instruments, 16 for the whole preset: measured, docs/export.md)")
    p.add_argument("--velocity-layers", type=int, default=None, metavar="N",
                   help="samples at N velocities (1..16; default: 4 for named instruments, 2 for the whole preset)")
    p.add_argument("--release", type=float, default=1.0, metavar="S",
                   help="release after note-off, seconds to -60 dB, as render's --release (default 1)")
    p.add_argument("--24-bit", dest="bits24", action="store_true",
                   help="24-bit samples (SoundFont 2.04's sm24 chunk): 1.5 times the size")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model runs (default cpu)")
    add_threads_argument(p)
    add_precision_argument(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cache-dir", default=None, metavar="DIR",
                       help="keep generated notes here (default ~/.cache/singsynth/notes)")
    group.add_argument("--no-disk-cache", action="store_true", help="keep generated notes in memory only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def check_output(path: Path) -> None:
    """An .sf2 name in a folder this process can write to, or UsageError; before any note is made."""
    if path.suffix.lower() != ".sf2":
        raise UsageError(f"{path}: a SoundFont is written as .sf2; give a name ending in .sf2")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name in it, such as {path / 'bank.sf2'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: folder {parent} does not exist")
    try:  # the rights, a read-only disk: tried, not guessed from mode bits
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write in {parent} ({exc.strerror or exc})") from None


def _settings(args, whole: bool):
    from ..export.build import Settings
    spacing = args.keys_per_zone if args.keys_per_zone is not None else (16 if whole else 3)
    layers = args.velocity_layers if args.velocity_layers is not None else (2 if whole else 4)
    if not 1 <= spacing <= MAX_SPACING:
        raise UsageError(f"--keys-per-zone {spacing}: give 1..{MAX_SPACING}")
    if not 1 <= layers <= 16:
        raise UsageError(f"--velocity-layers {layers}: give 1..16 (the velocity steps singsynth plays)")
    if not 0.001 <= args.release <= 60:
        raise UsageError(f"--release {args.release}: give 0.001..60 seconds")
    return Settings(spacing, layers, args.release, args.bits24)


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM (a kill, a closing session) is taken as Ctrl-C while the export runs, so that the temporary file is
    removed as it is on Ctrl-C; the previous handler is put back after."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are the main thread's to take
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args) -> int:
    with terminate_as_interrupt():
        return export(args)


def export(args) -> int:
    from ..export import programs
    from ..export.build import MIN_ZONE_GENERATORS, build, describe, estimate_bytes, zone_count
    from ..io.sf2 import save_sf2
    from ..preset import load_preset
    from ..synth.cache import NoteCache
    from ..synth.note_supply import NoteSupply

    out = Path(args.output)
    check_output(out)
    settings = _settings(args, whole=not args.instrument)
    check_device(args)
    threads = offline_threads(args)
    preset = load_preset(args.preset, device=args.device, lazy=True)
    preset.full_precision = args.full_precision
    plan = programs.named(preset, args.instrument) if args.instrument else programs.whole_preset(preset)
    rate = preset.sample_rate
    cache = NoteCache.for_preset(preset, rate, root=args.cache_dir, disk=not args.no_disk_cache,
                                 max_bytes=256 << 20)
    supply = NoteSupply(preset, cache, rate, threads=threads)
    estimate = estimate_bytes(plan, supply, settings)
    zones = zone_count(plan, settings)
    if zones * MIN_ZONE_GENERATORS > 0xFFFF:  # told now rather than after every note is made
        raise UsageError(f"{zones} zones: more than a SoundFont's 16-bit indices can count (about "
                         f"{0xFFFF // MIN_ZONE_GENERATORS}); raise --keys-per-zone, lower --velocity-layers or "
                         "export fewer instruments")
    if estimate > 0xFFFFFFF0:
        raise UsageError(f"about {estimate / 2**30:.1f} GiB: past the 4 GiB a SoundFont can hold; raise "
                         "--keys-per-zone or lower --velocity-layers")
    logger.info("exporting %d instruments of %s at %d Hz: a sample every %d keys, %d velocity layer%s, about "
                "%.0f MiB", len(plan.entries), preset.name, rate, settings.spacing, settings.layers,
                "" if settings.layers == 1 else "s", estimate / 2**20)
    for entry in plan.entries:
        logger.debug("%s: %s", entry.name, programs.program_name(entry))
    bank = build(plan, supply, settings, progress=not args.quiet)
    name, comment = describe(preset.name, rate, settings, bank)
    size = save_sf2(out, name, bank.presets, bank.instruments, bank.samples, settings.bits24, comment)
    logger.info("wrote %s: %.1f MiB, %d presets, %d samples; play it at singsynth's level with "
                "fluidsynth -g %.2f -ni %s song.mid", out, size / 2**20, len(bank.presets), len(bank.samples),
                bank.fluid_gain, out)
    return 0
