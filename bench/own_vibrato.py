"""A note's own pitch movement (vibrato, drift) on held-out notes: the source's against the model's.

    python bench/own_vibrato.py --preset gm48 --data DATA [--instruments flute,violin,...] [--limit 60]

DATA is the data set the preset learnt from (`singsynth dataset soundfont ...`), at the preset's rate. For each
held-out note (the test split: pairs the preset never heard) of the named instruments, the pitch of the source's
strongest of its first six partials over 0.3-1.9 s (band-passed half a harmonic each side of it, from the
source's measured f0; analytic signal, 2 ms smoothing, median removed) in the source and in the model's note;
printed per instrument (medians over its notes): the standard deviation in cents of each; the depth (cents) and
rate (Hz) of the sine that fits each note's pitch best, as training measures them (model/pitch_loss.py); how many
of the model's rates are within 20 % of the source's; and the correlation of the two curves over the samples
where both partials are audible (1: in phase). A held-out key's phase cannot be learnt, its neighbours' phases
being unrelated (see --neighbours), so a correlation near 0 there is expected; depth and rate are what a
listener hears. Notes without a reliable f0, or audible together less than half the span, are left out.

--neighbours prints instead how the source's own curves at neighbouring keys correlate (training notes).
"""
from __future__ import annotations

import argparse
import re
from collections import defaultdict

import numpy as np

import torch

from singsynth.model.pitch_loss import vibrato_targets
from singsynth.preset import load_preset
from singsynth.train.data import NSynthData
from singsynth.train.eval_notes import select_notes
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


def curve_of(wav: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray] | None:
    f0 = estimate_f0(wav, rate)
    return None if f0 is None else pitch_curve(wav, f0, strongest_partial(wav, f0, rate), rate)


def neighbours(preset, data: NSynthData, wanted: list[str], names: list[str], limit: int) -> None:
    """The correlation of the source's pitch curves at keys k and k + 1 (training notes, one velocity): what a
    model could know of a held-out key's phase from its neighbours."""
    notes, _ = select_notes(preset, data, "train")
    print("| instrument | key pairs | correlation of neighbouring keys (median) |")
    print("| --- | --- | --- |")
    for name in wanted:
        by_key = {}
        for n in notes:
            meta = data.notes[n.index]
            if names[n.instrument] == name and meta.velocity == 100:
                by_key[meta.pitch] = n.index
        pairs = [(k, k + 1) for k in sorted(by_key) if k + 1 in by_key][:limit]
        corr = []
        for a, b in pairs:
            wa, wb = (np.asarray(data.load_audio([by_key[k]]), dtype=np.float32)[0] / 32768.0 for k in (a, b))
            ca, cb = curve_of(wa, preset.sample_rate), curve_of(wb, preset.sample_rate)
            if ca is None or cb is None:
                continue
            both = ca[1] & cb[1]
            if both.mean() >= 0.5 and np.std(ca[0][both]) > 0 and np.std(cb[0][both]) > 0:
                corr.append(float(np.corrcoef(ca[0][both], cb[0][both])[0, 1]))
        print(f"| {name} | {len(corr)} | {np.median(corr):.2f} |" if corr else f"| {name} | 0 | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="gm48")
    parser.add_argument("--data", required=True)
    parser.add_argument("--instruments", default=INSTRUMENTS, help="comma-separated names (whole names, any case)")
    parser.add_argument("--limit", type=int, default=60, help="notes at most per instrument")
    parser.add_argument("--neighbours", action="store_true",
                        help="print how the source's curves at neighbouring keys correlate, and stop")
    args = parser.parse_args()
    preset = load_preset(args.preset)
    data = NSynthData(args.data)
    wanted = [w.strip().lower() for w in args.instruments.split(",") if w.strip()]
    names = [re.sub(r"\s+", " ", i.name.lower()) for i in preset.instruments]
    if args.neighbours:
        neighbours(preset, data, wanted, names, args.limit)
        return
    notes, _ = select_notes(preset, data, "test")
    chosen = defaultdict(list)
    for note in notes:
        name = names[note.instrument]
        if name in wanted and len(chosen[name]) < args.limit:
            chosen[name].append(note)
    rate = preset.sample_rate
    print(f"preset {args.preset} ({rate} Hz), held-out notes of {args.data}; pitch over {SPAN[0]}-{SPAN[1]} s\n")
    print("| instrument | notes | std source / model (cents) | depth source / model (cents) | "
          "rate source / model (Hz) | rates within 20 % | correlation |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in wanted:
        batch = chosen.get(name, [])
        if not batch:
            print(f"| {name} | 0 | - | - | - | - | - |")
            continue
        truth = np.asarray(data.load_audio([n.index for n in batch]), dtype=np.float32) / 32768.0
        meta = [data.notes[n.index] for n in batch]
        model = preset.generate(preset.instrument_weights([n.instrument for n in batch]),
                                [m.pitch for m in meta], [m.velocity for m in meta])
        config = preset.model.config
        f0s = preset.model.decoder.partial_frequencies(preset.instrument_weights([n.instrument for n in batch]),
                                                       torch.tensor([m.pitch for m in meta]))[:, 0].detach()
        fits = [vibrato_targets(torch.as_tensor(np.asarray(x, dtype=np.float32)), f0s, config) for x in (truth, model)]
        ((depth_a, rate_a, _), told_a), ((depth_b, rate_b, _), _) = fits
        told = told_a.numpy()
        rate_a, rate_b = rate_a.numpy()[told], rate_b.numpy()[told]
        close = np.abs(rate_b / rate_a - 1) <= 0.2
        depths = f"{np.median(depth_a.numpy()[told]):.1f} / {np.median(depth_b.numpy()[told]):.1f}" if told.any() else "-"
        rates = f"{np.median(rate_a):.1f} / {np.median(rate_b):.1f}" if told.any() else "-"
        within = f"{close.sum()} of {len(close)}"
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
            print(f"| {name} | 0 pitched | - | {depths} | {rates} | {within} | - |")
            continue
        print(f"| {name} | {len(corr)} | {np.median(source_std):.1f} / {np.median(model_std):.1f} | {depths} | "
              f"{rates} | {within} | {np.median(corr):.2f} |")


if __name__ == "__main__":
    main()
