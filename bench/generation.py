"""Generation speed: seconds of audio generated per second, per model size and decoder, batch 1 and a large batch.

    python bench/generation.py [--configs sing-cpu,sing-tiny] [--decoders conv,harmonic] [--batches 1,64]
                               [--threads 2,1] [--device cpu] [--seconds 5] [--precisions float32,bfloat16]

bfloat16: whole notes under autocast and streams with the LSTM on bfloat16 weights, as singsynth makes notes on a
CPU with bfloat16 arithmetic (singsynth/model/precision.py).

Prints a markdown table. Random weights: speed does not depend on what the model learnt.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from singsynth.model.config import get_config
from singsynth.model.sing import SING, count_parameters

FIRST_CHUNK_TRIES = 9  # the median of these: one try is at the mercy of the scheduler
FIRST_STEPS = 3  # a live note's first chunk at 48 kHz: the fewest frames the resampler hands sound out for


def measure(model: SING, batch: int, device: torch.device, seconds: float, bfloat16: bool) -> tuple[float, float]:
    """(audio seconds per second, seconds to the first streamed chunk at this batch)."""
    weights = model.instrument_weights(torch.randint(0, model.config.n_instruments, (batch,), device=device))
    pitch = torch.randint(36, 84, (batch,), device=device)
    velocity = torch.randint(1, 128, (batch,), device=device).float()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    whole_notes = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16)
    with torch.inference_mode(), whole_notes:
        model(weights, pitch, velocity)  # warm up
        sync()
        notes, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(weights, pitch, velocity)
            notes += batch
        sync()
        rate = notes * model.config.note_samples / 16_000 / (time.perf_counter() - start)
    with torch.inference_mode():
        next(iter(model.stream(weights, pitch, velocity, first_steps=FIRST_STEPS, bfloat16=bfloat16)))  # warm up
        firsts = []
        for _ in range(FIRST_CHUNK_TRIES):
            start = time.perf_counter()
            next(iter(model.stream(weights, pitch, velocity, first_steps=FIRST_STEPS, bfloat16=bfloat16)))
            sync()
            firsts.append(time.perf_counter() - start)
    return rate, statistics.median(firsts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="sing-tiny,sing-cpu,sing-medium,sing-paper")
    parser.add_argument("--decoders", default="conv,harmonic", help="output stages to compare")
    parser.add_argument("--harmonics", type=int, default=0, help="the harmonic decoder's partials (default: the size's)")
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=5.0, help="time spent on each measurement")
    parser.add_argument("--threads", default=None, help="torch CPU threads to try, such as 2,1 (default: torch's)")
    parser.add_argument("--instruments", type=int, default=129)
    parser.add_argument("--precisions", default="float32", help="float32, bfloat16 or both, such as float32,bfloat16")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = [int(t) for t in args.threads.split(",")] if args.threads else [torch.get_num_threads()]
    print(f"device: {device}, torch {torch.__version__}\n")
    print("| config | decoder | parameters | precision | threads | batch | audio s/s | first chunk (ms, median) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.configs.split(","):
        for decoder in args.decoders.split(","):
            extra = {"harmonics": args.harmonics} if decoder == "harmonic" and args.harmonics else {}
            config = get_config(name, n_instruments=args.instruments, decoder=decoder, **extra)
            model = SING(config).eval().to(device)
            label = f"harmonic, K={config.harmonics}" if decoder == "harmonic" else decoder
            for precision in args.precisions.split(","):
                for count in threads:
                    torch.set_num_threads(count)
                    for batch in (int(b) for b in args.batches.split(",")):
                        rate, first = measure(model, batch, device, args.seconds, precision == "bfloat16")
                        print(f"| {name} | {label} | {count_parameters(model) / 1e6:.2f} M | {precision} | {count} | "
                              f"{batch} | {rate:,.0f} | {first * 1e3:.1f} |", flush=True)


if __name__ == "__main__":
    main()
