"""A note's own pitch movement (vibrato, drift) on held-out notes: the source's against the model's.

    python bench/own_vibrato.py --preset gm48 --data DATA [--instruments flute,violin,...] [--limit 60]

DATA is the data set the preset learnt from (`singsynth dataset soundfont ...`), at the preset's rate. For each
held-out note (the test split: pairs the preset never heard) of the named instruments, the pitch of the source's
strongest of its first six partials over 0.3-1.9 s (band-passed half a harmonic each side of it, from the
source's measured f0; analytic signal, 2 ms smoothing, median removed) in the source and in the model's note; printed per instrument: the standard deviation in cents
of each, and the correlation of the two curves (1: the model's vibrato moves as the source's does, in time;
0: unrelated or none), over the samples where both partials are audible. Notes without a reliable f0,
or audible together less than half the span, are left out.
"""
from __future__ import annotations

import argparse
import re
from collections import defaultdict

import numpy as np

from singsynth.preset import load_preset
from singsynth.train.data import NSynthData
from singsynth.train.evaluate import select_notes
from singsynth.train.pitch import estimate_f0

INSTRUMENTS = "flute,violin,viola,cello,string ensemble 1,oboe,clarinet,trumpet,choir aahs,synth voice,pan flute"
SPAN = (0.3, 1.9)


def strongest_partial(wav: np.ndarray, f0: float, rate: int) -> int:
    """Which of the first six partials of f0 holds the most energy: its pitch is the clearest to follow (under a
    vibrato every partial moves by the same number of cents)."""
    spec = np.abs(np.fft.rfft(wav.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(wav), 1 / rate)
    energy = [spec[(freqs > (k - 0.5) * f0) & (freqs < (k + 0.5) * f0)].sum() for k in range(1, 7)]
    return int(np.argmax(energy)) + 1


def pitch_curve(wav: np.ndarray, f0: float, partial: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The partial's instantaneous pitch in cents from its median over SPAN (band-passed half a harmonic each
    side), and where it is audible (its envelope above a tenth of its median: elsewhere noise sets the phase)."""
    x = wav.astype(np.float64)
    centre = partial * f0
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    spec[(freqs < centre - f0 / 2) | (freqs > centre + f0 / 2)] = 0
    analytic = np.fft.ifft(np.concatenate([spec, np.zeros(len(x) - len(spec))]) * 2)
    freq = np.diff(np.unwrap(np.angle(analytic))) * rate / (2 * np.pi)
    k = int(0.002 * rate)
    span = slice(int(SPAN[0] * rate), int(SPAN[1] * rate))
    freq = np.convolve(freq, np.ones(k) / k, mode="same")[span]
    envelope = np.convolve(np.abs(analytic[1:]), np.ones(k) / k, mode="same")[span]
    audible = envelope > 0.1 * np.median(envelope)
    cents = 1200 * np.log2(np.maximum(freq, 1e-3) / centre)
    return cents - np.median(cents[audible]), audible


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="gm48")
    parser.add_argument("--data", required=True)
    parser.add_argument("--instruments", default=INSTRUMENTS, help="comma-separated names (whole names, any case)")
    parser.add_argument("--limit", type=int, default=60, help="notes at most per instrument")
    args = parser.parse_args()
    preset = load_preset(args.preset)
    data = NSynthData(args.data)
    wanted = [w.strip().lower() for w in args.instruments.split(",") if w.strip()]
    names = [re.sub(r"\s+", " ", i.name.lower()) for i in preset.instruments]
    notes, _ = select_notes(preset, data, "test")
    chosen = defaultdict(list)
    for note in notes:
        name = names[note.instrument]
        if name in wanted and len(chosen[name]) < args.limit:
            chosen[name].append(note)
    rate = preset.sample_rate
    print(f"preset {args.preset} ({rate} Hz), held-out notes of {args.data}; pitch over {SPAN[0]}-{SPAN[1]} s\n")
    print("| instrument | notes | source std (cents) | model std (cents) | correlation |")
    print("| --- | --- | --- | --- | --- |")
    for name in wanted:
        batch = chosen.get(name, [])
        if not batch:
            print(f"| {name} | 0 | - | - | - |")
            continue
        truth = np.asarray(data.load_audio([n.index for n in batch]), dtype=np.float32) / 32768.0
        meta = [data.notes[n.index] for n in batch]
        model = preset.generate(preset.instrument_weights([n.instrument for n in batch]),
                                [m.pitch for m in meta], [m.velocity for m in meta])
        source_std, model_std, corr = [], [], []
        for t, m in zip(truth, model):
            f0 = estimate_f0(t, rate)
            if f0 is None:
                continue
            partial = strongest_partial(t, f0, rate)
            (a, heard_a), (b, heard_b) = pitch_curve(t, f0, partial, rate), pitch_curve(m, f0, partial, rate)
            both = heard_a & heard_b
            if both.mean() < 0.5:
                continue
            a, b = a[both], b[both]
            source_std.append(np.std(a))
            model_std.append(np.std(b))
            corr.append(float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else 0.0)
        if not corr:
            print(f"| {name} | 0 pitched | - | - | - |")
            continue
        print(f"| {name} | {len(corr)} | {np.median(source_std):.1f} | {np.median(model_std):.1f} | "
              f"{np.median(corr):.2f} |")


if __name__ == "__main__":
    main()
