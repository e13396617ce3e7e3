"""Training speed: notes per second in each of the three stages, per model size.

    python bench/training.py --data DIR [--configs sing-tiny,sing-cpu] [--batch-size 16] [--steps 10] [--device cpu]

DIR is an NSynth-format folder (for example one made by `singsynth dataset soundfont`). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from singsynth.model.sing import count_parameters
from singsynth.train.config import TrainConfig
from singsynth.train.data import NSynthData
from singsynth.train.solver import Trainer, build_trainer


def notes_per_second(trainer: Trainer, stage: str, steps: int) -> float:
    batch_size = trainer.args.batch_size
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)

    def run_one(i: int) -> None:
        trainer.train_step(stage, (torch.arange(batch_size) + i * batch_size) % len(trainer.train_index))

    run_one(0)  # warm up
    sync()
    start = time.perf_counter()
    for i in range(1, steps + 1):
        run_one(i)
    sync()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--configs", default="sing-tiny,sing-cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    data = NSynthData(args.data)
    print(f"device: {args.device} ({torch.get_num_threads()} threads), batch {args.batch_size}, "
          f"{len(data.notes)} notes\n")
    print("| config | parameters | autoencoder notes/s | sequence notes/s | end to end notes/s |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.configs.split(","):
        config = TrainConfig(config=name, batch_size=args.batch_size, device=args.device, bf16=args.bf16,
                             show_progress=False, valid_notes=0)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = build_trainer(data, config, Path(tmp) / "checkpoint.safetensors")
            rates = [notes_per_second(trainer, stage, args.steps) for stage in ("autoencoder", "sequence", "end_to_end")]
        print(f"| {name} | {count_parameters(trainer.sing) / 1e6:.2f} M | " + " | ".join(f"{r:.1f}" for r in rates) + " |",
              flush=True)


if __name__ == "__main__":
    main()
