"""Live MIDI input through mido (python-rtmidi backend; MIDO_BACKEND picks the API): list, find, open."""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from ..errors import UsageError
from ..process import settings
from .sysex import system_reset

logger = logging.getLogger(__name__)

CLIENT_NAME = "singsynth"
# A timestamped message: time.monotonic() on arrival, then the message.
Stamped = tuple[float, "object"]


class MidiPortError(UsageError):
    """A MIDI port that cannot be used; the message is one line saying what exists."""


def _mido():
    settings().quiet_alsa()
    import mido
    return mido


def _hint(error: str) -> str:
    """What to do when the ALSA sequencer is missing (containers, machines without sound modules)."""
    if "ALSA sequencer" in error or "/dev/snd/seq" in error:
        return ("; there is no ALSA sequencer here: with a JACK server running, "
                "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK uses JACK's MIDI instead")
    return ""


def backend_name() -> str:
    """The mido backend in use, with its API if one was asked for (MIDO_BACKEND=module/API)."""
    backend = _mido().backend
    return f"{backend.name}/{backend.api}" if backend.api else backend.name


def list_inputs() -> list[str]:
    """MIDI input port names as the backend numbers them."""
    try:
        return list(dict.fromkeys(_mido().get_input_names()))
    except (OSError, RuntimeError, ImportError) as exc:
        raise MidiPortError(f"MIDI backend {backend_name()} is not usable ({exc}){_hint(str(exc))}") from None


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


class EventQueue:
    """Stamped messages from the MIDI backend's thread to the producer: bounded, and put never blocks.

    Up to `maxsize` messages queue in order. While it is full (a flood faster than the engine plays),
    new note-ons and aftertouch are dropped (counted in `dropped`), and every other channel message is
    coalesced: the latest per (channel, kind, key or controller) is kept, after everything queued, in
    the order of its last arrival. So memory stays bounded, and note-offs, the pedal and all-notes-off
    always arrive: a flood never leaves a note hanging. The overflow moves into the queue once the
    queue has emptied, so the order of arrival holds.
    """

    def __init__(self, maxsize: int = 4096):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: deque[Stamped] = deque()
        self._overflow: OrderedDict[tuple, Stamped] = OrderedDict()
        self._lock = threading.Lock()
        # called with each queued message, in the putting thread (the engine's prefetch: a cold note
        # starts generating on arrival, not when its block is made)
        self.on_arrival: Callable[[object], None] | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._overflow)

    def put_nowait(self, item: Stamped) -> None:
        with self._lock:
            queued = not self._overflow and len(self._queue) < self.maxsize
            if queued:
                self._queue.append(item)
            else:
                key = _coalescing_key(item[1])
                if key is None:
                    self.dropped += 1
                else:
                    self._overflow.pop(key, None)  # the latest value, at the place of its arrival
                    self._overflow[key] = item
        if queued:
            self._arrived(item[1])

    def _arrived(self, message) -> None:
        hook = self.on_arrival
        if hook is None:
            return
        try:
            hook(message)
        except Exception:  # a hint failing must never stop the MIDI input
            logger.exception("handling an arriving MIDI message failed")
            self.on_arrival = None

    def take(self, limit: int | None = None) -> list[Stamped]:
        """Up to `limit` messages (all if None), oldest first."""
        items: list[Stamped] = []
        with self._lock:
            while limit is None or len(items) < limit:
                if not self._queue:
                    if not self._overflow:
                        break
                    self._queue.extend(self._overflow.values())  # at most 16 x 258 messages
                    self._overflow.clear()
                items.append(self._queue.popleft())
        return items


def _coalescing_key(message) -> tuple | None:
    """What a message may be merged with when the queue is full; None: it may be dropped."""
    kind = getattr(message, "type", None)
    if kind == "note_off" or (kind == "note_on" and message.velocity == 0):
        return ("off", message.channel, message.note)
    if kind == "control_change":
        return ("cc", message.channel, message.control)
    if kind in ("pitchwheel", "program_change"):
        return (kind, message.channel)
    if kind == "sysex" and system_reset(message.data):  # a reset is never dropped: the latest stands
        return ("reset",)
    return None


def stamping(target: EventQueue, clock: Callable[[], float] = time.monotonic):
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
            opened = mido.open_input(virtual, virtual=True, client_name=CLIENT_NAME, callback=callback)
        else:
            name = find_input(port) if port else None
            if name is None:
                names = list_inputs()
                if not names:
                    raise MidiPortError(f"no MIDI input found (backend {backend_name()}); connect a keyboard, "
                                        "or use --virtual NAME and connect a program to it")
                name = names[0]
            opened = mido.open_input(name, callback=callback)
        return PolledInput(opened, callback) if callback is not None and PolledInput.can_poll(opened) else opened
    except NotImplementedError:
        hint = " (Windows has no virtual MIDI ports: create one with loopMIDI and use --port)" \
            if sys.platform == "win32" else ""
        raise MidiPortError(f"backend {backend_name()} cannot open a virtual MIDI port{hint}") from None
    except MidiPortError:
        raise
    except Exception as exc:  # rtmidi, portmidi and pygame backends each raise their own kinds
        what = f"virtual MIDI port {virtual!r}" if virtual else f"MIDI port {port or 'default'!r}"
        raise MidiPortError(f"cannot open {what} (backend {backend_name()}): {exc}{_hint(str(exc))}") from None


class PolledInput:
    """An rtmidi input read from a thread of ours instead of through rtmidi's callback.

    rtmidi runs its callback in the MIDI API's own thread, which for JACK is the audio process thread:
    the callback must take Python's lock there, and under a flood of MIDI the whole JACK graph runs late
    (xruns) and events are lost. Without a callback that thread only queues the bytes (in rtmidi's queue
    of 1024 messages); this thread takes them every POLL_SECONDS and hands them to the callback."""

    POLL_SECONDS = 0.0005

    def __init__(self, port, callback: Callable):
        self._port, self._rt, self._callback = port, port._rt, callback
        self.name = port.name
        self._rt.cancel_callback()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="singsynth-midi-in", daemon=True)
        self._thread.start()

    @staticmethod
    def can_poll(port) -> bool:
        rt = getattr(port, "_rt", None)  # mido's rtmidi backend keeps its rtmidi.MidiIn here
        return rt is not None and hasattr(rt, "get_message") and hasattr(rt, "cancel_callback")

    def _run(self) -> None:
        mido = _mido()
        get = self._rt.get_message
        while not self._stop.is_set():
            item = get()
            if item is None:
                time.sleep(self.POLL_SECONDS)
                continue
            try:
                message = mido.Message.from_bytes(item[0])
            except ValueError:  # as mido does: a malformed message is ignored
                continue
            self._callback(message)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._port.close()
