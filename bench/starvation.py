"""Block time while generation runs flat out: the mixer alone, beside a generation thread, beside a worker process.

The live engine holds --voices voices of notes already generated (8 channels of held keys, looping), and makes
256-frame blocks paced at 48 kHz (one every 5.3 ms, as a sound card asks for them) for --seconds. Meanwhile the
live generator is kept busy with cold notes (new pitches and velocities, at least 8 streaming at any time): not at
all ("none"), in a thread of the same process, as before ("thread"), or in the worker process that listen and
play use ("process"). Per mode: each block's time to make (median, 99th percentile, largest), the share of
blocks that took longer than the period (each one an underrun if no block were queued ahead), and the notes
generated meanwhile.

    python bench/starvation.py [--preset default] [--voices 256] [--seconds 20] [--modes none,thread,process]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import mido
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from singsynth.preset import load_preset  # noqa: E402
from singsynth.synth.cache import NoteCache  # noqa: E402
from singsynth.synth.engine import make_engine, make_live_engine  # noqa: E402

RATE, BLOCK = 48000, 256
CHANNELS = 8  # melodic channels holding the voices (program 0 on each)


def held_keys(voices: int) -> list[tuple[int, int]]:
    """(channel, key) of the held voices: CHANNELS channels, the same keys on each (notes shared)."""
    per_channel = -(-voices // CHANNELS)
    return [(c, 48 + k) for c in range(CHANNELS) for k in range(per_channel)][:voices]


def run(preset, held: dict, mode: str, voices: int, seconds: float) -> dict:
    cache = NoteCache(max_bytes=2 << 30)
    for key, note in held.items():
        cache.put(key, note, disk=False)
    live = make_live_engine(preset, RATE, polyphony=max(voices, 256), cache=cache,
                            worker=mode == "process", instrument=None)
    try:
        if mode == "process":
            live.supply.wait_ready(120)
        live.process([(0, mido.Message("note_on", channel=c, note=k, velocity=100)) for c, k in held_keys(voices)],
                     BLOCK)
        # cold notes to keep the generator busy (this mode's cache holds only the held ones): every key and
        # velocity step on channel 9, never repeated
        cold = itertools.product(range(127, 0, -8), range(21, 109))
        period = BLOCK / RATE
        times, generated0 = [], live.stats["generated"]
        next_at = time.perf_counter()
        end = next_at + seconds
        while next_at < end:
            if mode != "none":
                while live.stats["pending"] < 8:
                    velocity, key = next(cold)
                    live.prefetch(mido.Message("note_on", channel=8, note=key, velocity=velocity))
            started = time.perf_counter()
            live.process([], BLOCK)
            times.append(time.perf_counter() - started)
            next_at += period
            time.sleep(max(0.0, next_at - time.perf_counter()))
        t = np.array(times) * 1000
        return {"mode": mode, "blocks": len(t), "median": np.median(t), "p99": np.percentile(t, 99), "max": t.max(),
                "over": float(np.mean(t > period * 1000)), "generated": live.stats["generated"] - generated0,
                "voices": live.stats["voices"]}
    finally:
        live.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--voices", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--modes", default="none,thread,process")
    args = parser.parse_args()
    preset = load_preset(args.preset, lazy=True)
    cache = NoteCache(max_bytes=2 << 30)
    with make_engine(preset, RATE, cache=cache) as render:  # the held notes, generated first
        ons = [(0, mido.Message("note_on", channel=c, note=k, velocity=100)) for c, k in held_keys(args.voices)]
        render.preload(ons)
        held = {key: cache.get(key) for key in render._keys(ons)}
    print(f"{args.voices} held voices, 256-frame blocks at 48 kHz (period {BLOCK / RATE * 1000:.2f} ms), "
          f"{args.seconds:g} s per mode, preset {preset.name}")
    print("| generation | blocks | median (ms) | 99th pct (ms) | largest (ms) | over the period | notes generated |")
    print("|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        r = run(preset, held, mode, args.voices, args.seconds)
        print(f"| {r['mode']} | {r['blocks']} | {r['median']:.2f} | {r['p99']:.2f} | {r['max']:.1f} | "
              f"{100 * r['over']:.1f} % | {r['generated']} |", flush=True)


if __name__ == "__main__":
    main()
