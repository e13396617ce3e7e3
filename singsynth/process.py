"""The process-wide settings a render or a live session changes: applied in one place, put back on the way out."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import signal
import sys
import threading
from typing import Callable

# glibc's mallopt parameters, and the values they start with
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
GLIBC_DEFAULT_THRESHOLD = 128 << 10
MMAP_THRESHOLD_MAX = 32 << 20  # the largest glibc takes on 64-bit systems
KEEP_FREED = 1 << 30
# The audio callback needs the GIL; by default a busy thread keeps it up to 5 ms, about one 256-frame period at
# 48 kHz. Handing it over every 0.5 ms keeps the callback on time.
LIVE_SWITCH_INTERVAL = 0.0005
# The JACK client name PortAudio uses unless told another
PORTAUDIO_JACK_NAME = "PortAudio"


@functools.lru_cache(maxsize=1)
def _openblas() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """The thread-count getter and setter of the OpenBLAS numpy loaded (its wheels ship one, its symbols prefixed
    and suffixed by build), found among the process's mapped libraries; None where there is none (numpy on MKL or
    Accelerate)."""
    import numpy  # noqa: F401  -- its BLAS mapped
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                get, set_ = (getattr(lib, f"{prefix}{what}_num_threads{suffix}", None) for what in ("get", "set"))
                if get is not None and set_ is not None:
                    get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                    return get, set_
    return None


class ProcessSettings:
    """What singsynth changes in its own process, changed only through this context and put back, newest first,
    when the context that changed it exits. cli.main() runs every command inside one; a live session opens its
    own within it. Library code changes a setting through settings(), the innermost context open (outside any,
    a change lasts for the process, as an ordinary library call would).

    - torch's thread count (set_torch_threads): a live session fixes it at --threads; an offline render's
      GenerationThreads sets it before each batch of notes to the cores other programs leave idle; numpy's BLAS
      threads (set_blas_threads) the same way where numpy makes the notes.
    - the interpreter's switch interval (hand_over_gil_often): live, so the audio callback gets the GIL in time.
    - SIGINT and SIGTERM (catch_signals): live, they set an Event, so playing stops cleanly.
    - the garbage collector (freeze_garbage): live, what exists at the start is set aside from full collections
      (unfrozen on exit).
    - glibc's malloc (keep_freed_memory): a render keeps freed memory for its next batch (on exit the thresholds
      go back to glibc's starting values; glibc's own adjustment of the mmap threshold stays off).
    - PortAudio's JACK client name (name_audio_client): set by re-initialising PortAudio before a device is
      looked up; put back the same way.
    - alsa-lib's error handler (quiet_alsa): silent while MIDI ports are used, as our errors say the same in one
      line; the default handler again on exit.
    Two process-wide things are not held here, on purpose: oneDNN's LSTM switch (model/lstm_kernels.py)
    is set and put back around each call under a lock, and synth/half.py takes torch's conversion where torch
    is loaded and numpy's elsewhere, which give the same bits (tests/test_half.py).
    """

    def __init__(self) -> None:
        self._undo: dict[str, Callable[[], None]] = {}  # one entry a setting: how to put back what it was

    def __enter__(self) -> "ProcessSettings":
        _open.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _open.remove(self)
        for undo in reversed(list(self._undo.values())):
            undo()
        self._undo.clear()

    def _change(self, name: str, undo: Callable[[], None]) -> None:
        """Remember how to put `name` back, the first time this context changes it."""
        self._undo.setdefault(name, undo)

    def set_torch_threads(self, count: int) -> None:
        import torch
        if count < 1:
            raise ValueError(f"{count} threads: give at least 1")
        before = torch.get_num_threads()
        if before != count:
            self._change("torch threads", lambda: torch.set_num_threads(before))
            torch.set_num_threads(count)

    def set_blas_threads(self, count: int) -> None:
        """numpy's BLAS thread count (OpenBLAS's, where numpy's is found; elsewhere nothing): the numpy forward
        pass's matrix products (model/numpy_forward.py). OpenBLAS's threads spin while they wait, so on a core
        another program keeps busy they burn CPU time for nothing: the count follows the idle cores, as torch's."""
        if count < 1:
            raise ValueError(f"{count} threads: give at least 1")
        calls = _openblas()
        if calls is None:
            return
        get, set_ = calls
        before = int(get())
        if before != count:
            self._change("BLAS threads", lambda: set_(before))
            set_(count)

    def hand_over_gil_often(self, interval: float = LIVE_SWITCH_INTERVAL) -> None:
        before = sys.getswitchinterval()
        self._change("switch interval", lambda: sys.setswitchinterval(before))
        sys.setswitchinterval(min(before, interval))

    def catch_signals(self, stop: threading.Event) -> None:
        """From now on SIGINT and SIGTERM set `stop` instead of raising (before, Ctrl-C is an ordinary interrupt)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            before = signal.signal(sig, lambda signum, frame: stop.set())
            self._change(f"signal {sig}", lambda sig=sig, before=before: signal.signal(sig, before))

    def freeze_garbage(self) -> None:
        """Python's full garbage collections walk every object, the model's included, while holding the GIL: up to
        85 ms, some 16 blocks without audio. What exists now lives as long as playing does, so it is set aside
        and later collections walk only what playing makes."""
        gc.collect()
        gc.freeze()
        self._change("gc", gc.unfreeze)

    def keep_freed_memory(self) -> None:
        """For a process that generates notes in batches (render): keep freed memory for the next allocation
        instead of handing it back. By default every array over a few MB (a batch's activations, a note) is mapped
        afresh from the system, and the first touch of each page costs a fault: in all a tenth of a cold render's
        time. The process holds at most its peak, which it had anyway."""
        libc = glibc()
        if libc is None:
            return

        def undo() -> None:
            libc.mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
        self._change("malloc", undo)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED)

    def name_audio_client(self, name: str) -> bool:
        """Name the JACK client PortAudio opens (it says "PortAudio" otherwise); True if done. PortAudio reads
        the name when it initialises, so this re-initialises it: call it before opening any stream. Harmless
        where PortAudio has no JACK support."""
        if not _set_jack_client_name(name):
            return False
        self._change("jack client name", lambda: _set_jack_client_name(PORTAUDIO_JACK_NAME))
        return True

    def quiet_alsa(self) -> None:
        """alsa-lib prints its own errors to stderr ("ALSA lib seq_hw.c:466:(snd_seq_hw_open) ...") before any
        error of ours; ours say the same in one line, so its error handler is made silent."""
        lib = _asound()
        if lib is None or "alsa error handler" in self._undo:
            return
        lib.snd_lib_error_set_handler(_silent_alsa_handler())
        self._change("alsa error handler", lambda: lib.snd_lib_error_set_handler(None))


# The contexts open now, innermost last; below them one that is never closed, for library use outside any.
_open: list[ProcessSettings] = [ProcessSettings()]


def settings() -> ProcessSettings:
    """The innermost ProcessSettings open: changes made through it are put back when it exits."""
    return _open[-1]


@functools.lru_cache(maxsize=1)
def glibc():
    """glibc's malloc controls, or None elsewhere (macOS, Windows, musl): there is nothing to call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library the process runs on, without searching for it
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@functools.lru_cache(maxsize=1)
def _asound():
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        return None
    return lib


@functools.lru_cache(maxsize=1)
def _silent_alsa_handler():
    """A handler that prints nothing; cached, so it outlives every call alsa-lib may make."""
    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.c_char_p)
    return handler_type(lambda *args: None)


_jack_name: ctypes.Array | None = None  # PortAudio keeps the pointer, so the buffer must outlive it


def _set_jack_client_name(name: str) -> bool:
    global _jack_name
    try:
        import sounddevice as sd
        lib = ctypes.CDLL(sd._libname)
        setter = lib.PaJack_SetClientName
        terminate, initialize = sd._terminate, sd._initialize  # private, so checked before use
    except (OSError, ImportError, AttributeError):
        return False
    _jack_name = ctypes.create_string_buffer(name.encode())
    terminate()
    setter(_jack_name)
    initialize()
    return True
