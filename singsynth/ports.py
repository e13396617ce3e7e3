"""Live MIDI input through mido (python-rtmidi backend; MIDO_BACKEND picks the API): list, find, open."""
from __future__ import annotations

import logging
import queue
import sys
import time
from typing import Callable

logger = logging.getLogger(__name__)

CLIENT_NAME = "singsynth"
# A timestamped message: time.monotonic() on arrival, then the message.
Stamped = tuple[float, "object"]


class MidiPortError(Exception):
    """A MIDI port that cannot be used; the message is one line saying what exists."""


def _mido():
    import mido
    return mido


def backend_name() -> str:
    """The mido backend in use, with its API if one was asked for (MIDO_BACKEND=module/API)."""
    backend = _mido().backend
    return f"{backend.name}/{backend.api}" if backend.api else backend.name


def list_inputs() -> list[str]:
    """MIDI input port names as the backend numbers them."""
    try:
        return list(dict.fromkeys(_mido().get_input_names()))
    except (OSError, RuntimeError, ImportError) as exc:
        raise MidiPortError(f"MIDI backend {backend_name()} is not usable ({exc})") from None


def describe(names: list[str]) -> str:
    return "; ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"


def find_input(spec: str) -> str:
    """A MIDI input by number, exact name or unique name substring (case-insensitive) -> its full name."""
    names = list_inputs()
    text = spec.strip()
    if text.isdigit() and int(text) < len(names):
        return names[int(text)]
    match = [n for n in names if n == text] or [n for n in names if text.lower() in n.lower()]
    if len(match) == 1:
        return match[0]
    what = "matches several MIDI inputs" if match else "is not a MIDI input"
    raise MidiPortError(f"MIDI port {text!r} {what} (backend {backend_name()}); inputs are {describe(names)}; "
                        "or use --virtual NAME")


def stamping(target: "queue.Queue[Stamped]", clock: Callable[[], float] = time.monotonic):
    """A mido port callback that stamps each message on arrival and queues it; never blocks."""
    def callback(message) -> None:
        target.put_nowait((clock(), message))
    return callback


def open_input(port: str | None = None, virtual: str | None = None, callback: Callable | None = None):
    """Open a live input: `port` (number or name) of the backend, or a virtual port named `virtual`
    that other programs connect to. Messages go to `callback` (from the backend's thread)."""
    mido = _mido()
    try:
        if virtual:
            return mido.open_input(virtual, virtual=True, client_name=CLIENT_NAME, callback=callback)
        name = find_input(port) if port else None
        if name is None:
            names = list_inputs()
            if not names:
                raise MidiPortError(f"no MIDI input found (backend {backend_name()}); connect a keyboard, "
                                    "or use --virtual NAME and connect a program to it")
            name = names[0]
        return mido.open_input(name, callback=callback)
    except NotImplementedError:
        hint = " (Windows has no virtual MIDI ports: create one with loopMIDI and use --port)" \
            if sys.platform == "win32" else ""
        raise MidiPortError(f"backend {backend_name()} cannot open a virtual MIDI port{hint}") from None
    except MidiPortError:
        raise
    except Exception as exc:  # rtmidi, portmidi and pygame backends each raise their own kinds
        what = f"virtual MIDI port {virtual!r}" if virtual else f"MIDI port {port or 'default'!r}"
        raise MidiPortError(f"cannot open {what} (backend {backend_name()}): {exc}") from None
