"""One module per subcommand; each defines register(subparsers), which sets `func`. Modules named _* hold
what several commands share."""
from __future__ import annotations

import argparse
import importlib
import pkgutil

from ..errors import UsageError

__all__ = ["UsageError", "add_preset_argument", "register"]


def add_preset_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None, help="preset name in presets/ or a preset folder (default: default)")


def register(subparsers) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # parts the commands share
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
