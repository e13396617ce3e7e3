"""Which note a note-on plays: the note cache key (timbre, pitch, velocity step) and whether it is one-shot.

- Channel 10 (mido channel 9) plays the preset's drum kit, one-shot, whatever --instrument or --morph
  say; keys outside the kit's range are silent (one warning per key); the octave rule never applies.
- Other channels play the --instrument timbre, else the --morph blend at the morph controller's value
  (quantised), else the instrument the channel's GM program maps to (instruments.ProgramMap).
- A melodic pitch outside the timbre's range plays the nearest pitch in it, which the voice then reads at
  the key's own pitch (legato.dress), as a sampler stretches its nearest sample (one warning per timbre
  and pitch); a blend plays the intersection of its instruments' ranges. A key the instrument's source does not
  play (preset/sound.py's "source_keys") is silent, as it is there.
"""
from __future__ import annotations

import logging
from typing import Iterable, Sequence

import mido

from ..gm import DRUM_CHANNEL
from ..io.sysex import system_reset
from ..preset import Preset
from ..preset.sound import InstrumentSounds
from .cache import NoteKey, quantize_velocity
from .instruments import (
    ProgramMap,
    Timbre,
    drum_kit,
    melodic,
    morph,
    one_hot,
    pitch_range,
    resolve,
    resolve_morph,
    timbre_name,
)
from .plan import NotePlan, instrument_of

logger = logging.getLogger(__name__)

Plan = NotePlan
MAX_PLANS = 1 << 16
_UNPLANNED = object()


class NotePlanner:
    def __init__(self, preset: Preset, instrument: str | None, morph_spec: str | None, morph_cc: int,
                 velocity_steps: int):
        self.preset = preset
        self.morph_cc = morph_cc
        self.velocity_steps = velocity_steps
        self._count = len(preset.instruments)
        self._programs = ProgramMap(preset)
        self._kit = drum_kit(preset)
        self._override = resolve(preset, instrument) if instrument else None
        self._morph = resolve_morph(preset, morph_spec) if morph_spec else None
        self._ranges: dict[Timbre, tuple[int, int]] = {}
        self.sounds = InstrumentSounds(preset)
        self._warned: set = set()
        # plans already made: a live note-on is planned when it arrives, then when its block is made
        self._plans: dict[tuple, Plan | None] = {}

    @property
    def morphing(self) -> bool:
        """Whether melodic channels play a --morph blend (swept by the morph controller)."""
        return self._morph is not None

    def _warn_once(self, key, message: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    def plan(self, channel: int, program: int, morph_value: int, key: int, velocity: int) -> Plan | None:
        """The note a note-on plays on this channel with this program and morph value; None: silent."""
        step = quantize_velocity(velocity, self.velocity_steps)
        # what the plan depends on: on the drum channel only the key; elsewhere the program only without
        # --instrument, the morph value only with --morph
        drums = channel == DRUM_CHANNEL
        known = (drums, program if self._override is None and not drums else 0,
                 morph_value if self._morph is not None and not drums else 0, key, step)
        plan = self._plans.get(known, _UNPLANNED)
        if plan is _UNPLANNED:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            plan = self._plans[known] = self._plan(channel, program, morph_value, key, step)
        return plan

    def _plan(self, channel: int, program: int, morph_value: int, key: int, step: int) -> Plan | None:
        if channel == DRUM_CHANNEL:
            if self._kit is None:
                self._warn_once("no kit", "preset %r has no drum kit: channel 10 is silent", self.preset.name)
                return None
            low, high = self._kit.pitch_range
            if not low <= key <= high:
                self._warn_once(("drum key", key), "drum key %d is outside the kit's keys %d-%d: silent",
                                key, low, high)
                return None
            return NotePlan((one_hot(self._kit.index, self._count), key, step), True)
        timbre = self._timbre(program, morph_value)
        if timbre is None:
            return None
        if not self.sounds.plays(instrument_of((timbre, key, step)), key):
            self._warn_once(("source", timbre, key), "%s: its source plays no key %d: silent",
                            timbre_name(self.preset, timbre), key)
            return None
        low, high = self._range(timbre)
        pitch = min(max(key, low), high)
        if pitch != key:
            self._warn_once(("range", timbre, key), "%s learnt pitches %d-%d: note %d played from note %d, "
                            "resampled", timbre_name(self.preset, timbre), low, high, key, pitch)
        return NotePlan((timbre, pitch, step), False)

    def _timbre(self, program: int, morph_value: int) -> Timbre | None:
        """A melodic channel's timbre: --instrument's, else the --morph blend at this value, else the program's;
        None (with one warning) when the preset has no melodic instrument."""
        if self._override is not None:
            return self._override
        if self._morph is not None:
            return morph(*self._morph, morph_value)
        inst = self._programs(program)
        if inst is None:
            self._warn_once("no melodic", "preset %r has no melodic instrument: only drums play", self.preset.name)
            return None
        return one_hot(inst.index, self._count)

    def _range(self, timbre: Timbre) -> tuple[int, int]:
        if timbre not in self._ranges:
            self._ranges[timbre] = pitch_range(self.preset, timbre)
        return self._ranges[timbre]

    def channel_keys(self, channel: int, program: int, morph_value: int) -> list[NoteKey]:
        """Every note a note-on on this channel can start with this program and morph value: its timbre's whole
        range (on the drum channel, the kit's keys) at every velocity step; none where the channel is silent."""
        if channel == DRUM_CHANNEL:
            return self._kit_keys()
        timbre = self._timbre(program, morph_value)
        return [] if timbre is None else self._every_step(timbre, *self._range(timbre))

    def _every_step(self, timbre: Timbre, low: int, high: int) -> list[NoteKey]:
        """The timbre's notes from pitch low to high, at every velocity step."""
        return [(timbre, p, s) for p in range(low, high + 1) for s in range(self.velocity_steps)]

    def _kit_keys(self) -> list[NoteKey]:
        """The drum kit's keys at every velocity step; none without a kit."""
        if self._kit is None:
            return []
        return self._every_step(one_hot(self._kit.index, self._count), *self._kit.pitch_range)

    def keys(self, messages: Iterable[mido.Message], programs: Sequence[int],
             morphs: Sequence[int]) -> list[NoteKey]:
        """The notes these messages will start, in order, following program and morph changes from the
        channels' current programs and morph values."""
        programs, morphs = list(programs), list(morphs)
        keys: dict[NoteKey, None] = {}
        for msg in messages:
            if msg.type == "program_change":
                programs[msg.channel] = msg.program
            elif msg.type == "sysex" and system_reset(msg.data):
                programs, morphs = [0] * len(programs), [0] * len(morphs)
            elif msg.type == "control_change" and msg.control == self.morph_cc:
                morphs[msg.channel] = msg.value
            elif msg.type == "note_on" and msg.velocity > 0:
                plan = self.plan(msg.channel, programs[msg.channel], morphs[msg.channel], msg.note, msg.velocity)
                if plan is not None:
                    keys[plan.key] = None
        return list(keys)

    def all_keys(self) -> list[NoteKey]:
        """Every note the chosen instruments can play: their whole range at every velocity step."""
        if self._override is not None:
            timbres = [self._override]
        elif self._morph is not None:
            timbres = list(dict.fromkeys(morph(*self._morph, round(i * 127 / 8)) for i in range(9)))
        else:
            timbres = [one_hot(i.index, self._count) for i in melodic(self.preset)]
        return [key for timbre in timbres for key in self._every_step(timbre, *self._range(timbre))] + self._kit_keys()
