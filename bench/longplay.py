"""A MIDI file in a loop for --minutes through singsynth listen inside a JACK dummy server: memory and underruns.

A JACK client sends the file's messages at their frames, pass after pass, into `singsynth listen` (the live
path: MIDI port, event queue, engine, ring buffer, audio callback). Each pass is transposed (melodic
channels) and has its velocities shifted, cycling through 12 transpositions x 5 velocity shifts, so new
notes keep being generated and a small note cache (--cache-size) keeps evicting; each pass ends as
`play` ends a file (sustain up, all notes off), then a --gap of silence. Resident memory (VmRSS) is
sampled every --sample-every seconds; underruns come from singsynth's status line and exit report, the
note cache's size from its exit report.

    python bench/longplay.py [--minutes 30] [--midi examples/demo.mid] [--cache-size 64] [--preset default]
"""
from __future__ import annotations

import argparse
import faulthandler
import math
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from jack_helpers import SINGSYNTH, JackServer, stop_process  # noqa: E402
from livebench import SILENCE_DBFS, MemoryProbe, StatusReader, StreamRig, pack, start  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TRANSPOSE = (0, 2, -3, 5, -1, 4, -5, 1, 3, -2, 6, -4)  # semitones, melodic channels only
VELOCITY_SHIFT = (0, 12, -12, 24, -24)  # 5 is prime to 12: 60 different passes before one repeats
DRUMS = 9
END_OF_PASS = [bytes([0xB0 | c, control, 0]) for c in range(16) for control in (64, 123)]


def variant(message, transpose: int, shift: int) -> bytes | None:
    """The message's bytes for one pass: melodic keys transposed, note-on velocities shifted (1..127);
    None for a key moved out of 0..127."""
    data = bytearray(message.bytes())
    if message.type in ("note_on", "note_off", "polytouch") and message.channel != DRUMS:
        key = message.note + transpose
        if not 0 <= key <= 127:
            return None
        data[1] = key
    if message.type == "note_on" and message.velocity > 0:
        data[2] = min(max(message.velocity + shift, 1), 127)
    return bytes(data)


def passes(events: list, seconds: float, rate: int, gap: float,
           first: int) -> tuple[list[tuple[int, bytes]], list[int]]:
    """Enough passes of `events` ((seconds, mido.Message)) to fill `seconds` -> (frame, bytes) events from
    frame `first`, and the frame each pass starts at."""
    length = (events[-1][0] if events else 0.0) + gap
    count = max(1, math.ceil(seconds / length))
    out, starts = [], []
    for k in range(count):
        at = first + round(k * length * rate)
        starts.append(at)
        transpose, shift = TRANSPOSE[k % len(TRANSPOSE)], VELOCITY_SHIFT[k % len(VELOCITY_SHIFT)]
        for t, message in events:
            data = variant(message, transpose, shift)
            if data is not None:
                out.append((at + round(t * rate), data))
        end = at + round(events[-1][0] * rate) if events else at
        out += [(end, message) for message in END_OF_PASS]
    return out, starts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to play (default 30)")
    parser.add_argument("--midi", default=str(ROOT / "examples" / "demo.mid"), help="the file to loop")
    parser.add_argument("--preset", default="default", help="singsynth preset (default: the shipped default)")
    parser.add_argument("--cache-size", type=int, default=64, metavar="MIB",
                        help="singsynth's note cache in memory (default 64 MiB, about 85 notes at 48 kHz)")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds of silence between passes (default 1)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    parser.add_argument("--report-every", type=float, default=5.0, help="minutes between table rows (default 5)")
    parser.add_argument("--period", type=int, default=256, help="JACK period and singsynth block size")
    parser.add_argument("--buffer", type=int, default=2, help="singsynth --buffer (blocks ahead)")
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` shows where a stuck run waits

    from singsynth.io.midi import read_midi
    events = read_midi(args.midi)
    seconds = args.minutes * 60
    rows: list[tuple] = []  # (minutes, pass, RSS MiB, underruns, JACK xruns, cache hits, cache misses)
    server = JackServer(period=args.period).start()
    try:
        with tempfile.TemporaryDirectory() as cache:
            env = {**server.env, "XDG_CACHE_HOME": cache}
            proc = start([*SINGSYNTH, "listen", "--virtual", "longplay", "--preset", args.preset,
                          "--blocksize", str(args.period), "--buffer", str(args.buffer), "--no-disk-cache",
                          "--cache-size", str(args.cache_size)], env)
            status = StatusReader(proc.stderr)
            memory = MemoryProbe(proc.pid, interval=args.sample_every)
            rig = StreamRig(server, 0.0, name="longplay")
            try:
                midi = rig.wait_for_ports("singsynth:longplay", 120, proc, is_midi=True, is_input=True)[0]
                audio = rig.wait_for_ports("singsynth-out:", 120, proc, is_audio=True, is_output=True)
                rig.connect(midi, audio)
                rig.arm()
                first = int(0.5 * rig.rate)
                timeline, starts = passes(events, seconds, rig.rate, args.gap, first)
                end = first + round(seconds * rig.rate)
                timeline = [(frame, data) for frame, data in timeline if frame < end] + \
                    [(end, message) for message in END_OF_PASS]
                starts = [s for s in starts if s < end]
                rig.schedule(*pack(timeline))
                print(f"{len(starts)} passes of {Path(args.midi).name} ({events[-1][0]:.1f} s + {args.gap:g} s), "
                      f"{len(timeline):,} MIDI messages over {args.minutes:g} min", file=sys.stderr)

                def row() -> tuple:
                    minutes = max(rig.position - first, 0) / rig.rate / 60
                    played = sum(s <= rig.position for s in starts)
                    return (minutes, played, memory.sample() or math.nan, status.underruns, rig.xruns, status.hits,
                            status.misses)

                rig.wait_until(first)
                began = memory.elapsed()
                rows.append(row())
                next_report = args.report_every
                while rig.position < end:
                    rig.wait_until(min(rig.position + round(args.sample_every * rig.rate), end), stall=30)
                    if proc.poll() is not None:
                        raise RuntimeError(f"singsynth exited with {proc.returncode} during the run")
                    sample = row()
                    if sample[0] >= next_report - 1e-9 or rig.position >= end:
                        rows.append(sample)
                        next_report += args.report_every
                        print(f"  {sample[0]:5.1f} min, pass {sample[1]}: RSS {sample[2]:.0f} MiB, underruns "
                              f"{sample[3]}, xruns {sample[4]}", file=sys.stderr)
                rig.wait_until(end + round(2.0 * rig.rate), stall=30)  # the last release
                peak = memory.peak()
                threshold = 10 ** (SILENCE_DBFS / 20)
                period = rig.client.blocksize
                bounds = [*starts, end]
                sounding = sum(max(rig.peaks[a // period:b // period], default=0.0) > threshold
                               for a, b in zip(bounds, bounds[1:]))
            finally:
                rig.close()
                memory.stop()
                stop_process(proc)
            summary = status.summary()
            cache_line = status.find(r"note cache (\d+) notes, (\d+) of (\d+) MiB")
            dropped = status.find(r"(\d+) MIDI messages dropped \(queue full\), (\d+) late, (\d+) new notes dropped")
    finally:
        server.stop()

    samples = [(t - began, rss) for t, rss in memory.samples if t >= began]  # (seconds into the run, MiB)
    print(f"\n{Path(args.midi).name} in a loop for {args.minutes:g} min through singsynth listen, JACK dummy at "
          f"{server.rate} Hz, {args.period}-frame period; --buffer {args.buffer}, --cache-size {args.cache_size} MiB, "
          f"preset {args.preset}; RSS sampled every {args.sample_every:g} s\n")
    print("| time (min) | passes begun | RSS (MiB) | underruns | JACK xruns | cache hits | cache misses |")
    print("|---|---|---|---|---|---|---|")
    for minutes, played, rss, underruns, xruns, hits, misses in rows:
        print(f"| {minutes:.1f} | {played} | {rss:.0f} | {underruns} | {xruns} | {hits} | {misses} |")
    largest = max(samples, key=lambda s: s[1]) if samples else (math.nan, math.nan)
    print(f"| max | | {largest[1]:.0f} (at {largest[0] / 60:.1f} min) | | | | |")
    print()
    # flat: compare the end with the first row after the first report interval, when the cache has filled
    settled = next((r for r in rows[1:] if r[0] >= min(args.report_every, args.minutes / 2)), rows[-1])
    print(f"RSS from {settled[0]:.1f} min to the end: {rows[-1][2] - settled[2]:+.0f} MiB; "
          f"kernel high-water mark {peak:.0f} MiB")
    later = [(t, rss) for t, rss in samples if t >= samples[-1][0] / 2] if samples else []
    if len(later) >= 3:
        slope = np.polyfit([t for t, _ in later], [rss for _, rss in later], 1)[0] * 3600
        print(f"RSS trend over the second half of the run: {slope:+.0f} MiB per hour")
    print(f"Passes with sound: {sounding} of {len(starts)}")
    if summary:
        print(f"Underruns, whole run (exit report): {summary['underruns']} ({summary['missing_frames']} frames of "
              f"silence); MIDI messages played: {summary['events']:,} of {rig.sent:,} sent")
    else:
        print("No exit report from singsynth")
    if cache_line:
        print(f"Note cache at the end: {cache_line[1]} notes, {cache_line[2]} of {cache_line[3]} MiB")
    if dropped:
        print(f"Dropped: {dropped[1]} MIDI messages (queue full), {dropped[3]} new notes (generation behind); "
              f"{dropped[2]} late")
    if status.tracebacks:
        print(f"Tracebacks on singsynth's stderr: {status.tracebacks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
