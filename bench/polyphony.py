"""Polyphony inside a JACK dummy server: singsynth listen vs FluidSynth.

1. Held voices: N note-ons at once (15 channels x distinct keys, all notes already cached), held for
   --hold seconds, then released. A level passes with zero underruns in singsynth's ring buffer and no
   voice faded early by its live voice limit (both from its status line); JACK xruns are shown beside.
   Reported: the largest passing level.
2. Cold note-ons per second: R new notes a second (never generated before) for --burst seconds. A rate
   is absorbed with zero underruns and the generation queue empty within a second of the last note.
FluidSynth plays samples: only the first applies; it is judged by JACK xruns.

    python bench/polyphony.py [--preset default] [--levels 32,64,128,256,384,512] [--rates 2,5,10,20,50]
                              [--effects R,C]

--effects R,C: every channel of singsynth starts with CC91=R and CC93=C, so that its reverb and chorus run
throughout (without it, nothing is sent to them and they cost nothing).
"""
from __future__ import annotations

import argparse
import faulthandler
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from jack_helpers import SINGSYNTH, JackServer, Rig  # noqa: E402
from jack_helpers import stop_process as stop
from livebench import SOUNDFONT, StatusReader, fluidsynth_command, start  # noqa: E402

CHANNELS = [c for c in range(16) if c != 9]  # channel 10 is the drum kit
LOWEST = 36


def chord(n: int, velocity: int = 100) -> tuple[list[tuple[int, int]], int]:
    """n (channel, key) pairs over 15 channels, and how many distinct keys they use."""
    keys = (n + len(CHANNELS) - 1) // len(CHANNELS)
    pairs = [(CHANNELS[i % len(CHANNELS)], LOWEST + i // len(CHANNELS)) for i in range(n)]
    return pairs, keys


def chord_events(pairs: list[tuple[int, int]], at: int, hold: int, velocity: int = 100) -> list[tuple[int, bytes]]:
    events = [(at, bytes([0x90 | c, k, velocity])) for c, k in pairs]
    return events + [(at + hold, bytes([0x80 | c, k, 0])) for c, k in pairs]


def held_voices(rig: Rig, levels: list[int], hold: float, status: StatusReader | None) -> dict[int, tuple]:
    """Each level -> (underruns, xruns, most voices seen, voices faded early by the live voice limit)."""
    rate = rig.rate
    results = {}
    for n in levels:
        pairs, _ = chord(n)
        before_u = status.underruns if status else 0
        before_shed = status.shed if status else 0
        if status:
            status.max_voices = 0
        before_x = rig.xruns
        rig.audio = np.zeros((int((hold + 1.3) * rate), 2), np.float32)
        rig.play(chord_events(pairs, int(0.1 * rate), int(hold * rate)), timeout=hold * 10 + 30)
        if status:
            status.settle()
        results[n] = ((status.underruns - before_u) if status else None, rig.xruns - before_x,
                      status.max_voices if status else None, (status.shed - before_shed) if status else None)
        print(f"  {n} voices: underruns {results[n][0]}, xruns {results[n][1]}, voices seen {results[n][2]}, "
              f"faded early {results[n][3]}", file=sys.stderr)
    return results


def cold_rates(rig: Rig, rates: list[int], burst: float, status: StatusReader) -> dict[int, tuple]:
    """Each rate -> (underruns, xruns, seconds after the last note until generation was done)."""
    rate = rig.rate
    used = 0
    results = {}
    for per_second in rates:
        count = int(per_second * burst)
        events = []
        for i in range(count):
            # a fresh (pitch, velocity step) every time: 60 pitches x 8 velocities, never repeated
            key = used + i
            pitch, velocity = 36 + key % 60, 8 + 16 * ((key // 60) % 8)
            at = int((0.1 + i / per_second) * rate)
            events += [(at, bytes([0x90, pitch, velocity])), (at + int(0.2 * rate), bytes([0x80, pitch, 0]))]
        used += count
        before_u, before_x = status.underruns, rig.xruns
        rig.audio = np.zeros((int((0.1 + burst + 0.3) * rate), 2), np.float32)
        rig.play(events, timeout=burst * 10 + 30)
        t0 = time.monotonic()
        while status.pending and time.monotonic() - t0 < 30:
            time.sleep(0.05)
        drain = time.monotonic() - t0
        status.settle()
        results[per_second] = (status.underruns - before_u, rig.xruns - before_x, drain)
        print(f"  {per_second} cold notes/s: underruns {results[per_second][0]}, xruns {results[per_second][1]}, "
              f"queue empty {drain:.2f} s after the burst", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="singsynth preset (default: the shipped default)")
    parser.add_argument("--levels", default="32,64,128,256,384,512", help="voices held at once")
    parser.add_argument("--rates", default="2,5,10,20,50", help="cold note-ons per second")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds each chord is held (default 3)")
    parser.add_argument("--burst", type=float, default=3.0, help="seconds of cold note-ons per rate (default 3)")
    parser.add_argument("--period", type=int, default=256)
    parser.add_argument("--buffer", type=float, default=1.5, help="singsynth --buffer (blocks ahead)")
    parser.add_argument("--soundfont", default=SOUNDFONT)
    parser.add_argument("--skip-fluidsynth", action="store_true")
    parser.add_argument("--effects", default=None, metavar="R,C", help="singsynth's channels start at CC91=R, CC93=C")
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` shows where a stuck run waits
    levels = [int(x) for x in args.levels.split(",")]
    rates = [int(x) for x in args.rates.split(",")]
    most = max(levels)
    sends = []
    if args.effects:
        reverb, chorus = args.effects.split(",")
        sends = ["--reverb-send", reverb, "--chorus-send", chorus]

    server = JackServer(period=args.period).start()
    try:
        with tempfile.TemporaryDirectory() as cache:
            env = {**server.env, "XDG_CACHE_HOME": cache}
            proc = start([*SINGSYNTH, "listen", "--virtual", "bench", "--preset",
                          args.preset, "--polyphony", str(2 * most), "--blocksize", str(args.period),
                          "--buffer", str(args.buffer), "--no-disk-cache", *sends], env)
            status = StatusReader(proc.stderr)
            rig = Rig(server, 1.0, name="polyphony")
            try:
                midi = rig.wait_for_ports("singsynth:bench", 120, proc, is_midi=True, is_input=True)[0]
                audio = rig.wait_for_ports("singsynth-out:", 120, proc, is_audio=True, is_output=True)
                rig.connect(midi, audio)
                # generate every note the chords use (one per key: the channels share them), then wait
                _, keys = chord(most)
                warm = chord_events([(0, LOWEST + k) for k in range(keys)], int(0.1 * rig.rate), int(0.3 * rig.rate))
                rig.audio = rig.audio[:int(0.5 * rig.rate)]
                rig.play(warm, timeout=60)
                time.sleep(0.5)
                status.settle(timeout=120)
                print("singsynth, held cached voices:", file=sys.stderr)
                ours = held_voices(rig, levels, args.hold, status)
                print("singsynth, cold notes:", file=sys.stderr)
                cold = cold_rates(rig, rates, args.burst, status)
            finally:
                rig.close()
                stop(proc)
        fluid = {}
        if not args.skip_fluidsynth:
            proc = start(fluidsynth_command(args.soundfont, "fluidbench", 48_000, f"synth.polyphony={2 * most}"),
                         server.env, stdin=subprocess.PIPE)
            rig = Rig(server, 1.0, name="polyphony")
            try:
                midi = rig.wait_for_ports("fluidbench", 60, proc, is_midi=True, is_input=True)[0]
                audio = rig.wait_for_ports("fluidbench", 60, proc, is_audio=True, is_output=True)
                rig.connect(midi, audio)
                print("FluidSynth, held voices:", file=sys.stderr)
                fluid = held_voices(rig, levels, args.hold, None)
            finally:
                rig.close()
                stop(proc)
    finally:
        server.stop()

    def best(results: dict, ok) -> str:
        passing = [k for k, v in results.items() if ok(v)]
        return str(max(passing)) if passing else "none"

    print(f"\nJACK dummy at 48000 Hz, {args.period}-frame period; singsynth --buffer {args.buffer}, "
          f"preset {args.preset}; chords held {args.hold:g} s\n")
    print("| voices held | singsynth underruns | singsynth JACK xruns | singsynth voices seen "
          "| singsynth voices faded early | FluidSynth xruns |")
    print("|---|---|---|---|---|---|")
    for n in levels:
        u, x, seen, shed = ours[n]
        fx = fluid[n][1] if n in fluid else "-"
        print(f"| {n} | {u} | {x} | {seen} | {shed} | {fx} |")
    print("\n| cold note-ons per second | singsynth underruns | JACK xruns | queue empty after (s) |")
    print("|---|---|---|---|")
    for r in rates:
        u, x, drain = cold[r]
        print(f"| {r} | {u} | {x} | {drain:.2f} |")
    # JACK xruns come from any client or the server itself (a loaded machine shows them for everyone);
    # singsynth is judged by its own ring buffer, FluidSynth by xruns, its only measure here
    # a level held by fading voices early to keep up is not held
    print(f"\nMost cached voices with zero underruns and none faded early: "
          f"singsynth {best(ours, lambda v: v[0] == 0 and v[3] == 0)}"
          + (f"; with zero JACK xruns: FluidSynth {best(fluid, lambda v: v[1] == 0)}" if fluid else ""))
    print(f"Most cold note-ons per second absorbed (no underrun, queue empty within 1 s): "
          f"{best(cold, lambda v: v[0] == 0 and v[2] <= 1.0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
