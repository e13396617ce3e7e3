"""The reverb and chorus options that render, play and listen share, and the settings they make."""
from __future__ import annotations

import argparse

from . import UsageError


def add_effects_arguments(p: argparse.ArgumentParser) -> None:
    """--reverb/--no-reverb, --chorus/--no-chorus, their settings (FluidSynth's defaults and units) and the sends
    every channel starts with."""
    from ..synth.effects import ChorusSettings, ReverbSettings
    reverb, chorus = ReverbSettings(), ChorusSettings()
    g = p.add_argument_group("effects", "the reverb and chorus that CC91 and CC93 send to (docs/effects.md)")
    g.add_argument("--reverb", action=argparse.BooleanOptionalAction, default=True,
                   help="the reverb (default: on)")
    g.add_argument("--reverb-room", type=float, default=reverb.room, metavar="0..1",
                   help=f"room size (default {reverb.room:g})")
    g.add_argument("--reverb-damp", type=float, default=reverb.damp, metavar="0..1",
                   help=f"high-frequency damping (default {reverb.damp:g})")
    g.add_argument("--reverb-width", type=float, default=reverb.width, metavar="0..1",
                   help=f"stereo width (default {reverb.width:g})")
    g.add_argument("--reverb-level", type=float, default=reverb.level, metavar="0..1",
                   help=f"wet level (default {reverb.level:g})")
    g.add_argument("--chorus", action=argparse.BooleanOptionalAction, default=True,
                   help="the chorus (default: on)")
    g.add_argument("--chorus-voices", type=int, default=chorus.voices, metavar="1..99",
                   help=f"modulated delay lines (default {chorus.voices})")
    g.add_argument("--chorus-rate", type=float, default=chorus.rate, metavar="HZ",
                   help=f"modulation rate, 0.1..5 Hz (default {chorus.rate:g})")
    g.add_argument("--chorus-depth", type=float, default=chorus.depth, metavar="MS",
                   help=f"modulation depth, 0..21 ms (default {chorus.depth:g})")
    g.add_argument("--chorus-level", type=float, default=chorus.level, metavar="0..10",
                   help=f"output level (default {chorus.level:g})")
    g.add_argument("--reverb-send", type=int, default=0, metavar="0..127",
                   help="every channel's CC91 at start and after a controller reset (default 0 as in General "
                        "MIDI; GS and XG devices start at 40)")
    g.add_argument("--chorus-send", type=int, default=0, metavar="0..127",
                   help="every channel's CC93 likewise (default 0)")


def effects_config(args):
    """The EffectsConfig the options ask for; a setting out of range (or NaN) -> UsageError naming the option."""
    from ..synth.effects import ChorusSettings, EffectsConfig, ReverbSettings
    try:
        reverb = ReverbSettings(args.reverb_room, args.reverb_damp, args.reverb_width, args.reverb_level)
        chorus = ChorusSettings(args.chorus_voices, args.chorus_rate, args.chorus_depth, args.chorus_level)
        return EffectsConfig(reverb if args.reverb else None, chorus if args.chorus else None,
                             args.reverb_send, args.chorus_send)
    except ValueError as exc:  # "reverb room nan is out of range (0..1)" -> "--reverb-room nan: ..."
        words = str(exc).split(" ")
        option = "--" + "-".join(words[:2]).replace("_", "-")
        raise UsageError(f"{option} {' '.join(words[2:])}") from None
