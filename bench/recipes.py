"""Training recipes compared on the same data, seed and wall time: held-out pitch accuracy, identity and
multi-scale distance against minutes of training.

    python bench/recipes.py train --data DIR --variant harmonic --minutes 30 [--snapshot-minutes 10]
                                  [--config sing-cpu] [--threads 1] [--out runs/recipes]
    python bench/recipes.py report --data DIR [--limit 120] [--out runs/recipes] [--docs docs/training]

`train` trains one variant for the given minutes of training (evaluation and snapshots not counted) and
writes a preset of its model every --snapshot-minutes to OUT/VARIANT/at-MMM. Run one variant per core
(`--threads 1`) to compare several at once. `report` evaluates every snapshot on the same held-out notes
(`singsynth eval`'s figures, spread over --limit notes of the test split), writes recipes.csv and
recipes.png to --docs and prints a markdown table of the last snapshot of each variant.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from singsynth.train.config import TrainConfig
from singsynth.train.data import NSynthData
from singsynth.train.export import write_preset
from singsynth.train.solver import STAGES, build_trainer

HARMONIC = dict(decoder="harmonic", end_to_end_loss="multiscale", lr=1e-3)
# name -> (TrainConfig overrides, share of the time for each of the three stages)
END_TO_END = (0.0, 0.0, 1.0)
THREE_STAGES = (0.25, 0.125, 0.625)
VARIANTS = {
    "conv": (dict(decoder="conv", lr=3e-4), THREE_STAGES),  # the published recipe
    "harmonic": (HARMONIC, END_TO_END),
    "harmonic-residual": (dict(HARMONIC, residual=True), END_TO_END),
    "harmonic-spectral": (dict(HARMONIC, end_to_end_loss="spectral"), END_TO_END),
    "harmonic-k128": (dict(HARMONIC, harmonics=128), END_TO_END),
    "harmonic-k256": (dict(HARMONIC, harmonics=256), END_TO_END),
    "harmonic-inharmonic": (dict(HARMONIC, inharmonicity=True), END_TO_END),
    "harmonic-keytuning": (dict(HARMONIC, key_tuning=True), END_TO_END),
    "harmonic-keytuning-k128": (dict(HARMONIC, key_tuning=True, harmonics=128), END_TO_END),
    "harmonic-3stages": (dict(HARMONIC, autoencoder_loss="multiscale"), THREE_STAGES),
    "harmonic-3stages-keytuning": (dict(HARMONIC, autoencoder_loss="multiscale", key_tuning=True), THREE_STAGES),
    "harmonic-lr3e-4": (dict(HARMONIC, lr=3e-4), END_TO_END),
}
FIGURES = ("pitch_accuracy_25", "identity", "multiscale", "spectral_loss")


def train(args) -> None:
    torch.set_num_threads(args.threads)
    overrides, shares = VARIANTS[args.variant]
    data = NSynthData(args.data)
    config = TrainConfig(config=args.config, batch_size=args.batch_size, show_progress=False, seed=args.seed,
                         checkpoint_every=1e9, **overrides)
    folder = Path(args.out) / args.variant
    torch.manual_seed(args.seed)
    trainer = build_trainer(data, config, folder / "checkpoint.safetensors")
    generator = torch.Generator().manual_seed(args.seed)
    budget = args.minutes * 60
    ends = [budget * sum(shares[:i + 1]) for i in range(3)]
    history: list[dict] = []
    spent, step, next_snapshot, loss_sum = 0.0, 0, args.snapshot_minutes * 60, 0.0
    stage = 0
    while spent < budget:
        while spent >= ends[stage]:
            stage += 1
        start = time.perf_counter()
        pick = torch.randint(0, len(trainer.train_index), (config.batch_size,), generator=generator)
        loss_sum += trainer.train_step(STAGES[stage], pick)
        spent += time.perf_counter() - start
        step += 1
        if spent >= next_snapshot or spent >= budget:
            minutes = round(spent / 60)
            valid = trainer.validation_loss(STAGES[stage])
            history.append({"stage": STAGES[stage], "epoch": step, "train_loss": loss_sum / step,
                            "valid_loss": valid, "seconds": round(spent, 1)})
            trainer.progress["seconds"] = spent
            write_preset(folder / f"at-{minutes:03d}", trainer, data, history, name=f"{args.variant}-{minutes}min")
            print(f"{args.variant}: {minutes} min, step {step}, {STAGES[stage]}, train {loss_sum / step:.4f}, "
                  f"valid {valid}", flush=True)
            next_snapshot += args.snapshot_minutes * 60


def report(args) -> None:
    from singsynth.preset import load_preset
    from singsynth.train.evaluate import evaluate
    torch.set_num_threads(args.threads)
    data = NSynthData(args.data)
    rows = []
    cache = Path(args.out) / "evaluations.json"
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    for snapshot in sorted(Path(args.out).glob("*/at-*")):
        key = str(snapshot)
        if key not in done:
            result = evaluate(load_preset(snapshot), data, split="test", limit=args.limit)
            done[key] = {k: result[k] for k in ("model", "sampler", "silence", "identity_chance", "notes")}
            cache.write_text(json.dumps(done, indent=1))
        r = done[key]
        history = json.loads((snapshot / "preset.json").read_text())["training"]["history"]
        rows.append({"variant": snapshot.parent.name, "minutes": int(snapshot.name[3:]), "steps": history[-1]["epoch"],
                     **{f: r["model"][f] for f in FIGURES},
                     **{f"sampler_{f}": r["sampler"][f] for f in FIGURES}, "notes": r["notes"]})
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    with open(docs / "recipes.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, docs / "recipes.png")
    last = {}
    for row in rows:
        if row["minutes"] >= last.get(row["variant"], {"minutes": -1})["minutes"]:
            last[row["variant"]] = row
    print("| recipe | minutes | steps | pitch within 25 cents | identity | multi-scale | spectral |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, row in last.items():
        print(f"| {name} | {row['minutes']} | {row['steps']:,} | {row['pitch_accuracy_25']:.3f} | "
              f"{row['identity']:.3f} | {row['multiscale']:.2f} | {row['spectral_loss']:.4f} |")
    any_row = rows[0]
    print(f"| sampler | | | {any_row['sampler_pitch_accuracy_25']:.3f} | {any_row['sampler_identity']:.3f} | "
          f"{any_row['sampler_multiscale']:.2f} | {any_row['sampler_spectral_loss']:.4f} |")


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    titles = {"pitch_accuracy_25": "held-out pitch within 25 cents", "identity": "identity",
              "multiscale": "multi-scale distance (lower is better)"}
    for ax, figure in zip(axes, titles):
        for i, variant in enumerate(sorted({r["variant"] for r in rows})):
            points = sorted((r["minutes"], r[figure]) for r in rows if r["variant"] == variant)
            # ten colours, then dashed lines: no two variants look alike
            ax.plot(*zip(*points), marker=".", label=variant, color=f"C{i % 10}", linestyle="-" if i < 10 else "--")
        ax.axhline(rows[0][f"sampler_{figure}"], color="grey", linestyle="--", label="sampler")
        ax.set_title(titles[figure], fontsize=9)
        ax.set_xlabel("minutes of training")
    axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--variant", choices=VARIANTS, required=True)
    t.add_argument("--minutes", type=float, default=30)
    t.add_argument("--snapshot-minutes", type=float, default=10)
    t.add_argument("--config", default="sing-cpu")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--out", default="runs/recipes")
    r = sub.add_parser("report")
    r.add_argument("--data", required=True)
    r.add_argument("--limit", type=int, default=120)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--out", default="runs/recipes")
    r.add_argument("--docs", default="docs/training")
    args = parser.parse_args()
    train(args) if args.command == "train" else report(args)


if __name__ == "__main__":
    main()
