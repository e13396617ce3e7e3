"""singsynth note: generate one 4 s note of an instrument (or a blend) to a WAV file."""
from __future__ import annotations

import logging

from . import UsageError, add_preset_argument
from ._engine import add_precision_argument, add_threads_argument, check_device, offline_threads

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("note", help="generate one note to a WAV file")
    add_preset_argument(p)
    p.add_argument("--instrument", required=True,
                   help="a name (or unique part of one), a GM program 0..127, or a blend such as flute:0.7,violin:0.3")
    p.add_argument("--pitch", type=int, default=60, help="MIDI pitch 0..127 (default 60)")
    p.add_argument("--velocity", type=int, default=100, help="MIDI velocity 1..127 (default 100)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    add_threads_argument(p)
    add_precision_argument(p)
    p.add_argument("-o", "--output", required=True, help="output .wav (16 kHz mono, the model's own rate)")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..io.wav import AudioWriter, check_output
    from ..preset import load_preset
    from ..synth.instruments import resolve

    if not 0 <= args.pitch <= 127:
        raise UsageError(f"--pitch {args.pitch}: MIDI pitches run 0..127")
    if not 1 <= args.velocity <= 127:
        raise UsageError(f"--velocity {args.velocity}: MIDI velocities run 1..127")
    check_output(args.output)
    check_device(args)
    threads = offline_threads(args)  # measures from now what other programs use while the model loads
    preset = load_preset(args.preset, device=args.device)
    preset.full_precision = args.full_precision
    timbre = resolve(preset, args.instrument)
    lo, hi = min(i.pitch_range[0] for i in preset.instruments), max(i.pitch_range[1] for i in preset.instruments)
    if not lo <= args.pitch <= hi:
        logger.warning("pitch %d is outside the pitches this preset was trained on (%d-%d)", args.pitch, lo, hi)
    threads.apply()
    wav = preset.generate(torch.tensor([timbre]), [args.pitch], [args.velocity])[0]
    peak = float(abs(wav).max())
    if peak > 1:  # never write a clipped file
        logger.warning("note peaks at %.2f; scaled down to avoid clipping", peak)
        wav = wav / peak
    with AudioWriter(args.output, preset.sample_rate, channels=1) as writer:
        writer.write(wav[:, None])
    logger.info("wrote %s (%s, pitch %d, velocity %d)", args.output, args.instrument, args.pitch, args.velocity)
    return 0
