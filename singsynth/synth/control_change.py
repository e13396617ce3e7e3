"""How the engine answers control changes and system resets: channel state, voices, effects (docs/midi.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..gm import CC
from .channels import BEND_RANGE, CHANNEL_LEVELS, Channel
from .controllers import TUNING, BasicChannels, Controls
from .effects import CHORUS, REVERB

if TYPE_CHECKING:
    from .engine_view import EngineView


def control_change(engine: "EngineView", channel: int, control: int, value: int) -> None:
    """A control change on `channel` at the engine's current offset."""
    ch = engine.channels[channel]
    if control == engine.morph_cc:
        ch.morph_value = value
    if (control != engine.morph_cc or not engine.planner.morphing) and ch.ctl.control(control, value):
        engine._vibrato_changed(channel)
    elif control in CC.MODE_CHANGES:
        group = engine.basic.change(channel, control, value)
        for c in group[0] if group else ():  # MIDI: a mode change is all notes off too
            engine.channels[c].ctl.set_mono(group[1])
            engine._notes_off(c)
    elif control in CHANNEL_LEVELS:
        setattr(ch, CHANNEL_LEVELS[control], value)
        engine._gain_changed(ch)
    elif control == CC.SUSTAIN:
        down = value >= 64
        if ch.sustain and not down:
            for v in engine.pool.voices[channel]:
                if v.sustained and not v.held:
                    engine._release(v)
        ch.sustain = down
    elif control == CC.RPN:
        ch.rpn = (value, ch.rpn[1])
    elif control == CC.RPN_FINE:
        ch.rpn = (ch.rpn[0], value)
    elif control in (CC.NRPN_FINE, CC.NRPN):
        ch.rpn = (127, 127)
    elif control == CC.DATA_ENTRY and ch.rpn == BEND_RANGE:
        ch.bend_semitones = value
        engine._rate_changed(channel)
    elif control == CC.DATA_ENTRY_FINE and ch.rpn == BEND_RANGE:
        ch.bend_cents = value
        engine._rate_changed(channel)
    elif control in (CC.REVERB, CC.CHORUS):
        engine.effects.set_cc(channel, REVERB if control == CC.REVERB else CHORUS, value, engine._at)
    elif control in (CC.DATA_ENTRY, CC.DATA_ENTRY_FINE) and ch.rpn in TUNING:
        if ch.ctl.enter(ch.rpn, control, value):
            engine._rate_changed(channel)
    elif control == CC.ALL_SOUND_OFF:
        engine._sound_off(channel)
    elif control == CC.RESET_CONTROLLERS:
        ch.bend, ch.expression, ch.morph_value, ch.rpn = 0, 127, 0, (127, 127)
        ch.ctl.reset_controllers()
        engine._vibrato_changed(channel)
        engine._gain_changed(ch)
        engine._rate_changed(channel)
        control_change(engine, channel, CC.SUSTAIN, 0)
        engine.effects.reset(channel, engine._at)
    elif control == CC.ALL_NOTES_OFF:
        engine._notes_off(channel)


def system_reset_all(engine: "EngineView") -> None:
    """GM, GM2, GS or XG reset (io/sysex.py): every voice silenced, every channel as new, as FluidSynth."""
    fresh = Channel()
    engine.basic = BasicChannels()
    for channel, ch in enumerate(engine.channels):
        engine._sound_off(channel)
        for name in Channel.MIDI_STATE:
            setattr(ch, name, getattr(fresh, name))
        ch.ctl = Controls()
        engine.effects.reset(channel, engine._at)  # the sends go back to where every channel starts
        engine._vibrato_changed(channel)
        engine._gain_changed(ch)
        engine._rate_changed(channel)
        if engine.starts_ahead.on:
            engine.starts_ahead.want(engine.channels, [channel])
