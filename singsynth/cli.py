"""The singsynth command line: parse arguments, call the library. main(argv=None) for tests; console() is the
installed `singsynth` command."""
from __future__ import annotations

import argparse
import atexit
import faulthandler
import logging
import os
import sys
import threading

from . import __version__
from .errors import UsageError
from .process import ProcessSettings

logger = logging.getLogger("singsynth")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singsynth", description="A MIDI-driven neural synthesizer (SING).")
    parser.add_argument("--version", action="version", version=f"singsynth {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from . import commands
    commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s" if args.verbose else "%(message)s")
    try:
        with ProcessSettings():  # what a command changes in the process is put back when it ends
            return int(args.func(args) or 0)
    except UsageError as exc:  # the one place a user's mistake becomes one line and exit code 2
        print(f"singsynth {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `singsynth ... | head`: the reader left, which is no error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"singsynth {args.command}: interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The `singsynth` command: main(), then exit. Python's orderly shutdown (every module and library torn down
    one by one, every array freed) takes 0.05 s after a render and about 0.4 s once torch is loaded, and frees
    nothing the system would not free at exit: skip it when nothing else runs. Exit handlers still run and
    output is flushed; files are closed by then. A crash in compiled code (PortAudio, JACK, numba's kernels) prints
    every thread's Python stack to stderr before the process dies, so a report says where it was."""
    faulthandler.enable()
    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader left (`| head`), or main() closed the stream after it did
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
