"""Live: a block's controller storm made one value per controller and channel, as a block can sound only one.

A keyboard's wheel, a sequencer's automation or a flood sends controllers and bends far faster than blocks are
made (a 256-frame block is 5.3 ms at 48 kHz). Within one block only the last value of each can be heard, and the
engine ramps gains and rates over a few ms anyway, so the earlier ones are dropped before the engine sees them:
coalesce() keeps, for each (channel, controller), (channel, pitch bend), (channel, pressure) and (channel, key,
key pressure), only the last in the block, at its own place. Messages whose order matters are never merged:
note-ons and note-offs, the pedals and other switches (64-69), the parameter numbers and data entry that set
bend range and tuning (6, 38, 96-101), mode messages (120-127: all sound off, reset, all notes off, ...),
program changes and system messages.
"""
from __future__ import annotations

from typing import Sequence, TypeVar

from ..gm import CC

T = TypeVar("T")

# controllers that set a value, as opposed to switches, parameter selection and data entry, and mode messages
KEPT_IN_ORDER = frozenset({CC.DATA_ENTRY, CC.DATA_ENTRY_FINE, CC.NRPN_FINE, CC.NRPN, CC.RPN_FINE, CC.RPN,
                           96, 97, *range(64, 70), *range(120, 128)})


def coalescing_key(message) -> tuple | None:
    """What a message merges with within a block; None: it is kept as it is."""
    kind = getattr(message, "type", None)
    if kind == "control_change":
        return None if message.control in KEPT_IN_ORDER else ("cc", message.channel, message.control)
    if kind == "pitchwheel":
        return ("bend", message.channel)
    if kind == "aftertouch":
        return ("pressure", message.channel)
    if kind == "polytouch":
        return ("key pressure", message.channel, message.note)
    return None


def coalesce(events: Sequence[tuple[T, object]]) -> list[tuple[T, object]]:
    """The events (anything, message) with only the last of each controller, bend and pressure kept, in order."""
    last: dict[tuple, int] = {}
    keys = [coalescing_key(message) for _, message in events]
    for i, key in enumerate(keys):
        if key is not None:
            last[key] = i
    if len(last) == sum(key is not None for key in keys):
        return list(events)  # nothing to merge
    return [event for i, (event, key) in enumerate(zip(events, keys)) if key is None or last[key] == i]
