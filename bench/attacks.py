"""How notes start, singsynth against the SoundFont a preset learnt from: each General MIDI program at pitches 48, 60
and 72, velocity 100, measured at 48 kHz (singsynth/train/attacks.py: the step at the first sound, the rise to half
the peak), per GM family.

    python bench/attacks.py [--preset default] [--soundfont /usr/share/sounds/sf3/FluidR3Mono_GM.sf3]
                            [--pitches 48,60,72] [--programs 0-127] [--json OUT.json]

The source's notes are rendered by FluidSynth as the training data is (a fresh synth, note-on at the first sample,
no effects); singsynth's are what `singsynth render --rate 48000` makes of a MIDI file that plays each note for 0.5 s,
one every 2 s, as a listener hears them. Prints a markdown table: median step, the share of notes whose step is over 0.05 and over 0.20 (with the
source's own in brackets), and the share whose rise is within a factor 2 of the source's (or both under 2 ms).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from singsynth import gm
from singsynth.preset import load_preset
from singsynth.train.attacks import step_and_rise
from singsynth.train.fluid_render import FluidRenderer

RATE = 48_000
SOURCE = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")
NOTE_TICKS = 480  # 0.5 s
NOTE_GAP_TICKS = 1920 - NOTE_TICKS  # a note every 2 s


def programs_arg(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def source_notes(soundfont: Path, programs: list[int], pitches: list[int]) -> dict:
    renderer = FluidRenderer([soundfont])
    try:
        return {(p, k): renderer.render(0, 0, p, k, 100, rate=RATE) for p in programs for k in pitches}
    finally:
        renderer.close()


def preset_notes(preset: str, programs: list[int], pitches: list[int]) -> dict:
    """Each (program, pitch) as `singsynth render` plays it: 2 s from its note-on, both channels summed."""
    import mido

    from singsynth.io.wav import read_wav
    keys = [(p, k) for p in programs for k in pitches]
    song = mido.MidiFile(ticks_per_beat=480)  # 120 bpm: 960 ticks a second
    track = mido.MidiTrack()
    song.tracks.append(track)
    for n, (program, pitch) in enumerate(keys):
        track.append(mido.Message("program_change", program=program, time=0 if n == 0 else NOTE_GAP_TICKS))
        track.append(mido.Message("note_on", note=pitch, velocity=100, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=NOTE_TICKS))
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "attacks.mid", Path(tmp) / "attacks.wav"
        song.save(path)
        subprocess.run([sys.executable, "-m", "singsynth", "render", str(path), "-o", str(out), "--rate", str(RATE),
                        "--preset", preset, "--float", "--quiet"], check=True)
        rate, audio = read_wav(out)
    assert rate == RATE
    mono = audio.sum(axis=1)
    every = 2 * RATE
    return {key: mono[n * every:(n + 1) * every] for n, key in enumerate(keys)}


def table(measured: list[dict]) -> str:
    rows = ["| family | notes | median step | step > 0.05 | step > 0.20 | rise within 2x |",
            "|---|---|---|---|---|---|"]
    families = sorted({m["family"] for m in measured}, key=lambda f: gm.FAMILIES.index(f))
    for family in families + ["all"]:
        group = [m for m in measured if family in ("all", m["family"])]
        steps = [m["step"] for m in group]
        ref = [m["source_step"] for m in group]
        within = [m["rise_ok"] for m in group]

        def share(values, limit):
            return 100.0 * sum(v > limit for v in values) / len(values)
        rows.append(f"| {family} | {len(group)} | {statistics.median(steps):.3f} ({statistics.median(ref):.3f}) | "
                    f"{share(steps, 0.05):.0f} % ({share(ref, 0.05):.0f} %) | {share(steps, 0.20):.0f} % "
                    f"({share(ref, 0.20):.0f} %) | {100.0 * sum(within) / len(within):.0f} % |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--soundfont", default=str(SOURCE))
    parser.add_argument("--pitches", default="48,60,72")
    parser.add_argument("--programs", default="0-127")
    parser.add_argument("--json", help="write every note's figures here")
    args = parser.parse_args(argv)
    try:
        pitches = [int(p) for p in args.pitches.split(",")]
        programs = programs_arg(args.programs)
    except ValueError:
        print("attacks.py: --pitches and --programs take numbers such as 48,60,72 and 0-127", file=sys.stderr)
        return 2
    preset = load_preset(args.preset, lazy=True)
    ours = preset_notes(args.preset, programs, pitches)
    theirs = source_notes(Path(args.soundfont), programs, pitches)
    measured = []
    for key, note in sorted(ours.items()):
        a, b = step_and_rise(note, RATE), step_and_rise(theirs[key], RATE)
        if a is None or b is None:
            continue
        rise_ok = (a[1] < 2e-3 and b[1] < 2e-3) or (0.5 <= (a[1] + 1e-9) / (b[1] + 1e-9) <= 2.0)
        measured.append({"program": key[0], "pitch": key[1], "family": gm.FAMILIES[gm.family(key[0])],
                         "step": a[0], "rise": a[1], "source_step": b[0], "source_rise": b[1], "rise_ok": rise_ok})
    print(f"{preset.path.name} ({preset.sample_rate} Hz) against {Path(args.soundfont).name}, 48 kHz, velocity 100; "
          f"the source's figures in brackets")
    print(table(measured))
    if args.json:
        Path(args.json).write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
