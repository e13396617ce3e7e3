"""Short, measured autoencoder runs that compare training recipes: held-out spectral loss against wall time.

    python bench/recipes.py --data DIR [--variants paper,waveform,rms1,rms3,rms10] [--seconds 240]
                            [--config sing-tiny] [--out docs/training]

Each variant trains stage 1 (encoder + decoder) from the same initialisation for the same wall time, and
every --every steps measures the spectral loss of its reconstructions of the validation notes at the data's own
level (eps = 1, as `singsynth eval` measures), beside silence's loss on the same notes. Writes a CSV and a PNG
of the curves to --out and prints a markdown table of the last figures.
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch

from singsynth import dsp
from singsynth.data import NSynthData
from singsynth.solver import TrainConfig, Trainer

# name -> TrainConfig overrides; "paper" is the published recipe at the data's own loudness
VARIANTS = {
    "paper": dict(normalize=False, autoencoder_loss="spectral"),
    "waveform": dict(normalize=True, target_rms=0.1, autoencoder_loss="waveform"),
    "rms0.1": dict(normalize=True, target_rms=0.1),
    "rms1": dict(normalize=True, target_rms=1.0),
    "rms3": dict(normalize=True, target_rms=3.0),
    "rms10": dict(normalize=True, target_rms=10.0),
    "rms3-lr1e-3": dict(normalize=True, target_rms=3.0, lr=1e-3),
    "rms3-batch64": dict(normalize=True, target_rms=3.0, batch_size=64),
}


@torch.no_grad()
def held_out_loss(trainer: Trainer) -> tuple[float, float]:
    """(model, silence) spectral loss on the validation notes, at the data's own level."""
    total = silence = 0.0
    for chunk in trainer.valid_index.split(32):
        batch = trainer._batch(chunk)
        target = batch["wav"] / trainer.gain
        out = trainer.autoencoder(batch["wav"]) / trainer.gain
        total += dsp.spectral_loss(out, target).item() * len(chunk)
        silence += dsp.spectral_loss(torch.zeros_like(target), target).item() * len(chunk)
    return total / len(trainer.valid_index), silence / len(trainer.valid_index)


def run_variant(name: str, data: NSynthData, args) -> list[dict]:
    overrides = dict(VARIANTS[name])
    config = TrainConfig(config=args.config, batch_size=overrides.pop("batch_size", args.batch_size),
                         progress=False, valid_notes=args.valid_notes, seed=args.seed, checkpoint_every=1e9,
                         **overrides)
    torch.manual_seed(args.seed)  # the same initialisation for every variant
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(data, config, Path(tmp) / "checkpoint.safetensors")
    trainer._prepare_stage("autoencoder")
    generator = torch.Generator().manual_seed(args.seed)
    rows, step, spent = [], 0, 0.0
    while spent < args.seconds:
        start = time.perf_counter()
        for _ in range(args.every):
            pick = torch.randint(0, len(trainer.train_index), (config.batch_size,), generator=generator)
            trainer._step_autoencoder(trainer._batch(trainer.train_index[pick]))
        spent += time.perf_counter() - start  # evaluation time is not training time
        step += args.every
        loss, silence = held_out_loss(trainer)
        rows.append({"variant": name, "step": step, "seconds": round(spent, 1), "spectral_loss": loss,
                     "silence": silence})
        print(f"  {name}: step {step}, {spent:.0f} s, held-out spectral loss {loss:.4f} (silence {silence:.4f})",
              flush=True)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == name]
        ax.plot([r["seconds"] for r in mine], [r["spectral_loss"] for r in mine], label=name)
    ax.axhline(rows[0]["silence"], color="gray", linestyle="--", label="silence")
    ax.set_xlabel("training wall time (s)")
    ax.set_ylabel("held-out spectral loss (autoencoder)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--variants", default="paper,waveform,rms1,rms3,rms10")
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--config", default="sing-tiny")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--every", type=int, default=25, help="steps between measurements")
    parser.add_argument("--valid-notes", type=int, default=64)
    parser.add_argument("--instruments", help="comma-separated instrument ids or names to keep")
    parser.add_argument("--pitches", default="36-84")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/training")
    args = parser.parse_args()
    for name in args.variants.split(","):
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    lo, hi = (int(v) for v in args.pitches.split("-"))
    data = NSynthData(args.data, instruments=args.instruments.split(",") if args.instruments else None,
                      pitches=(lo, hi))
    rows = [row for name in args.variants.split(",") for row in run_variant(name, data, args)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "recipes.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, out / "recipes.png")
    print(f"\n{args.config}, batch {args.batch_size}, {torch.get_num_threads()} threads; "
          f"curves in {out / 'recipes.png'}\n")
    print("| variant | steps | seconds | held-out spectral loss | silence |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.variants.split(","):
        last = [r for r in rows if r["variant"] == name][-1]
        print(f"| {name} | {last['step']} | {last['seconds']:.0f} | {last['spectral_loss']:.4f} | {last['silence']:.4f} |")


if __name__ == "__main__":
    main()
