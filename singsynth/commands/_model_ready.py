"""Before a render (or a note) makes its notes: which runtime makes them (numpy or torch, synth/runtime.py), the
weights read first where every note is new (so a bad file is told before any work), and torch's import and
weights loading in the background where some notes are new and others are read back meanwhile. render and note
share it, so that a note writes what a render of a file holding it writes."""
from __future__ import annotations

import threading
from typing import Callable


def ready_the_model(engine, preset, events) -> None:
    """Choose the runtime for the notes `events` need and start reading the weights where it is torch."""
    # every note is to be generated: the weights read first (numpy's in 0.1 s), so that a bad file is told first
    if not engine.cache.holds_notes() and not preset.use_arrays():
        preset.load_model()  # a file the numpy forward pass does not read: torch reads it, or tells what is wrong
    if choose_runtime(engine, preset, events) or preset.model_loaded:  # numpy makes the notes, or torch is ready
        return
    if engine.supply.missing_on_disk(engine.planner.keys((m for _, m in events), [0] * 16, [0] * 16)):
        # some notes are new: torch's import and the weights (a second or more) load while the others are read
        engine.supply.before_generating = in_background(preset.load_model)


def in_background(work: Callable[[], object]) -> Callable[[], None]:
    """Start `work` in a thread; the returned wait() joins it, raising here what it raised there."""
    failed: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # told by wait(), in the thread that needs the result
            failed.append(exc)

    thread = threading.Thread(target=target, name="model-load", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            raise failed[0]
    return wait


def choose_runtime(engine, preset, events) -> bool:
    """Whether numpy makes the notes this file has to generate (synth/runtime.py), from how many LSTM steps of notes
    that is: each note as far as the file uses it (note_uses.py; render_file counts the same again)."""
    from ..synth import runtime
    from ..synth.note_uses import note_seconds
    lengths = note_seconds(engine.planner, events, engine.config.release, engine.tuning_a4)
    engine.supply.lengths.update(lengths)
    todo = [key for key in lengths if not engine.cache.stored(key)]
    if not todo:
        return preset.runs_arrays
    steps = sum(engine.supply.maker.wanted_steps(key) or preset.config.steps for key in todo)
    return runtime.choose(preset, steps)
