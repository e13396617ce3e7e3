"""Real General MIDI songs played live into `singsynth listen` with a cold note cache, FluidSynth beside it.

Songs this project did not write (by default Debian's openttd-openmsx set: `apt-get install openttd-openmsx`), those
with at least --min-channels channels, one after another in name order until --minutes are filled, each once, each
ended as `play` ends a file (sustain up, all notes off) and followed by --gap seconds of silence. A JACK client sends
the messages frame-exactly into singsynth and, at the same time, into FluidSynth, both in one JACK dummy server (the
same machine load; JACK's xruns are the server's, so they count both). singsynth starts with an empty note cache and no disk cache, so every
note is new to it when the song first plays it.

Dropouts are counted twice: singsynth's own underruns (status line and exit report), and in each synthesizer's
output as heard: a run of at least RUN_FRAMES frames of exact zeros on both channels that begins right after sound
above -60 dBFS (music cut off, not a rest or a tail that faded to nothing). FluidSynth keeps no underrun count; its
JACK xruns are shown.

    python bench/songs_live.py [--minutes 10] [--songs DIR] [--min-channels 10] [--preset default]
                               [--period 256] [--buffer 2] [--skip-fluidsynth]
"""
from __future__ import annotations

import argparse
import faulthandler
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from jack_helpers import SINGSYNTH, JackServer, stop_process  # noqa: E402
from livebench import SILENCE_DBFS, SOUNDFONT, MemoryProbe, StatusReader, StreamRig, fluidsynth_command, pack, \
    start  # noqa: E402

SONGS = "/usr/share/games/openttd/baseset/openmsx"
RUN_FRAMES = 32  # a dropout is at least this many frames of exact zeros (an underrun zero-fills a whole block)
END_OF_SONG = [bytes([0xB0 | c, control, 0]) for c in range(16) for control in (64, 123, 121)]


class DropoutRig(StreamRig):
    """A StreamRig that finds runs of exact zeros in what it hears, without keeping the audio: each run's start
    frame, length and the peak of the sound just before it."""

    def __init__(self, server: JackServer, name: str):
        self.runs: list[tuple[int, int, float]] = []
        self._zero_from: int | None = None  # the frame the current run of zeros began at
        self._before = 0.0  # the peak of the sound just before it
        super().__init__(server, 0.0, name=name)

    def _process(self, frames: int) -> None:
        super()._process(frames)
        if not self.armed:
            return
        left, right = self.inputs[0].get_array(), self.inputs[1].get_array()
        start = self.position - frames
        sound = np.flatnonzero((left != 0) | (right != 0))
        if not len(sound):
            if self._zero_from is None:
                self._zero_from, self._before = start, self.peaks[-2] if len(self.peaks) > 1 else 0.0
            return
        both = np.maximum(np.abs(left), np.abs(right))
        if self._zero_from is not None:
            self.runs.append((self._zero_from, start + int(sound[0]) - self._zero_from, self._before))
        elif sound[0] > 0:  # zeros from the period's start: the previous period ended in sound
            self.runs.append((start, int(sound[0]), self.peaks[-2] if len(self.peaks) > 1 else 0.0))
        gaps = np.flatnonzero(np.diff(sound) > RUN_FRAMES)  # runs within the period
        for g in gaps:
            a, b = int(sound[g]), int(sound[g + 1])
            self.runs.append((start + a + 1, b - a - 1, float(both[max(a - 64, 0):a + 1].max())))
        last = int(sound[-1])
        if last < frames - 1:
            self._zero_from, self._before = start + last + 1, float(both[max(last - 64, 0):last + 1].max())
        else:
            self._zero_from = None

    def dropouts(self, first: int, end: int) -> tuple[int, int]:
        """Runs of zeros of at least RUN_FRAMES that cut off sound above -60 dBFS, between frames first and end:
        how many, and their frames in all."""
        threshold = 10 ** (SILENCE_DBFS / 20)
        cut = [length for at, length, before in self.runs
               if first <= at < end and length >= RUN_FRAMES and before > threshold]
        return len(cut), sum(cut)


def playlist(folder: Path, min_channels: int, seconds: float, rate: int, gap: float,
             first: int) -> tuple[list[tuple[int, bytes]], list[tuple[str, float]], int]:
    """The songs with at least min_channels channels, in name order, one after another from frame `first` until
    `seconds` are filled -> (frame, bytes) events, (song, seconds played) and the frame where the last one ends."""
    from singsynth.io.midi import read_midi
    events, played, at = [], [], first
    for path in sorted(folder.glob("*.mid")):
        song = read_midi(str(path))
        if len({m.channel for _, m in song if hasattr(m, "channel")}) < min_channels or not song:
            continue
        length = song[-1][0]
        room = seconds - (at - first) / rate
        if room <= 1.0:
            break
        take = min(length, room)
        events += [(at + round(t * rate), bytes(m.bytes())) for t, m in song if t <= take and not m.is_meta
                   and m.type != "sysex"]
        end = at + round(take * rate)
        events += [(end, message) for message in END_OF_SONG]
        played.append((path.name, take))
        at = end + round(gap * rate)
    return events, played, at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of songs (default 10)")
    parser.add_argument("--songs", default=SONGS, help=f"folder of General MIDI songs (default {SONGS})")
    parser.add_argument("--min-channels", type=int, default=10, help="songs with at least this many channels")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds of silence after each song (default 2)")
    parser.add_argument("--preset", default="default", help="singsynth preset (default: the shipped default)")
    parser.add_argument("--period", type=int, default=256, help="JACK period and singsynth block size")
    parser.add_argument("--buffer", type=int, default=2, help="singsynth --buffer (blocks ahead)")
    parser.add_argument("--soundfont", default=SOUNDFONT)
    parser.add_argument("--skip-fluidsynth", action="store_true")
    args = parser.parse_args()
    folder = Path(args.songs)
    if not folder.is_dir() or not any(folder.glob("*.mid")):
        print(f"bench/songs_live.py: --songs {folder}: no .mid files there (apt-get install openttd-openmsx, or give "
              "a folder of General MIDI songs)", file=sys.stderr)
        return 2
    faulthandler.register(signal.SIGUSR1)
    names = ["singsynth"] + ([] if args.skip_fluidsynth else ["FluidSynth"])
    # one server for both: two servers' clients in one process confuse libjack (a port of ours read as not ours)
    server = JackServer(period=args.period).start()
    procs, rigs, probes = {}, {}, {}
    try:
        with tempfile.TemporaryDirectory() as cache:
            env = {**server.env, "XDG_CACHE_HOME": cache}
            procs["singsynth"] = start([*SINGSYNTH, "listen", "--virtual", "songs", "--preset", args.preset,
                                        "--blocksize", str(args.period), "--buffer", str(args.buffer),
                                        "--no-disk-cache"], env)
            if "FluidSynth" in names:
                procs["FluidSynth"] = start(fluidsynth_command(args.soundfont, "fluidsongs", server.rate),
                                            server.env, stdin=subprocess.PIPE)
            status = StatusReader(procs["singsynth"].stderr)
            ports = {"singsynth": ("singsynth:songs", "singsynth-out:"), "FluidSynth": ("fluidsongs", "fluidsongs")}
            for name in names:
                rigs[name] = rig = DropoutRig(server, name=f"songs-{name.lower()}")
                midi = rig.wait_for_ports(ports[name][0], 120, procs[name], is_midi=True, is_input=True)[0]
                audio = rig.wait_for_ports(ports[name][1], 120, procs[name], is_audio=True, is_output=True)
                rig.connect(midi, audio)
                probes[name] = MemoryProbe(procs[name].pid)
            rate = server.rate
            timeline = played = None
            for name in names:  # each server's clock starts at its own arm(): the same timeline on both
                rigs[name].arm()
                first = int(1.0 * rate)
                timeline, played, end = playlist(folder, args.min_channels, args.minutes * 60, rate, args.gap, first)
                rigs[name].schedule(*pack(timeline))
            print(f"{len(played)} songs, {len(timeline):,} MIDI messages over {(end - first) / rate / 60:.1f} min",
                  file=sys.stderr)
            minute = 0
            while rigs["singsynth"].position < end + 3 * rate:
                rigs["singsynth"].wait_until(min(rigs["singsynth"].position + 60 * rate, end + 3 * rate), stall=30)
                minute += 1
                print(f"  {minute} min: underruns {status.underruns}, dropouts heard "
                      f"{rigs['singsynth'].dropouts(first, end)[0]}", file=sys.stderr)
                if procs["singsynth"].poll() is not None:
                    raise RuntimeError(f"singsynth exited with {procs['singsynth'].returncode} during the run")
            for name in names[1:]:
                rigs[name].wait_until(end + 3 * rate, stall=30)
            rows: dict[str, dict[str, str]] = {name: {} for name in names}
            for name in names:
                count, frames = rigs[name].dropouts(first, end + 3 * rate)
                rows[name]["dropouts heard (runs of zeros cutting off sound)"] = str(count)
                rows[name]["frames of those dropouts"] = f"{frames:,}"
                rows[name]["JACK xruns (the server's: both synthesizers')"] = str(rigs[name].xruns)
                rows[name]["MIDI messages sent / refused by JACK"] = f"{rigs[name].sent:,} / {rigs[name].unsent}"
                rows[name]["peak RSS, kernel high-water mark (MiB)"] = f"{probes[name].peak():.0f}"
    finally:
        for name in names:
            if name in rigs:
                rigs[name].close()
            if name in probes:
                probes[name].stop()
            if name in procs:
                stop_process(procs[name])
        server.stop()
    summary = status.summary()
    rows["singsynth"]["underruns (exit report)"] = \
        f"{summary['underruns']} ({summary['missing_frames']:,} frames)" if summary else "**no exit report**"
    if summary:
        rows["singsynth"]["MIDI messages played (exit report)"] = f"{summary['events']:,}"
    stood = status.find(r"(\d+) notes? stood in")
    if stood:
        rows["singsynth"]["notes stood in (exit report)"] = stood[1]
    dropped = status.find(r"(\d+) MIDI messages dropped \(queue full\), (\d+) late, (\d+) new notes dropped")
    if dropped:
        rows["singsynth"]["MIDI dropped / late / new notes dropped"] = f"{dropped[1]} / {dropped[2]} / {dropped[3]}"
    if status.tracebacks:
        rows["singsynth"]["tracebacks on stderr"] = f"**{status.tracebacks}**"

    print(f"\n{len(played)} General MIDI songs from {folder} (at least {args.min_channels} channels), "
          f"{sum(t for _, t in played) / 60:.1f} min of music, played live; JACK dummy at {rate} Hz, "
          f"{args.period}-frame period; singsynth listen --buffer {args.buffer}, preset {args.preset}, cold note "
          f"cache; FluidSynth with {Path(args.soundfont).name}, in the same JACK server at the same time\n")
    print("Songs: " + ", ".join(f"{song} ({seconds:.0f} s)" for song, seconds in played) + "\n")
    labels = list(dict.fromkeys(label for table in rows.values() for label in table))
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label in labels:
        print(f"| {label} | " + " | ".join(rows[name].get(label, "-") for name in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
