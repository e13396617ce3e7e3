"""A piece's ending, singsynth with its reverb and chorus beside FluidSynth with its own: spectrograms of the last
seconds, and how long each rings on after the last note-off.

singsynth plays the default preset with each instrument's own sends read from the SoundFont it learnt from
(generators 15 and 16 of FluidR3 Mono GM, written into a copy of the preset made in a temporary folder), as
FluidSynth adds FluidR3 GM's to the channels' CC91/CC93; both at their default effect settings.

    python bench/effects_ending.py [--midi bench/data/k525_mvt1.mid] [--seconds 6] [--out docs/effects_ending.png]

Prints a markdown table; writes the figure (needs matplotlib).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from processes import ROOT, SINGSYNTH

sys.path.insert(0, str(ROOT))
from singsynth.io.midi import read_midi  # noqa: E402
from singsynth.preset.sf2 import effect_sends  # noqa: E402
from singsynth.io.wav import read_wav  # noqa: E402
from singsynth.preset import resolve_path  # noqa: E402

RATE = 48000


def preset_with_sends(folder: Path, soundfont: str) -> Path:
    """A copy of the default preset whose instruments carry the SoundFont's sends (bank 0 by program, the kit
    as bank 128 program 0)."""
    source = resolve_path(None)
    shutil.copytree(source, folder)
    sends = effect_sends(soundfont)
    meta = json.loads((folder / "preset.json").read_text())
    for inst in meta["instruments"]:
        key = (128, 0) if inst.get("drums") else (0, inst.get("gm_program"))
        reverb, chorus = sends.get(key, (0.0, 0.0))
        inst["reverb_send"], inst["chorus_send"] = round(reverb, 4), round(chorus, 4)
    (folder / "preset.json").write_text(json.dumps(meta, indent=1))
    return folder


def ring_time(audio: np.ndarray, last_off: float, rate: int, drop_db: float) -> float:
    """Seconds from the last note-off until the level (20 ms RMS) stays drop_db below its level there."""
    mono = audio.mean(axis=1).astype(np.float64)
    hop = rate // 50
    rms = np.sqrt(np.convolve(mono ** 2, np.ones(hop) / hop, mode="same")[::hop])
    at = min(int(last_off * rate / hop), len(rms) - 1)
    db = 20 * np.log10(rms / max(rms[max(at - 5, 0):at + 1].max(), 1e-12) + 1e-12)
    loud = np.flatnonzero(db[at:] > -drop_db)
    return loud[-1] * hop / rate if len(loud) else 0.0


def spectrogram(ax, audio: np.ndarray, rate: int, start: float, title: str) -> None:
    mono = audio[int(start * rate):].mean(axis=1)
    ax.specgram(mono, NFFT=2048, Fs=rate, noverlap=1536, cmap="magma", vmin=-130, vmax=-30, scale="dB")
    ax.set_ylim(0, 8000)
    ax.set_title(title)
    ax.set_xlabel(f"seconds after {start:.1f} s")
    ax.set_ylabel("Hz")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--midi", default=str(ROOT / "bench" / "data" / "k525_mvt1.mid"))
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2", help="what FluidSynth plays")
    parser.add_argument("--sends-from", default="/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",
                        help="the SoundFont the default preset learnt from: its instruments' sends")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds before the last note-off shown")
    parser.add_argument("--out", default=str(ROOT / "docs" / "effects_ending.png"))
    args = parser.parse_args()
    events = read_midi(args.midi)
    last_off = max(t for t, m in events if m.type in ("note_off", "note_on"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preset = preset_with_sends(tmp / "default-sends", args.sends_from)
        ours, fluid = tmp / "singsynth.wav", tmp / "fluidsynth.wav"
        subprocess.run([*SINGSYNTH, "render", args.midi, "-o", str(ours), "--preset", str(preset), "--quiet",
                        "--rate", str(RATE)], check=True, cwd=ROOT)
        subprocess.run(["fluidsynth", "-ni", "-q", "-r", str(RATE), "-F", str(fluid), args.soundfont, args.midi],
                       check=True, stdout=subprocess.DEVNULL)
        renders = {"singsynth, effects on": read_wav(ours)[1], "FluidSynth 2, effects on": read_wav(fluid)[1]}
    print(f"{Path(args.midi).name}: last note-off at {last_off:.2f} s\n")
    print("| render | length (s) | after the last note-off: down 20 dB (s) | down 40 dB (s) | down 60 dB (s) |")
    print("| --- | --- | --- | --- | --- |")
    for name, audio in renders.items():
        drops = " | ".join(f"{ring_time(audio, last_off, RATE, d):.2f}" for d in (20, 40, 60))
        print(f"| {name} | {len(audio) / RATE:.2f} | {drops} |")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharex=True, sharey=True)
    start = max(last_off - args.seconds, 0.0)
    for ax, (name, audio) in zip(axes, renders.items()):
        spectrogram(ax, audio, RATE, start, name)
    for ax in axes:
        ax.axvline(last_off - start, color="w", linestyle="--", linewidth=0.8)
    fig.suptitle(f"{Path(args.midi).name}: the ending (dashed: last note-off)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
