"""The options and the Engine that render, play and listen build alike."""
from __future__ import annotations

import re

from . import UsageError


def add_instrument_arguments(p) -> None:
    """Options shared by everything that builds an Engine offline."""
    p.add_argument("--instrument", default=None, help="instrument for every melodic channel: a name, a GM "
                   "program 0..127 or a blend like flute:0.7,violin:0.3 (default: the file's program changes)")
    p.add_argument("--morph", default=None, metavar="A,B", help="sweep between two instruments with the mod wheel")
    p.add_argument("--morph-cc", type=int, default=1, metavar="CC", help="controller for --morph (default 1)")
    p.add_argument("--polyphony", type=int, default=256, help="most voices at once (default 256)")
    p.add_argument("--tuning", type=float, default=440.0, metavar="HZ", help="pitch of A4 (default 440)")
    p.add_argument("--release", type=float, default=1.0, metavar="S",
                   help="release after note-off for instruments whose preset gives none (default 1 s)")
    p.add_argument("--preload", action="store_true",
                   help="generate every note the file needs before playing (render always does)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model runs (default cpu)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cache-dir", default=None, metavar="DIR",
                       help="keep generated notes here (default ~/.cache/singsynth/notes)")
    group.add_argument("--no-disk-cache", action="store_true", help="keep generated notes in memory only")
    p.add_argument("--cache-size", type=int, default=1024, metavar="MIB", help="note cache in memory (default 1024)")
    p.add_argument("--cache-max", type=int, default=2048, metavar="MIB", help="note cache on disk, every preset "
                   "together: the notes used longest ago are deleted past it (default 2048)")
    p.add_argument("--velocity-steps", type=int, default=16, metavar="N",
                   help="velocities share a note within 127/N steps (default 16)")


def add_precision_argument(p) -> None:
    """--full-precision for the commands that generate notes (render, note, eval, play, listen)."""
    p.add_argument("--full-precision", action="store_true",
                   help="generate notes in float32 throughout (default: where the CPU has bfloat16 "
                        "arithmetic, the LSTM and decoder body multiply in bfloat16, 1.5 to 2 times as fast, "
                        "the notes within -45 dB of float32 ones); notes already cached play as they are")


def add_threads_argument(p) -> None:
    """--threads for the commands that generate offline (render, note, eval)."""
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for generating notes "
                   "(default: as many as the cores other programs leave idle)")


def check_threads(threads: int | None) -> None:
    """--threads, of any command: at least 1 (None: the command's default) -> else UsageError."""
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: give at least 1")


def offline_threads(args):
    """The thread policy that --threads asks for; bad values -> UsageError."""
    from ..synth.threads import GenerationThreads
    check_threads(args.threads)
    return GenerationThreads(args.threads)


def check_device(args) -> None:
    """--device of any command: cpu, cuda or cuda:N, CUDA only where there is a device; else UsageError, told
    before anything slow is done."""
    device = args.device
    if device == "cpu":  # torch is not imported until a note must be generated
        return
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise UsageError(f"--device {device}: use cpu or cuda")
    import torch
    if not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device is available here; use --device cpu")


def build_engine(args, preset, rate: int, effects, threads=None):
    """Render's Engine and its cache from parsed arguments; bad values -> UsageError. `effects`: the EffectsConfig
    the options asked for (_effects.effects_config, checked before anything was loaded); `threads`: the thread
    policy (offline_threads), None for torch's own setting."""
    from ..synth.engine import make_engine
    return make_engine(preset, threads=threads, **_engine_options(args, preset, rate, effects))


def build_live_engine(args, preset, rate: int, effects, live_threads: int = 1):
    """Live play's Engine (generating in a worker process with `live_threads` of torch's) from parsed arguments,
    as build_engine."""
    from ..synth.engine import make_live_engine
    return make_live_engine(preset, worker=True, live_threads=live_threads,
                            **_engine_options(args, preset, rate, effects))


def _engine_options(args, preset, rate: int, effects) -> dict:
    """What both engines take from the options: the cache, the polyphony, the instrument, tuning, gain..."""
    from ..synth.cache import NoteCache
    if args.cache_size <= 0 or args.cache_max <= 0 or not 2 <= args.velocity_steps <= 127:
        raise UsageError("--cache-size and --cache-max must be positive and --velocity-steps within 2..127")
    cache = NoteCache.for_preset(preset, rate, root=args.cache_dir, disk=not args.no_disk_cache,
                                 max_bytes=args.cache_size * 2**20, velocity_steps=args.velocity_steps,
                                 disk_max=args.cache_max * 2**20)
    return dict(sample_rate=rate, polyphony=args.polyphony, instrument=args.instrument, morph=args.morph,
                morph_cc=args.morph_cc, cache=cache, tuning_a4=args.tuning,
                master_gain=10 ** (getattr(args, "gain", 0.0) / 20), release=args.release, effects=effects)
