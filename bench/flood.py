"""MIDI floods inside a JACK dummy server: singsynth listen vs FluidSynth, with the same seeded flood.

A JACK client sends --rate MIDI messages a second for --seconds, evenly spaced, on all 16 channels (the
drum channel 10 included): note-ons with random keys and velocities, note-offs of keys struck shortly
before, controller storms (CC 1, 7, 10, 11 and sustain pedal 64 toggling), pitch bends and program
changes. It records the synthesizer's output frame-exactly. Two floods, two endings:

1. all sound off (CC 120) on every channel at the end of the flood;
2. sustain pedal up (CC 64 = 0) and all notes off (CC 123) on every channel.

After each: the output level in a window 1.1 s to 1.6 s after the ending (it should be below -60 dBFS),
how long until the output stays below -60 dBFS, and a probe note (channel 1, program 0, middle C) sent
once the output is quiet: seconds until it sounds. Also counted: the synthesizer's own underruns
(singsynth's status line and exit report; FluidSynth keeps no count), JACK xruns, resident memory
(sampled every 0.5 s, and the kernel's high-water mark), MIDI messages received and dropped (singsynth
reports them when it stops), and whether it stopped on SIGTERM.

    python bench/flood.py [--seconds 60] [--rate 10000] [--seed 0] [--preset default] [--skip-fluidsynth]
                          [--cache-size MIB] [--dry]
"""
from __future__ import annotations

import argparse
import faulthandler
import math
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from jack_helpers import SINGSYNTH, JackServer, stop_process  # noqa: E402
from livebench import (  # noqa: E402
    SILENCE_DBFS,
    SOUNDFONT,
    MemoryProbe,
    StatusReader,
    StreamRig,
    fluidsynth_command,
    fmt_db,
    level,
    pack,
    probe,
    silent_after,
    start,
)

# shares of the flood: note-on, note-off, controller, pitch bend, program change
KINDS = ("note-on", "note-off", "controller", "pitch bend", "program change")
SHARES = (0.35, 0.25, 0.25, 0.10, 0.05)
CONTROLLERS = np.array([1, 7, 10, 11, 64])  # modulation, volume, pan, expression, sustain
AFTER, WINDOW = 1.1, 0.5  # the level is measured from AFTER to AFTER + WINDOW seconds after the ending
TAIL = 6.0  # seconds recorded after the ending: a drum note (one-shot, 4 s) ends within them
SOUND_OFF = [bytes([0xB0 | c, 120, 0]) for c in range(16)]
NOTES_OFF = [bytes([0xB0 | c, 64, 0]) for c in range(16)] + [bytes([0xB0 | c, 123, 0]) for c in range(16)]
ENDINGS = (("all sound off (CC 120)", SOUND_OFF), ("pedal up + all notes off (CC 64 = 0, CC 123)", NOTES_OFF))
# the probe resets what the flood left on channel 1, then plays middle C
PROBE = [bytes([0xB0, 121, 0]), bytes([0xB0, 7, 100]), bytes([0xB0, 10, 64]), bytes([0xB0, 11, 127]),
         bytes([0xC0, 0]), bytes([0x90, 60, 100])]
PROBE_OFF = [bytes([0x80, 60, 64])]


def flood(rng: np.random.Generator, count: int, per_second: float, sample_rate: int,
          first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`count` random channel messages, evenly spaced from frame `first` -> pack()'s arrays, and how many
    of each kind."""
    frames = first + np.floor(np.arange(count) * sample_rate / per_second).astype(np.int64)
    kind = rng.choice(len(KINDS), size=count, p=SHARES)
    channel = rng.integers(0, 16, count)
    key = rng.integers(21, 109, count)  # the piano's range
    value = rng.integers(0, 128, count)
    data = np.zeros((count, 3), np.uint8)
    sizes = np.full(count, 3, np.uint8)

    on = np.flatnonzero(kind == 0)
    data[on] = np.stack([0x90 | channel[on], key[on], rng.integers(1, 128, len(on))], axis=1)

    # a note-off releases the key of one of the 64 note-ons before it, on that note-on's channel
    # (a random key if there was none yet)
    off = np.flatnonzero(kind == 1)
    struck = np.searchsorted(on, off)  # note-ons before each note-off
    back = rng.integers(1, 65, len(off))
    source = on[np.clip(struck - np.minimum(back, struck), 0, max(len(on) - 1, 0))] if len(on) else off
    source = np.where(struck > 0, source, off)
    data[off] = np.stack([0x80 | channel[source], key[source], np.full(len(off), 64)], axis=1)

    cc = np.flatnonzero(kind == 2)
    control = CONTROLLERS[rng.integers(0, len(CONTROLLERS), len(cc))]
    # the pedal goes fully down or up; the other controllers sweep anywhere
    cc_value = np.where(control == 64, 127 * rng.integers(0, 2, len(cc)), value[cc])
    data[cc] = np.stack([0xB0 | channel[cc], control, cc_value], axis=1)

    bend = np.flatnonzero(kind == 3)
    amount = rng.integers(0, 16384, len(bend))
    data[bend] = np.stack([0xE0 | channel[bend], amount & 0x7F, amount >> 7], axis=1)

    program = np.flatnonzero(kind == 4)
    data[program, 0], data[program, 1] = 0xC0 | channel[program], value[program]
    sizes[program] = 2
    return frames, data, sizes, np.bincount(kind, minlength=len(KINDS))


def seconds(value: float | None, unit: float = 1.0, digits: int = 2) -> str:
    return "never" if value is None else f"{value * unit:.{digits}f}"


def save(path: Path, audio: np.ndarray, rate: int) -> None:
    from singsynth.io.wav import AudioWriter
    path.parent.mkdir(parents=True, exist_ok=True)
    with AudioWriter(path, rate, channels=2, float32=True) as out:
        out.write(audio)


def measure(server: JackServer, proc: subprocess.Popen, midi_pattern: str, audio_pattern: str,
            args: argparse.Namespace, singsynth: bool, name: str) -> dict[str, str]:
    """Both floods and endings into a started synthesizer; the table's rows for it (it is stopped here)."""
    # stderr is read all along, for either synthesizer: a pipe left full would block its writer
    reader = StatusReader(proc.stderr)
    status = reader if singsynth else None
    rate = server.rate
    rows: dict[str, str] = {}
    memory = MemoryProbe(proc.pid)
    rig = StreamRig(server, args.seconds + TAIL + 1.0, name="flood")
    rng = np.random.default_rng(args.seed)
    count = int(args.seconds * args.rate)
    try:
        midi = rig.wait_for_ports(midi_pattern, 120, proc, is_midi=True, is_input=True)[0]
        audio = rig.wait_for_ports(audio_pattern, 120, proc, is_audio=True, is_output=True)
        rig.connect(midi, audio)
        rig.arm()
        # the probe note once before the floods (singsynth caches it)
        warm = probe(rig, PROBE, PROBE_OFF, timeout=30)
        print(f"  probe before the floods: {seconds(warm, 1000, 0)} ms", file=sys.stderr)
        if status:
            status.settle(timeout=60)
        rows["RSS before the floods (MiB)"] = f"{memory.sample() or math.nan:.0f}"
        for n, (ending_name, ending) in enumerate(ENDINGS, 1):
            first = rig.position + int(0.5 * rate)
            frames, data, sizes, kinds = flood(rng, count, args.rate, rate, first)
            end = first + int(args.seconds * rate)
            tail_end = end + int(TAIL * rate)
            ending_events = pack([(end, message) for message in ending])
            before = (status.underruns if status else 0, rig.xruns, len(memory.samples), rig.unsent)
            rig.record_start = first
            rig.audio[:] = 0
            rig.schedule(*(np.concatenate(parts) for parts in zip((frames, data, sizes), ending_events)))
            print(f"  flood {n}: {count} messages ({', '.join(f'{k} {c}' for k, c in zip(KINDS, kinds))}) "
                  f"over {args.seconds:g} s, then {ending_name}", file=sys.stderr)
            rig.wait_until(end, stall=30)
            alive = proc.poll() is None
            underruns = (status.underruns if status else 0) - before[0]
            # the generation queue is watched from the ending on (the status line comes every 0.25 s)
            drained, seen = None, status.lines if status else 0
            while rig.position < tail_end:
                rig.wait_until(min(rig.position + rate // 20, tail_end), stall=30)
                if status and drained is None and status.lines > seen and status.pending == 0:
                    drained = (rig.position - end) / rate
            if status and drained is None:
                later = status.drained(timeout=60)
                drained = None if later is None else (rig.position - end) / rate
            xruns = rig.xruns - before[1]
            recorded = rig.audio[:tail_end - first]
            at = end - first
            if args.save_audio:
                save(Path(args.save_audio) / f"{name}-flood{n}.wav", recorded, rate)
            flood_peak, flood_rms = level(recorded[:at])
            peak, rms = level(recorded[at + int(AFTER * rate):at + int((AFTER + WINDOW) * rate)])
            quiet_after = silent_after(recorded, at, rate)
            # the probe is told from what sounds by level alone: it needs quiet first
            if not rig.wait_quiet(timeout=10):
                answer = "**not measured: still sounding**"
            else:
                answer = probe(rig, PROBE, PROBE_OFF, timeout=5)
                answer = seconds(answer, 1000, 0) if answer is not None else "**no sound in 5 s**"
            phase_rss = max((rss for _, rss in memory.samples[before[2]:]), default=math.nan)
            rows[f"{n}: underruns during the flood"] = str(underruns) if status else "- (no count)"
            rows[f"{n}: JACK xruns (flood + {TAIL:g} s)"] = str(xruns)
            rows[f"{n}: messages JACK refused"] = str(rig.unsent - before[3])
            rows[f"{n}: level during the flood, peak / RMS (dBFS)"] = f"{fmt_db(flood_peak)} / {fmt_db(flood_rms)}"
            rows[f"{n}: level {AFTER:g}-{AFTER + WINDOW:g} s after the ending, peak / RMS (dBFS)"] = \
                f"{fmt_db(peak)} / {fmt_db(rms)}"
            rows[f"{n}: below {SILENCE_DBFS:g} dBFS {AFTER:g} s after"] = "yes" if peak < SILENCE_DBFS else "**no**"
            rows[f"{n}: below {SILENCE_DBFS:g} dBFS for good from (s after the ending)"] = \
                seconds(quiet_after) if quiet_after is not None else f"**not within {TAIL:g}**"
            rows[f"{n}: generation queue empty (s after the ending)"] = \
                (seconds(drained) if drained is not None else "**not within 60**") if status else "-"
            rows[f"{n}: alive at the end of the flood"] = "yes" if alive else "**no**"
            rows[f"{n}: probe note sounds after (ms)"] = answer
            rows[f"{n}: peak RSS, sampled (MiB)"] = f"{phase_rss:.0f}"
            print(f"  flood {n}: underruns {underruns}, xruns {xruns}, {fmt_db(peak)} dBFS peak {AFTER:g} s after, "
                  f"below {SILENCE_DBFS:g} dBFS from {seconds(quiet_after)} s, probe {answer} ms", file=sys.stderr)
        rows["RSS at the end (MiB)"] = f"{memory.sample() or math.nan:.0f}"
        rows["peak RSS, kernel high-water mark (MiB)"] = f"{memory.peak():.0f}"
        rows["high-water mark by process (MiB)"] = ", ".join(f"{kind} {mib:.0f}" for kind, mib in memory.parts())
        rows["MIDI messages sent"] = f"{rig.sent:,}"
    finally:
        rig.close()
        memory.stop()
        stop_process(proc)
    rows["exit on SIGTERM (status)"] = (f"yes ({proc.returncode})" if proc.returncode in (0, -signal.SIGTERM)
                                        else f"**no** ({proc.returncode})")
    if status:
        summary = status.summary()
        if summary:
            rows["underruns, whole run (exit report)"] = str(summary["underruns"])
            rows["MIDI messages played (exit report)"] = f"{summary['events']:,}"
        else:
            rows["underruns, whole run (exit report)"] = "**no exit report**"
        dropped = status.find(r"(\d+) MIDI messages dropped \(queue full\), (\d+) late, (\d+) new notes dropped")
        if dropped:
            rows["MIDI messages dropped (queue full) / late"] = f"{int(dropped[1]):,} / {int(dropped[2]):,}"
            rows["new notes dropped (generation behind)"] = f"{int(dropped[3]):,}"
        shed = status.find(r"(\d+) voices faded early to keep up \(voice limit down to (\d+) of (\d+)\)")
        if shed:
            rows["voices faded early to keep up / lowest voice limit"] = f"{int(shed[1]):,} / {shed[2]} of {shed[3]}"
        cache = status.find(r"note cache (\d+) notes, (\d+) of (\d+) MiB")
        if cache:
            rows["note cache at the end (notes, MiB)"] = f"{cache[1]}, {cache[2]} of {cache[3]}"
    reader.closed.wait(10)
    if reader.tracebacks:
        rows["tracebacks on stderr"] = f"**{reader.tracebacks}**"
    if reader.log:
        print(f"  {name}'s last log lines:", *list(reader.log)[-8:], sep="\n    ", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each flood (default 60)")
    parser.add_argument("--rate", type=float, default=10_000, help="MIDI messages per second (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random flood (default 0)")
    parser.add_argument("--preset", default="default", help="singsynth preset (default: the shipped default)")
    parser.add_argument("--period", type=int, default=256, help="JACK period and singsynth block size")
    parser.add_argument("--buffer", type=int, default=2, help="singsynth --buffer (blocks ahead)")
    parser.add_argument("--soundfont", default=SOUNDFONT)
    parser.add_argument("--skip-fluidsynth", action="store_true")
    parser.add_argument("--dry", action="store_true", help="reverb and chorus off in both synthesizers")
    parser.add_argument("--cache-size", type=int, default=None, metavar="MIB", help="singsynth's --cache-size")
    parser.add_argument("--save-audio", metavar="DIR", help="write each flood's recording (and its ending) as a "
                        "float WAV here: singsynth-flood1.wav, ...")
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` shows where a stuck run waits

    table: dict[str, dict[str, str]] = {}
    server = JackServer(period=args.period).start()
    try:
        with tempfile.TemporaryDirectory() as cache:
            env = {**server.env, "XDG_CACHE_HOME": cache}
            proc = start([*SINGSYNTH, "listen", "--virtual", "flood", "--preset", args.preset,
                          "--blocksize", str(args.period), "--buffer", str(args.buffer), "--no-disk-cache",
                          *(["--cache-size", str(args.cache_size)] if args.cache_size else []),
                          *(["--no-reverb", "--no-chorus"] if args.dry else [])], env)
            print("singsynth:", file=sys.stderr)
            table["singsynth"] = measure(server, proc, "singsynth:flood", "singsynth-out:", args, True, "singsynth")
        if not args.skip_fluidsynth:
            dry = ("synth.reverb.active=0", "synth.chorus.active=0") if args.dry else ()
            proc = start(fluidsynth_command(args.soundfont, "fluidflood", server.rate, *dry), server.env,
                         stdin=subprocess.PIPE)
            print("FluidSynth:", file=sys.stderr)
            table["FluidSynth"] = measure(server, proc, "fluidflood", "fluidflood", args, False, "fluidsynth")
    finally:
        server.stop()

    print(f"\nJACK dummy at {server.rate} Hz, {args.period}-frame period; {args.rate:g} MIDI messages/s for "
          f"{args.seconds:g} s, twice (seed {args.seed}); singsynth --buffer {args.buffer}, preset {args.preset}; "
          f"FluidSynth with {Path(args.soundfont).name}; effects {'off' if args.dry else 'on'}. Flood 1 ends with {ENDINGS[0][0]}, flood 2 with "
          f"{ENDINGS[1][0]}, on all 16 channels.\n")
    names = list(table)
    labels = list(dict.fromkeys(label for rows in table.values() for label in rows))
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label in labels:
        print(f"| {label} | " + " | ".join(table[name].get(label, "-") for name in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
