"""Note-on to first sound, frame-exact inside a JACK dummy server: singsynth listen vs FluidSynth.

A JACK client sends each note-on at a known frame and records the synthesizer's output ports in the
same process callback, so (first recorded frame above -60 dBFS) - (frame of the note-on) is the whole
path: MIDI port, synthesizer, audio ports. Cold notes are generated on the spot (a fresh note cache, and
`--no-start-ahead`); cached notes are the same notes played a second time. Cold notes started ahead are
generated on the spot too, but their first chunk was made ahead while singsynth waited (`listen`'s default:
START_AHEAD_WAIT seconds are left for it before the first note). FluidSynth plays samples, so it has no cold case.

    python bench/latency.py [--preset default] [--notes 8] [--period 256] [--buffer 2]
"""
from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from jack_helpers import SINGSYNTH, JackServer, Rig, first_sound, stop_process  # noqa: E402
from livebench import SOUNDFONT, fluidsynth_command, start  # noqa: E402

THRESHOLD = 1e-3  # -60 dBFS: the first sample anyone could hear, same for both synthesizers
SPACING = 1.5  # seconds between note-ons: the previous note has ended by then
# listen makes the first chunk of every note channel 1 (the piano) and the drum kit can play, about 2,200,
# in about 14 s on 2 cores: the pass with starts made ahead waits this long before its first note
START_AHEAD_WAIT = 25.0
HOLD = 0.3


def note_events(pitches: list[int], start: float, rate: int, period: int) -> tuple[list, list[int]]:
    """Note-on/off pairs SPACING apart; the note-ons land at varied offsets inside a period."""
    events, onsets = [], []
    for k, pitch in enumerate(pitches):
        frame = round((start + k * SPACING) * rate) + (k * 97) % period
        onsets.append(frame)
        events += [(frame, bytes([0x90, pitch, 100])), (frame + round(HOLD * rate), bytes([0x80, pitch, 0]))]
    return events, onsets


def measure(server: JackServer, command: list[str], midi_pattern: str, audio_pattern: str, passes: list[str],
            pitches: list[int], env: dict, stdin=None, wait: float = 0.0) -> dict[str, list[int | None]]:
    """Start a synthesizer, `wait` seconds once it is connected, play `pitches` once per pass, return the
    latency of each note in frames."""
    proc = start(command, env, stdin)
    rig = None
    results = {}
    try:
        seconds = 0.5 + len(pitches) * SPACING + 0.5
        rig = Rig(server, seconds, name="latency")
        midi_in = rig.wait_for_ports(midi_pattern, 120, proc, is_midi=True, is_input=True)[0]
        audio = rig.wait_for_ports(audio_pattern, 120, proc, is_audio=True, is_output=True)
        rig.connect(midi_in, audio)
        time.sleep(wait)
        for name in passes:
            events, onsets = note_events(pitches, 0.5, rig.rate, server.period)
            recorded = rig.play(events, timeout=seconds * 4 + 30)
            found = []
            for k, frame in enumerate(onsets):
                end = onsets[k + 1] if k + 1 < len(onsets) else len(recorded)
                if np.abs(recorded[frame - round(0.01 * rig.rate):frame]).max() > THRESHOLD:
                    raise RuntimeError(f"{name} pass, note {k}: still sounding before its note-on "
                                       "(a voice that did not stop); measurement void")
                hit = first_sound(recorded[:end], frame, THRESHOLD)
                found.append(None if hit is None else hit - frame)
            results[name] = found
    finally:
        if rig is not None:
            rig.close()
        stop_process(proc)
    return results


def row(name: str, frames: list[int | None], rate: int, period: int) -> str:
    heard = sorted(f for f in frames if f is not None)
    missed = len(frames) - len(heard)
    if not heard:
        return f"| {name} | no sound | | | | | {missed}/{len(frames)} |"
    med, lo, hi = statistics.median(heard), heard[0], heard[-1]
    p95 = heard[math.ceil(0.95 * len(heard)) - 1]  # nearest rank: with fewer than 20 notes, the slowest
    return (f"| {name} | {med:.0f} ({lo}-{hi}) | {1000 * med / rate:.1f} ({1000 * lo / rate:.1f}-"
            f"{1000 * hi / rate:.1f}) | {med / period:.2f} | {p95 / period:.2f} | {missed}/{len(frames)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="singsynth preset (default: the shipped default)")
    parser.add_argument("--notes", type=int, default=8, help="notes per pass (default: 8)")
    parser.add_argument("--rate", type=int, default=48_000)
    parser.add_argument("--period", type=int, default=256, help="JACK period and singsynth block size")
    parser.add_argument("--buffer", type=float, default=1.5, help="singsynth --buffer (blocks ahead)")
    parser.add_argument("--soundfont", default=SOUNDFONT)
    parser.add_argument("--skip-fluidsynth", action="store_true")
    parser.add_argument("--skip-start-ahead", action="store_true", help="no pass with first chunks made ahead")
    args = parser.parse_args()

    pitches = [48 + (7 * k) % 36 for k in range(args.notes)]
    table = {}
    server = JackServer(rate=args.rate, period=args.period).start()
    try:
        command = [*SINGSYNTH, "listen", "--virtual", "bench", "--quiet",
                   "--preset", args.preset, "--blocksize", str(args.period), "--buffer", str(args.buffer)]
        with tempfile.TemporaryDirectory() as cache:
            env = {**server.env, "XDG_CACHE_HOME": cache}  # a fresh note cache: the first pass is cold
            found = measure(server, [*command, "--no-start-ahead"], "singsynth:bench", "singsynth-out:",
                            ["cold", "cached"], pitches, env)
            table[f"singsynth, cold notes (--buffer {args.buffer})"] = found["cold"]
            table[f"singsynth, cached notes (--buffer {args.buffer})"] = found["cached"]
        if not args.skip_start_ahead:
            with tempfile.TemporaryDirectory() as cache:
                env = {**server.env, "XDG_CACHE_HOME": cache}
                found = measure(server, command, "singsynth:bench", "singsynth-out:", ["started"], pitches, env,
                                wait=START_AHEAD_WAIT)
                table[f"singsynth, cold notes started ahead (--buffer {args.buffer})"] = found["started"]
        if not args.skip_fluidsynth:
            command = fluidsynth_command(args.soundfont, "fluidbench", args.rate)
            found = measure(server, command, "fluidbench", "fluidbench", ["samples"], pitches, server.env,
                            stdin=subprocess.PIPE)
            table["FluidSynth (FluidR3Mono_GM.sf3)"] = found["samples"]
    finally:
        server.stop()

    print(f"\nNote-on to first sound above -60 dBFS, JACK dummy at {args.rate} Hz, {args.period}-frame period, "
          f"{args.notes} notes; median (min-max)\n")
    print("| synthesizer | frames | ms | periods | 95th percentile (periods) | no sound |")
    print("|---|---|---|---|---|---|")
    for name, frames in table.items():
        print(row(name, frames, args.rate, args.period))
    return 0


if __name__ == "__main__":
    sys.exit(main())
