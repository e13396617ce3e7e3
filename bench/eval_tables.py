"""The evaluation a preset records (`singsynth eval --by-family --record`) as markdown tables: one row per General
MIDI family and the drums, then the total; each figure as model / sampler, and silence's spectral loss.

    singsynth eval --preset default --data data/fluidr3-gm --split test --by-family --record
    python bench/eval_tables.py [--preset default] [--split test]   (default: every split the preset records)
"""
from __future__ import annotations

import argparse

from singsynth.preset import PresetError, load_preset

# (key, heading, format): the figures of each system in the recorded JSON
FIGURES = (("pitch_accuracy_25", "pitch within 25 cents", "{:.1%}"), ("pitch_accuracy_50", "within 50 cents", "{:.1%}"),
           ("identity", "identity", "{:.3f}"), ("multiscale", "multi-scale distance", "{:.2f}"),
           ("spectral_loss", "spectral loss", "{:.4f}"))


def cell(row: dict, key: str, form: str) -> str:
    values = [row[system].get(key) for system in ("model", "sampler")]
    text = " / ".join("-" if v is None else form.format(v).replace("%", " %") for v in values)
    if key == "multiscale" and None not in values and values[1] > 0:
        text += f" ({values[0] / values[1]:.2f}x)"
    if key == "spectral_loss" and row["silence"].get(key) is not None:
        text += f" (silence {row['silence'][key]:.4f})"
    return text


def table(result: dict) -> list[str]:
    lines = [f"`--split {result['split']}`: {result['notes']} notes ({result['pitch_notes']} pitched, "
             f"{result['unpitched_notes']} without a clear pitch, {result['drum_notes']} drum notes)"
             + (f"; identity chance {result['identity_chance']:.3f}" if result.get("identity_chance") else "")
             + ". Each cell: model / sampler.", "",
             "| family | notes | " + " | ".join(heading for _, heading, _ in FIGURES) + " |",
             "| --- | ---: |" + " --- |" * len(FIGURES)]
    rows = [*result.get("families", {}).items(), ("**total**", result)]
    for name, row in rows:
        lines.append(f"| {name} | {row['notes']} | " + " | ".join(cell(row, key, form) for key, _, form in FIGURES)
                     + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--split", choices=("train", "valid", "test"), help="default: every recorded split")
    args = ap.parse_args()
    try:
        preset = load_preset(args.preset)
    except PresetError as exc:
        raise SystemExit(f"bench/eval_tables.py: {exc}") from None
    recorded = preset.meta.get("evaluation") or {}
    splits = [args.split] if args.split else [s for s in ("test", "valid", "train") if s in recorded]
    if not splits or any(s not in recorded for s in splits):
        raise SystemExit(f"preset {preset.name!r} records no evaluation of {args.split or 'any split'}; run "
                         f"singsynth eval --preset {args.preset} --data DATA --by-family --record")
    for split in splits:
        print("\n".join(table(recorded[split])) + "\n")


if __name__ == "__main__":
    main()
