"""The audio file options that render and note share: the file, and its samples' format."""
from __future__ import annotations

import argparse


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """-o/--output and the sample format: 16-bit by default, --24-bit or --float."""
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="output file: .wav or .flac")
    samples = p.add_mutually_exclusive_group()
    samples.add_argument("--24-bit", dest="pcm24", action="store_true", help="write 24-bit samples (default 16-bit)")
    samples.add_argument("--float", action="store_true",
                         help="write 32-bit float samples (WAV; a FLAC file holds 24 bits at most)")
