"""How long a file plays each of its notes: the longest use of each (held, by key or pedal, then released), read
from the events before rendering, so that a note is generated only that far (note_length.py).

An estimate made to err long: a note is held from its note-on to its note-off, or to the sustain (or sostenuto)
pedal coming up after it, or to the end of the file; then it sounds for its instrument's release (or the engine's);
the samples it reads in that time are counted at the fastest it can read them on its channel (the bend range at
full bend, the key read from a nearest learnt note, the tuning, a vibrato's swing). Drum hits play to their end,
and channels in mono or legato mode or with portamento (whose voices change key) get whole notes. The render
checks every block besides (NoteSupply.reach), so a use the estimate misses is extended, never cut short.
"""
from __future__ import annotations

from typing import Iterable

import mido

from ..gm import CC, DRUM_CHANNEL
from ..io.sysex import system_reset
from .cache import NoteKey
from .note_length import WHOLE
from .plan import instrument_of
from .planner import NotePlanner

SWING_CENTS = 100.0  # vibrato, channel tuning and fine tuning together: a semitone up at most
MARGIN_SECONDS = 0.05
SUSTAIN_PEDALS = (CC.SUSTAIN, 66)  # sustain and sostenuto
WHOLE_NOTE_CONTROLS = (65, 68, 126, 127)  # portamento, legato, mono, poly: voices that change key


def note_seconds(planner: NotePlanner, events: Iterable[tuple[float, mido.Message]], release: float,
                 tuning_a4: float = 440.0) -> dict[NoteKey, float]:
    """Seconds of each note (at the note's own rate) the events play at most; WHOLE for notes played whole."""
    programs, morphs = [0] * 16, [0] * 16
    bend_range, bends = [2.0] * 16, [0.0] * 16  # semitones: the widest range set, the widest bend seen
    pedal = [False] * 16
    whole_channel = [False] * 16
    open_notes: dict[tuple[int, int], list] = {}  # (channel, key) -> [[start, note key, velocity, released at]]
    pedalled: list[list] = [[] for _ in range(16)]  # notes let go while the pedal held them
    uses: list[tuple[float, NoteKey, int, int, int]] = []  # (seconds held, note key, channel, key, velocity)
    rpn = [(127, 127)] * 16
    end = 0.0

    def close(item, at: float, channel: int, key: int) -> None:
        uses.append((at - item[0], item[1], channel, key, item[2]))

    for t, msg in sorted(events, key=lambda e: e[0]):
        end = t if t > end else end
        kind = msg.type
        ch = getattr(msg, "channel", 0)
        if kind == "note_on" and msg.velocity > 0:
            plan = planner.plan(ch, programs[ch], morphs[ch], msg.note, msg.velocity)
            if plan is not None:
                open_notes.setdefault((ch, msg.note), []).append([t, plan.key, msg.velocity, plan.one_shot])
        elif kind in ("note_on", "note_off"):
            for item in open_notes.pop((ch, msg.note), []):
                (pedalled[ch].append((item, msg.note)) if pedal[ch] else close(item, t, ch, msg.note))
        elif kind == "program_change":
            programs[ch] = msg.program
        elif kind == "pitchwheel":
            bends[ch] = max(bends[ch], abs(msg.pitch) / 8192)
        elif kind == "sysex" and system_reset(msg.data):
            programs, morphs = [0] * 16, [0] * 16
        elif kind == "control_change":
            if msg.control == planner.morph_cc:
                morphs[ch] = msg.value
            if msg.control in SUSTAIN_PEDALS:
                down = msg.value >= 64
                if pedal[ch] and not down:
                    for item, key in pedalled[ch]:
                        close(item, t, ch, key)
                    pedalled[ch] = []
                pedal[ch] = down or (pedal[ch] and msg.control != CC.SUSTAIN)
            elif msg.control in WHOLE_NOTE_CONTROLS and msg.value >= 64 or msg.control in (126, 127):
                whole_channel[ch] = True
            elif msg.control == CC.RPN:
                rpn[ch] = (msg.value, rpn[ch][1])
            elif msg.control == CC.RPN_FINE:
                rpn[ch] = (rpn[ch][0], msg.value)
            elif msg.control == CC.DATA_ENTRY and rpn[ch] == (0, 0):
                bend_range[ch] = max(bend_range[ch], msg.value + 1.0)
    for (ch, key), items in open_notes.items():  # held to the end of the file
        for item in items:
            close(item, end, ch, key)
    for ch in range(16):
        for item, key in pedalled[ch]:
            close(item, end, ch, key)

    held_most: dict[tuple, float] = {}  # a song plays the same note the same way over and over: each way once
    for held, note_key, channel, key, velocity in uses:
        way = (note_key, channel, key, velocity)
        if held > held_most.get(way, -1.0):
            held_most[way] = held
    longest: dict[NoteKey, float] = {}
    instruments: dict[tuple, int] = {}
    for (note_key, channel, key, velocity), held in held_most.items():
        if channel == DRUM_CHANNEL or whole_channel[channel]:
            seconds = WHOLE
        else:
            timbre = note_key[0]
            if timbre not in instruments:
                instruments[timbre] = instrument_of(note_key)
            after = planner.sounds.release(instruments[timbre], key, velocity)
            cents = 100.0 * (abs(key - note_key[1]) + bend_range[channel] * bends[channel]) + SWING_CENTS
            fastest = 2.0 ** (cents / 1200) * max(tuning_a4 / 440.0, 1.0)
            seconds = (held + (release if after is None else after)) * fastest + MARGIN_SECONDS
        if seconds > longest.get(note_key, 0.0):
            longest[note_key] = seconds
    return longest
