"""How the whole-process benchmarks launch singsynth: as the installed `singsynth` command runs it (cli.console),
with its bytecode compiled as `pip install` leaves it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SINGSYNTH = [sys.executable, "-c", "from singsynth.cli import console; console()"]


def compile_package() -> None:
    """singsynth's bytecode compiled once: where PYTHONDONTWRITEBYTECODE is set, every process would otherwise
    compile the sources again (about 0.05 s)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "singsynth")], check=True)
