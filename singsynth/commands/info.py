"""singsynth info: parameter count and configuration of a named size or a preset."""
from __future__ import annotations

import json

from . import UsageError, add_preset_argument


def register(sub) -> None:
    p = sub.add_parser("info", help="parameter count and config of a model size or a preset")
    group = p.add_mutually_exclusive_group()  # neither: the default preset
    group.add_argument("--config", help="a named model size (sing-paper, sing-cpu, ...)")
    add_preset_argument(group)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..model.config import CONFIGS, get_config
    from ..preset.checks import encoder_parameter_count, parameter_count
    if args.config:
        if args.config not in CONFIGS:
            raise UsageError(f"unknown config {args.config!r}; known: {', '.join(CONFIGS)}")
        config, instruments, meta = get_config(args.config), [], {}
    else:
        from ..preset import load_preset
        preset = load_preset(args.preset, lazy=True)  # the weights file's header is checked, no model is built
        config, meta = preset.config, preset.meta
        instruments = [i.to_dict() for i in preset.instruments]
    info = {"parameters": parameter_count(config), "encoder_parameters": encoder_parameter_count(config),
            "sample_rate": config.sample_rate, "config": config.to_dict()}
    if not args.config:
        info.update(name=meta.get("name"), instruments=instruments, evaluation=meta.get("evaluation"),
                    training=meta.get("training"))
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"parameters: {info['parameters']:,} (encoder for pretraining: {info['encoder_parameters']:,})")
    print(f"sample rate: {config.sample_rate} Hz (notes of {config.note_samples / config.sample_rate:g} s)")
    print("config: " + ", ".join(f"{k}={v}" for k, v in info["config"].items()))
    for i, inst in enumerate(instruments):
        gm = "drums" if inst["drums"] else ("no GM program" if inst["gm_program"] is None else f"GM {inst['gm_program']}")
        print(f"  {i:3d}  {inst['name']}  ({gm}, pitches {inst['pitch_range'][0]}-{inst['pitch_range'][1]})")
    return 0
