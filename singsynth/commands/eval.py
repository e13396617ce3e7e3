"""singsynth eval: a preset against a pitch-shifting sampler and silence on held-out notes."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import UsageError, add_preset_argument
from ._engine import add_precision_argument, add_threads_argument, check_device, offline_threads


def register(sub) -> None:
    p = sub.add_parser("eval", help="spectral loss and pitch accuracy of a preset on held-out notes")
    add_preset_argument(p)
    p.add_argument("--data", required=True, help="NSynth-format folder the preset was trained on")
    p.add_argument("--split", choices=("train", "valid", "test"), default="test",
                   help="notes to evaluate (default test: the preset's held-out pairs)")
    p.add_argument("--cents", type=float, default=50.0,
                   help="pitch tolerance around the ground truth's own f0 (default 50)")
    p.add_argument("--limit", type=int, help="evaluate this many notes, spread over the split")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    add_threads_argument(p)
    add_precision_argument(p)
    p.add_argument("--plot", metavar="DIR", help="write spectrogram comparisons (PNG) to this folder")
    p.add_argument("--plot-count", type=int, default=4, help="notes to plot (default 4)")
    p.add_argument("--notes", metavar="NAME,NAME", type=_names,
                   help="judge (and with --plot, plot) only these notes of the split, by their names in the data")
    p.add_argument("--by-family", action="store_true",
                   help="the same figures for each General MIDI family and the drums, besides the total")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--record", action="store_true",
                   help="store the figures in the preset's metadata, under evaluation.<split> "
                        "(with --by-family, the families' too)")
    p.set_defaults(func=run)


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give note names separated by commas, as in examples.json")
    return names


def _check(args) -> None:
    if not args.cents > 0:
        raise UsageError(f"--cents {args.cents:g}: give a tolerance above 0 cents, such as 50")
    for flag, value in (("--limit", args.limit), ("--batch-size", args.batch_size), ("--plot-count", args.plot_count)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: give a count of at least 1")
    check_device(args)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'singsynth[plot]'") from None
        try:
            Path(args.plot).expanduser().mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--plot {args.plot}: cannot create the folder ({exc.strerror or exc})") from None


def run(args) -> int:
    _check(args)
    from ..preset import load_preset
    from ..train.data import NSynthData
    from ..train.eval_report import format_table
    from ..train.evaluate import evaluate
    threads = offline_threads(args)  # measures what other programs use while the preset loads
    preset = load_preset(args.preset, device=args.device)
    preset.full_precision = args.full_precision
    threads.apply()  # once: an evaluation is one long run
    data = NSynthData(args.data)
    plot_dir = Path(args.plot).expanduser() if args.plot else None
    result = evaluate(preset, data, split=args.split, cents=args.cents, plot_dir=plot_dir,
                      batch_size=args.batch_size, limit=args.limit, plot_count=args.plot_count,
                      progress=not args.json and sys.stderr.isatty(), by_family=args.by_family,
                      names=args.notes)
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    if args.record:
        from ..preset import update_metadata
        evaluation = dict(preset.meta.get("evaluation") or {})
        evaluation[args.split] = {k: v for k, v in result.items() if k != "plots"}
        update_metadata(preset.path, evaluation=evaluation)
    return 0
