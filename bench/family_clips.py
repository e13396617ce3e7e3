"""Listen before installing: the same two bars played by one instrument of each General MIDI family, and a
drum groove, each written as a short mono FLAC.

The phrase (a rising and falling line, then a held C major chord, 100 bpm) is the same for every melodic family;
the engine folds any key an instrument does not sound at into its range, as it does when playing a file. Each clip
is rendered offline exactly as `singsynth render` plays a file, at 16 kHz: a 16 kHz model holds nothing above
8 kHz, so a higher rate would only make the file larger. Prints a markdown table of the files written.

    python bench/family_clips.py [--preset default] [--out docs/presets/default/clips]
                                 [--programs 0,11,19,24,33,40,48,56,65,73,80,89,98,105,114,123] [--no-drums]

Needs the soundfile package (pip install 'singsynth[flac]').
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import mido
import numpy as np

from singsynth import gm
from singsynth.preset import PresetError, load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.instruments import ProgramMap, drum_kit
from singsynth.synth.schedule import Schedule, play_through

ROOT = Path(__file__).resolve().parent.parent
RATE = 16_000
BEAT = 0.6  # seconds: 100 bpm
# one instrument of each GM family: those the 16-program preset was trained on, so that clips compare
FAMILY_PROGRAMS = (0, 11, 19, 24, 33, 40, 48, 56, 65, 73, 80, 89, 98, 105, 114, 123)
LINE = (60, 64, 67, 72, 71, 67, 64, 62)  # eighth notes
CHORD = (48, 60, 64, 67)  # held for the second bar
KICK, SNARE, CLOSED_HAT = 36, 38, 42
LIMIT_BYTES = 200_000


def phrase(program: int) -> list[tuple[float, mido.Message]]:
    """Bar 1: a line of eighth notes, bar 2: a chord held for three beats; velocity 90, then 80."""
    events = [(0.0, mido.Message("program_change", program=program))]
    for i, key in enumerate(LINE):
        start = i * BEAT / 2
        events += [(start, mido.Message("note_on", note=key, velocity=90)),
                   (start + BEAT / 2 * 0.9, mido.Message("note_off", note=key))]
    for key in CHORD:
        events += [(4 * BEAT, mido.Message("note_on", note=key, velocity=80)),
                   (7 * BEAT, mido.Message("note_off", note=key))]
    return sorted(events, key=lambda e: e[0])


def groove() -> list[tuple[float, mido.Message]]:
    """Two bars of kick, snare and closed hi-hat on the drum channel (10)."""
    events = []
    for eighth in range(16):
        start = eighth * BEAT / 2
        keys = [CLOSED_HAT] + ([KICK] if eighth % 4 == 0 or eighth == 11 else []) + \
            ([SNARE] if eighth % 4 == 2 else [])
        for key in keys:
            velocity = 70 if key == CLOSED_HAT else 100
            events += [(start, mido.Message("note_on", channel=9, note=key, velocity=velocity)),
                       (start + 0.1, mido.Message("note_off", channel=9, note=key))]
    return sorted(events, key=lambda e: e[0])


def render_mono(preset, events: list[tuple[float, mido.Message]]) -> np.ndarray:
    engine = make_engine(preset, sample_rate=RATE, cache=NoteCache())
    blocks = []
    with engine:
        play_through(engine, Schedule(events, RATE), lambda block: blocks.append(block.mean(axis=1)))
    return np.concatenate(blocks)


def write_flac(path: Path, wav: np.ndarray) -> int:
    import soundfile
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(wav, -1, 1), RATE, subtype="PCM_16", format="FLAC")
    return path.stat().st_size


def db(x: float) -> str:
    return f"{20 * math.log10(x):.1f}" if x > 0 else "-inf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "presets" / "default" / "clips")
    ap.add_argument("--programs", default=",".join(map(str, FAMILY_PROGRAMS)), help="GM programs, comma separated")
    ap.add_argument("--no-drums", action="store_true", help="leave out the drum groove")
    args = ap.parse_args()
    try:
        import soundfile  # noqa: F401
        preset = load_preset(args.preset)
    except ImportError:
        raise SystemExit("bench/family_clips.py: writing FLAC needs the soundfile package: "
                         "pip install 'singsynth[flac]'") from None
    except PresetError as exc:
        raise SystemExit(f"bench/family_clips.py: {exc}") from None
    programs = ProgramMap(preset)
    jobs = [(f"{gm.FAMILIES[gm.family(p)]}", f"{p} {gm.PROGRAMS[p]}", programs(p).name, phrase(p))
            for p in (int(x) for x in args.programs.split(","))]
    if not args.no_drums and drum_kit(preset) is not None:
        jobs.append(("Drums", "channel 10", drum_kit(preset).name, groove()))
    print(f"Clips of preset `{preset.name}`, mono FLAC at {RATE} Hz\n")
    print("| family | GM program | plays | file | seconds | KB | peak dBFS | RMS dBFS |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for family, asked, plays, events in jobs:
        wav = render_mono(preset, events)
        path = args.out / f"{gm.slug(family)}.flac"
        size = write_flac(path, wav)
        flag = "" if size <= LIMIT_BYTES else " (over 200 KB)"
        print(f"| {family} | {asked} | {plays} | {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} | "
              f"{len(wav) / RATE:.1f} | {size / 1000:.0f}{flag} | {db(float(np.abs(wav).max()))} | "
              f"{db(float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))))} |")


if __name__ == "__main__":
    main()
