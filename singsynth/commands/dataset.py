"""singsynth dataset: render an NSynth-format data set from SoundFonts, or describe one."""
from __future__ import annotations

import os
from collections import Counter

from ..model.config import VELOCITY_CLASSES
from . import UsageError


def register(sub) -> None:
    p = sub.add_parser("dataset", help="render an NSynth-format data set from SoundFonts, or describe one")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    render = actions.add_parser("soundfont", help="render GM programs of SoundFonts with FluidSynth")
    render.add_argument("soundfonts", nargs="+", metavar="SOUNDFONT", help=".sf2 or .sf3 files")
    render.add_argument("--out", required=True, help="output folder (resumes if it holds an earlier render)")
    render.add_argument("--programs", default="0-127",
                        help="GM programs 0..127: comma list and ranges, e.g. 0,40-47 (default: all); "
                             "'drums' alone renders only the drum kit")
    render.add_argument("--pitches", default="21-108", help="MIDI pitch range, e.g. 21-108 (default)")
    render.add_argument("--velocities", default=",".join(map(str, VELOCITY_CLASSES)),
                        help="MIDI velocities (default: NSynth's 25,50,75,100,127)")
    render.add_argument("--rate", type=int, default=16000, choices=(16000, 48000),
                        help="sample rate of the notes (default 16000, SING's; 48000 for full-band presets)")
    render.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    render.add_argument("--no-drums", action="store_true", help="leave out the GM standard drum kit")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    render.set_defaults(func=run_soundfont)

    info = actions.add_parser("info", help="instruments and note counts per split of an NSynth-format folder")
    info.add_argument("folder")
    info.set_defaults(func=run_info)


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--{what}: {text!r} is not a number") from None


def parse_list(text: str, what: str, lo: int, hi: int) -> list[int]:
    """'0,40-47' -> [0, 40, ..., 47], each within lo..hi."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"--{what}: empty item in {text!r}; use e.g. 0,40-47")
        if "-" in part[1:]:
            first, last = part.split("-", 1)
            a, b = _integer(first, what), _integer(last, what)
            if a > b:
                raise UsageError(f"--{what}: range {part} runs backwards")
            values.extend(range(a, b + 1))
        else:
            values.append(_integer(part, what))
    bad = [v for v in values if not lo <= v <= hi]
    if bad:
        raise UsageError(f"--{what}: {bad[0]} is outside {lo}..{hi}")
    return sorted(set(values))


def parse_programs(text: str) -> tuple[list[int], bool]:
    """Programs and whether the drum kit was named with the 'drums' token."""
    tokens = [t.strip() for t in text.split(",")]
    drums = "drums" in tokens
    rest = ",".join(t for t in tokens if t != "drums")
    return (parse_list(rest, "programs", 0, 127) if rest else []), drums


def parse_range(text: str, what: str) -> tuple[int, int]:
    values = text.split("-")
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise UsageError(f"--{what}: {text!r} is not a range like 21-108")
    lo, hi = (_integer(v, what) for v in values)
    if not 0 <= lo <= hi <= 127:
        raise UsageError(f"--{what}: {text!r} must be a range within 0..127")
    return lo, hi


def run_soundfont(args) -> int:
    from ..train.soundfont import render_dataset
    programs, drums_token = parse_programs(args.programs)
    drums = drums_token or not args.no_drums
    if args.no_drums and drums_token:
        raise UsageError("--programs names 'drums' but --no-drums is given; drop one")
    if not programs and not drums:
        raise UsageError("nothing to render: no programs and no drums")
    pitches = parse_range(args.pitches, "pitches")
    velocities = parse_list(args.velocities, "velocities", 1, 127)
    if args.jobs < 1:
        raise UsageError(f"--jobs: {args.jobs}; give at least 1")
    summary = render_dataset(args.soundfonts, args.out, programs=programs, drums=drums, pitches=pitches,
                             velocities=velocities, jobs=args.jobs, progress=not args.quiet,
                             rate=args.rate)
    print(f"{summary['out']}: {summary['notes']} notes of {summary['instruments']} instruments; "
          f"rendered {summary['rendered']}, skipped as done {summary['skipped']}, "
          f"dropped silent {summary['silent']}, clipped {summary['clipped']}, {summary['seconds']:.1f} s")
    return 0


def run_info(args) -> int:
    from ..train.data import NSynthData
    data = NSynthData(args.folder)
    splits = {name: data.split(name) for name in ("train", "valid", "test")}
    per_instrument = {name: Counter(data.notes[i].instrument for i in indices) for name, indices in splits.items()}
    print(f"{data.root}: {len(data.notes)} notes, {len(data.instruments)} instruments; "
          + ", ".join(f"{name} {len(indices)}" for name, indices in splits.items()))
    for i, inst in enumerate(data.instruments):
        kind = "drums" if inst.drums else (f"GM {inst.gm_program}" if inst.gm_program is not None
                                           else inst.family or "?")
        counts = "/".join(str(per_instrument[name][i]) for name in splits)
        lo, hi = inst.pitch_range
        print(f"  {i:3d}  {inst.id}  ({kind}, pitches {lo}-{hi}, train/valid/test notes {counts})")
    return 0
