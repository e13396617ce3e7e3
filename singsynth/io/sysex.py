"""System exclusive messages singsynth answers: the GM, GM2, GS and XG resets, as FluidSynth recognises them."""
from __future__ import annotations

from typing import Sequence

DEVICE_ID = 0x10  # the device id singsynth answers to besides 0x7F ("all"): FluidSynth's default since 2.4
RESETS = {  # (manufacturer or universal id, then the bytes after the device id) -> the reset it asks for
    "GM System On": (0x7E, (0x09, 0x01)),
    "GM2 System On": (0x7E, (0x09, 0x03)),
    "GS Reset": (0x41, (0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41)),  # the last byte is Roland's checksum
    "GS Mode Set GM": (0x41, (0x42, 0x12, 0x40, 0x00, 0x7F, 0x7F, 0x42)),
    "XG System On": (0x43, (0x4C, 0x00, 0x00, 0x7E, 0x00)),
    "XG All Parameter Reset": (0x43, (0x4C, 0x00, 0x00, 0x7F, 0x00)),
}


def system_reset(data: Sequence[int], device_id: int = DEVICE_ID) -> str | None:
    """The name of the reset a system exclusive message asks for (its bytes without F0 and F7), or None: a GM,
    GM2, GS or XG reset addressed to `device_id` or to every device (0x7F). Each resets the whole synth, as
    FluidSynth does."""
    data = tuple(data)
    if len(data) < 4 or data[1] not in (device_id, 0x7F):
        return None
    for name, (maker, rest) in RESETS.items():
        if data[0] == maker and data[2:] == rest:
            return name
    return None
