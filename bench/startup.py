"""Start-up: wall time of whole `singsynth` processes that run no model, median of --runs runs each, beside
`fluidsynth --version` and a bare `python -c pass` (the floor any Python program starts from).

    python bench/startup.py [--runs 5]

Prints a markdown table.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from processes import SINGSYNTH, compile_package

COMMANDS = [("singsynth --help", [*SINGSYNTH, "--help"]),
            ("singsynth instruments", [*SINGSYNTH, "instruments"]),
            ("singsynth info", [*SINGSYNTH, "info"]),
            ("singsynth ports", [*SINGSYNTH, "ports"]),
            ("singsynth render --rate fast (an argument error)", [*SINGSYNTH, "render", "x.mid", "-o", "x.wav",
                                                                  "--rate", "fast"]),
            ("python -c pass", [sys.executable, "-c", "pass"])]


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    compile_package()
    commands = list(COMMANDS)
    if shutil.which("fluidsynth"):
        commands.append(("fluidsynth --version", ["fluidsynth", "--version"]))
    print(f"| command | median of {args.runs} (s) | slowest (s) |")
    print("| --- | --- | --- |")
    for name, command in commands:
        wall(command)  # the first run reads the files from disk; the table is about starting, not the disk
        times = [wall(command) for _ in range(args.runs)]
        print(f"| `{name}` | {statistics.median(times):.2f} | {max(times):.2f} |", flush=True)


if __name__ == "__main__":
    main()
