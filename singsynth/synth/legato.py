"""How a note-on sets up its voice's pitch and release, and mono mode's legato: the engine's helpers for them.

- A melodic key outside the range the model learnt plays the nearest learnt note read at the key's own pitch
  (the planner picks that note; the voice's offset makes up the difference), as a sampler plays its samples.
- Portamento starts each new voice at the key it glides from (controllers.Controls.glide_from).
- Mono (CC126) or legato (CC68) on: a key struck while another is held does not start a voice; the voice
  sounding takes the new key (FluidSynth's default legato mode, multi-retrigger, keeps the voice and moves
  its pitch), gliding there with portamento on. Letting go of the key sounding while others are still held
  goes back, legato, to the one held last; a key struck with none held releases what still sounds (a
  pedal-held note), so one note sounds at a time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .cache import NoteKey
from .modulation import LFO_DELAY, LFO_HZ, Pitch, glide_samples
from .plan import instrument_of
from .voice import Voice

if TYPE_CHECKING:
    from .engine_view import EngineView


def dress(engine: "EngineView", voice: Voice, note_key: NoteKey, velocity: int, glide_from: int | None) -> None:
    """A new voice's pitch movement (its key against the note it reads, a glide, the LFO) and its release."""
    inst = instrument_of(note_key)
    hz, delay = engine.sounds.lfo(inst)
    glide_len = glide_samples(engine.channels[voice.channel].ctl.portamento_ms(), engine.sample_rate) \
        if glide_from is not None else 0
    glide = 100.0 * (glide_from - voice.key) if glide_from is not None else 0.0
    voice.pitch = Pitch(engine._frame + engine._at, 100.0 * (voice.key - note_key[1]), glide, glide_len,
                        LFO_HZ if hz is None else hz, LFO_DELAY if delay is None else delay)
    seconds = None if voice.one_shot else engine.sounds.release(inst, voice.key, velocity)
    if seconds is not None:
        voice.release_len = max(int(round(seconds * engine.sample_rate)), 1)


def _sounding(engine: "EngineView", channel: int) -> Voice | None:
    """Mono: the voice of the key held last, if it still sounds held."""
    held = engine.channels[channel].ctl.held
    voices = engine._unreleased[channel].get(held[-1], ()) if held else ()
    return next((v for v in reversed(voices) if v.held), None)


def _retarget(engine: "EngineView", voice: Voice, key: int, glide_from: int | None) -> None:
    """The voice plays `key` from the current offset on, gliding from `glide_from` with portamento."""
    frame = engine._frame + engine._at
    cents = voice.pitch.offset(frame) + 100.0 * (key - voice.key)
    if glide_from is not None:
        ms = engine.channels[voice.channel].ctl.portamento_ms()
        voice.pitch.move(frame, cents, 100.0 * (glide_from - key), glide_samples(ms, engine.sample_rate))
    else:
        voice.pitch.move(frame, cents)
    engine._unindex(voice)
    voice.key = key
    engine._unreleased[voice.channel].setdefault(key, []).append(voice)


def mono_note_on(engine: "EngineView", channel: int, key: int, glide_from: int | None) -> bool:
    """A note-on in mono mode; True if the sounding voice took it (legato), False: start a voice for it."""
    held = engine.channels[channel].ctl.held
    voice = _sounding(engine, channel)
    if key in held:
        held.remove(key)
    held.append(key)
    if voice is None:
        for keyed in list(engine._unreleased[channel].values()):
            for v in list(keyed):
                engine._release(v)
        return False
    _retarget(engine, voice, key, glide_from)
    return True


def mono_note_off(engine: "EngineView", channel: int, key: int) -> bool:
    """A note-off in mono mode; True if the voice went back, legato, to the key held before it."""
    ctl = engine.channels[channel].ctl
    voice = _sounding(engine, channel)
    if key in ctl.held:
        ctl.held.remove(key)
    if voice is None or voice.key != key or not ctl.held:
        return False
    _retarget(engine, voice, ctl.held[-1], ctl.glide_from(ctl.held[-1]))
    return True
