"""How long the engine takes to make one live-sized block with N voices held: the mix's share of each audio period.

Held voices of K. 525's notes (program 48, dealt over 15 channels), every note generated first (or read from the
note cache), then blocks made one after another in this process; the best of 5 rounds of 200 blocks. With
--effects R,C, again with every channel sending CC91=R and CC93=C to the reverb and chorus, in the same run.

    python bench/block_time.py [--preset default] [--voices 64,256,512] [--frames 256] [--rate 48000]
                               [--cache-dir DIR] [--effects R,C] [--vibrato]

--vibrato: the mod wheel at 127 on every channel, so that every voice reads at its own vibrating rate.

Prints a markdown table.
"""
from __future__ import annotations

import argparse
import time

import mido

from processes import ROOT
from singsynth.io.midi import read_midi
from singsynth.preset import load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.effects import EffectsConfig
from singsynth.synth.engine import make_engine

MIDI = ROOT / "bench" / "data" / "k525_mvt1.mid"
CHANNELS = [c for c in range(16) if c != 9]  # the drum channel plays one-shots: held voices are melodic
ROUNDS, BLOCKS = 5, 200


def held_chord(count: int, vibrato: bool = False) -> list[tuple[int, mido.Message]]:
    """`count` of K. 525's note-ons, dealt round the channels so that no channel strikes a key twice (a key struck
    again would release its voice), each channel set to the strings first."""
    events = [(0, mido.Message("program_change", channel=c, program=48)) for c in CHANNELS]
    if vibrato:
        events += [(0, mido.Message("control_change", channel=c, control=1, value=127)) for c in CHANNELS]
    held: set[tuple[int, int]] = set()
    for _, m in read_midi(str(MIDI)):
        if len(held) == count:
            break
        if m.type == "note_on" and m.velocity > 0:
            channel = next((c for c in CHANNELS if (c, m.note) not in held), None)
            if channel is not None:
                held.add((channel, m.note))
                events.append((0, m.copy(channel=channel)))
    if len(held) < count:
        raise SystemExit(f"K. 525 gives only {len(held)} distinct keys on {len(CHANNELS)} channels")
    return events


def block_time(preset, voices: int, frames: int, rate: int, cache_dir, vibrato: bool = False,
               effects: EffectsConfig = EffectsConfig()) -> tuple[int, float]:
    """Voices sounding, and the best seconds per block."""
    cache = NoteCache.for_preset(preset, rate, root=cache_dir)
    engine = make_engine(preset, rate, polyphony=max(voices, 256), cache=cache, effects=effects)
    with engine:
        engine.process(held_chord(voices, vibrato), frames)
        best = float("inf")
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(BLOCKS):
                engine.process([], frames)
            best = min(best, (time.perf_counter() - start) / BLOCKS)
        return len(engine.voices), best


def voice_counts(text: str) -> list[int]:
    try:
        counts = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers separated by commas, such as 64,256") from None
    if any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: each count must be at least 1")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--voices", default="64,256,512", type=voice_counts, help="comma-separated counts")
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--cache-dir", default=None, help="note cache folder (default: the user's note cache)")
    parser.add_argument("--effects", default=None, metavar="R,C", help="also with every channel's CC91=R, CC93=C")
    parser.add_argument("--vibrato", action="store_true", help="the mod wheel at 127 on every channel")
    args = parser.parse_args()
    wet = None
    if args.effects:
        try:
            wet = EffectsConfig(reverb_send=int(args.effects.split(",")[0]), chorus_send=int(args.effects.split(",")[1]))
        except (ValueError, IndexError):
            parser.error(f"--effects {args.effects}: give two controller values 0..127, as 40,0")
    preset = load_preset(args.preset, lazy=True)
    period_ms = 1000 * args.frames / args.rate
    print(f"{args.frames}-frame blocks at {args.rate} Hz (a period of {period_ms:.2f} ms), held voices"
          f"{', vibrato on every channel' if args.vibrato else ''}\n")
    extra = f" | ms, sends {args.effects} | share of the period | the effects' share |" if wet else " |"
    print("| voices | ms per block | share of the period" + extra)
    print("| --- | --- | ---" + (" | --- | --- | --- |" if wet else " |"))
    for count in args.voices:
        sounding, seconds = block_time(preset, count, args.frames, args.rate, args.cache_dir, args.vibrato)
        row = f"| {sounding} | {1000 * seconds:.3f} | {1000 * seconds / period_ms:.1%} |"
        if wet:
            _, with_fx = block_time(preset, count, args.frames, args.rate, args.cache_dir, args.vibrato, wet)
            row += (f" {1000 * with_fx:.3f} | {1000 * with_fx / period_ms:.1%} | "
                    f"{1000 * (with_fx - seconds) / period_ms:.1%} |")
        print(row, flush=True)


if __name__ == "__main__":
    main()
