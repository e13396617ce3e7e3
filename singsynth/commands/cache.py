"""singsynth cache: what the note cache on disk holds (presets, rates, sizes), and clearing it."""
from __future__ import annotations

import time
from pathlib import Path

from . import UsageError


def register(sub) -> None:
    p = sub.add_parser("cache", help="list the note cache on disk (presets, rates, sizes) or clear it")
    p.add_argument("action", nargs="?", choices=("list", "clear"), default="list",
                   help="list (default) or clear")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="clear: only this preset's notes (its name, or its folder's name as listed)")
    p.add_argument("--rate", type=int, default=None, help="clear: only the notes at this rate")
    p.add_argument("--cache-dir", default=None, metavar="DIR", help="the cache's folder (default "
                   "~/.cache/singsynth/notes)")
    p.set_defaults(func=run)


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"


def run(args) -> int:
    from ..synth.cache import DEFAULT_DISK_BYTES, default_root
    from ..synth.disk_cache import folders, remove
    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_root()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--cache-dir {root}: not a folder; give the note cache's folder")
    found = folders(root)
    if args.action == "list":
        if args.preset is not None or args.rate is not None:
            raise UsageError("--preset and --rate choose what `singsynth cache clear` deletes; `list` lists all")
        print(f"note cache: {root} ({_size(sum(f.bytes for f in found))} of at most {_size(DEFAULT_DISK_BYTES)} "
              "by default, --cache-max)")
        if not found:
            print("  (empty)")
        for f in found:
            kind = "as played" if f.played else "generated"
            print(f"  {f.preset:40s} {f.rate:6d} Hz {kind:9s} {f.notes:6d} notes {_size(f.bytes):>12s}  "
                  f"used {_when(f.last_used)}")
        return 0
    chosen = [f for f in found if (args.preset is None or args.preset in (f.preset, f.preset.rsplit("-", 1)[0]))
              and (args.rate is None or f.rate == args.rate)]
    if (args.preset is not None or args.rate is not None) and not chosen:
        asked = " ".join(f"{name} {value}" for name, value in (("--preset", args.preset), ("--rate", args.rate))
                         if value is not None)
        have = ", ".join(sorted({f"{f.preset} ({f.rate} Hz)" for f in found})) or "nothing"
        raise UsageError(f"cache clear {asked}: no such notes in {root}; it holds {have}")
    for f in chosen:
        remove(f)
    print(f"cleared {sum(f.notes for f in chosen)} notes ({_size(sum(f.bytes for f in chosen))}) from {root}")
    return 0
