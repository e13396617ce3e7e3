"""One module per subcommand; each defines register(subparsers), which sets `func`."""
from __future__ import annotations

import importlib
import pkgutil


def register(subparsers) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
