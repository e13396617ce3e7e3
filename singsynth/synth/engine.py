"""The playing engine: MIDI events in, stereo audio blocks out, from its parts.

    engine = make_engine(preset, sample_rate=48000, polyphony=256, instrument=None, morph=None,
                         cache=None, tuning_a4=440.0, master_gain=1.0, release=1.0)      # render
    engine = make_live_engine(preset, ..., worker=True)                                  # live play
    block = engine.process(events, frames)   # float32 [frames, 2], |x| < 1

- `events`: (frame offset within this block, mido.Message), handled sample-accurately; channels are
  mido's 0..15.
- process() runs in one thread at a time (the render loop or the live producer); all_notes_off() and
  all_sound_off() may be called from any thread and take effect at the start of the next block.
- One note's way: process() plans each note-on once (plan.py: the planner's NotePlan), the supply finds its
  sound (note_supply.BlockingSupply: made before the block, so the output depends only on the events;
  live_supply.LiveSupply: from memory, else streamed in by the live generator with a stand-in meanwhile,
  stand_in.py), the voice pool starts a voice (voices.py), the mixer reads every voice into the block and the
  limiter ends it (mixer.py). Channel state and its curves: channels.py; controllers: control_change.py.
- Errors: InstrumentError (a ValueError) for a bad instrument or morph; SettingError for settings out of
  range (EngineConfig).

How each message sounds (loops, releases, drums, bends, pedal, stealing, the limiter): docs/engine.md; every
message answered, beside FluidSynth: docs/midi.md.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Sequence

import mido
import numpy as np

from ..gm import DRUM_CHANNEL
from ..io.sysex import system_reset
from ..preset import Preset
from .cache import NoteCache, NoteKey
from .channels import Channel, gain_changed, rate_changed
from .control_change import control_change, system_reset_all
from .controllers import BasicChannels
from .cpu_load import VoiceBudget
from .effects import Effects, EffectsConfig
from .engine_config import EngineConfig
from .instruments import InstrumentError
from .legato import dress, mono_note_off, mono_note_on
from .ahead import StartsAhead
from .mixer import Limiter, Mixer
from .live_supply import LiveSupply
from .note_supply import MAX_BATCH, BlockingSupply, NoteSupply
from .plan import NotePlan, plan_events, planned_keys
from .planner import NotePlanner
from .stand_in import StandIns
from .threads import GenerationThreads
from .voice import Voice
from .voices import VoicePool

logger = logging.getLogger(__name__)

FAST_FADE = 0.005  # seconds: stolen voices, all-sound-off
GAIN_RAMP = 0.005

__all__ = ["Engine", "EngineConfig", "InstrumentError", "DRUM_CHANNEL", "MAX_BATCH"]


def make_engine(preset: Preset, sample_rate: int = 48000, polyphony: int = 256, instrument: str | None = None,
                morph: str | None = None, morph_cc: int = 1, cache: NoteCache | None = None,
                tuning_a4: float = 440.0, master_gain: float = 1.0, release: float = 1.0,
                threads: GenerationThreads | None = None, effects: EffectsConfig = EffectsConfig()) -> "Engine":
    """Render's engine: the note planner for `instrument` or `morph` (else the channels' programs), the blocking
    supply over `cache` (default: 1 GiB in memory), which makes every note a block needs before the block is mixed
    (generating with `threads`, default torch's own setting), so the output depends only on the events; and the
    reverb and chorus `effects` (effects/)."""
    config = EngineConfig(int(sample_rate), int(polyphony), float(tuning_a4), float(master_gain), release, morph_cc)
    planner, cache = _planner(preset, config, instrument, morph, cache)
    supply = BlockingSupply(preset, cache, config.sample_rate, config.polyphony, threads)
    return Engine(preset, config, planner, supply, None, _effects(preset, config, effects))


def make_live_engine(preset: Preset, sample_rate: int = 48000, polyphony: int = 256, instrument: str | None = None,
                     morph: str | None = None, morph_cc: int = 1, cache: NoteCache | None = None,
                     tuning_a4: float = 440.0, master_gain: float = 1.0, release: float = 1.0,
                     effects: EffectsConfig = EffectsConfig(), worker: bool = False, live_threads: int = 1) -> "Engine":
    """Live play's engine: make_engine's parts, but process() never runs the model. The live supply finds a note in
    memory, else the live generator streams it in (in a worker process if `worker`, as listen and play do, else in
    a thread of this process; with `live_threads` of torch's) and a ready note of the timbre stands in meanwhile;
    a voice budget keeps the voices under what a block's time can mix. A worker is spawned: a script making one
    guards its top level with `if __name__ == "__main__":`."""
    config = EngineConfig(int(sample_rate), int(polyphony), float(tuning_a4), float(master_gain), release, morph_cc)
    planner, cache = _planner(preset, config, instrument, morph, cache)
    supply = LiveSupply(preset, cache, config.sample_rate, process=worker, threads=live_threads)
    budget = VoiceBudget(config.polyphony, settle=FAST_FADE)
    return Engine(preset, config, planner, supply, budget, _effects(preset, config, effects))


def _planner(preset: Preset, config: EngineConfig, instrument: str | None, morph: str | None,
             cache: NoteCache | None) -> tuple[NotePlanner, NoteCache]:
    """The note planner and the cache (default: 1 GiB in memory); a bad instrument or morph raises here, before
    any supply starts."""
    if instrument and morph:
        raise InstrumentError("give an instrument or a morph, not both")
    cache = cache if cache is not None else NoteCache()
    return NotePlanner(preset, instrument, morph, config.morph_cc, cache.velocity_steps), cache


def _effects(preset: Preset, config: EngineConfig, effects: EffectsConfig) -> Effects:
    """The send effects, fed by each instrument's own sends where the preset sets any."""
    sends = np.array([[i.reverb_send, i.chorus_send] for i in preset.instruments])
    return Effects(effects, config.sample_rate, sends if sends.any() else None, config.master_gain * preset.playback_gain)


class Engine:
    def __init__(self, preset: Preset, config: EngineConfig, planner: NotePlanner, supply: NoteSupply,
                 budget: VoiceBudget | None = None, effects: Effects | None = None):
        """budget: live, a voice limit under the polyphony while blocks take too long to mix (cpu_load.py);
        None: always the polyphony. effects: the send effects (None: dry)."""
        self.preset = preset
        self.config = config
        self.planner = planner
        self.supply = supply
        self.budget = budget
        self.effects = effects if effects is not None else Effects(EffectsConfig(None, None), config.sample_rate)
        self.master_gain = config.master_gain * preset.playback_gain
        self.channels = [Channel() for _ in range(16)]
        for ch in self.channels:
            ch.gains = ch.aim = ch.target()
            ch.reading = ch.block_reading = self.tuning_a4 / 440.0
        self.pool = VoicePool(config.polyphony, max(int(FAST_FADE * self.sample_rate), 1))
        self._unreleased = self.pool.unreleased  # legato.py's view of the keys held
        self._at = 0  # offset of the event being handled
        self.mixer = Mixer(self.sample_rate, max(int(config.release * self.sample_rate), 1),
                           max(int(GAIN_RAMP * self.sample_rate), 1), self.effects)
        self.mixer.reach = supply.reach  # render: notes generated short reach as far as each block reads them
        self.limiter = Limiter(self.sample_rate, self.master_gain)
        self._requests: list[str] = []
        self.starts_ahead = StartsAhead(planner, supply)  # live: notes' first chunks made ahead (ahead.py)
        self._frame = 0  # absolute frame at the start of the block being made: voices' LFOs and glides count from it
        self.sounds = planner.sounds  # each instrument's release and LFO (preset/sound.py)
        self.basic = BasicChannels()  # where mode messages count (controllers.py)
        self.stand_ins = StandIns(self.sample_rate)  # live: voices playing a stand-in until their own note arrives

    # the config's settings and the supply's cache, read where they live
    sample_rate = property(lambda self: self.config.sample_rate)
    polyphony = property(lambda self: self.config.polyphony)
    tuning_a4 = property(lambda self: self.config.tuning_a4)
    morph_cc = property(lambda self: self.config.morph_cc)
    cache = property(lambda self: self.supply.cache)

    # -- public API --

    def process(self, events: Sequence[tuple[int, mido.Message]], frames: int) -> np.ndarray:
        """Handle events at their frame offsets and return the next `frames` frames, float32 [frames, 2]."""
        started = time.perf_counter()
        out = np.zeros((frames, 2), dtype=np.float32)
        self._at = 0
        while self._requests:
            self._apply_request(self._requests.pop(0))
        self._shed()
        self.stand_ins.swap(self)
        events = sorted(events, key=lambda e: e[0]) if len(events) > 1 else events
        # each note planned once, here, from the channels as each event will find them
        planned = plan_events(self.planner, events, [c.program for c in self.channels],
                              [c.morph_value for c in self.channels], self.morph_cc)
        self.supply.prepare(planned)
        for offset, msg, plan in planned:
            self._at = min(max(int(offset), 0), frames)
            self._handle(msg, plan)
        self.mixer.mix(out, self.channels, self.pool, self._frame, self.supply.loop)
        self.supply.end_block()
        self.effects.process(out)  # they return before the limiter
        self.limiter.process(out)
        self._frame += frames
        if self.budget is not None and frames:
            self.budget.update(time.perf_counter() - started, frames / self.sample_rate, len(self.pool.alive))
        return out

    def all_notes_off(self) -> None:
        """Release every key on every channel (pedal-held notes wait for the pedal)."""
        if "notes" not in self._requests:  # called again and again before a block, it still counts once
            self._requests.append("notes")

    def all_sound_off(self) -> None:
        """Silence every voice on every channel within 5 ms."""
        if "sound" not in self._requests:
            self._requests.append("sound")

    @property
    def requests(self) -> tuple[str, ...]:
        """What all_notes_off() ("notes") and all_sound_off() ("sound") asked of the next block."""
        return tuple(self._requests)

    @property
    def generated(self) -> int:
        """Notes the model made."""
        return self.supply.generated

    @property
    def voices(self) -> list[Voice]:
        """Every sounding voice, oldest first."""
        return sorted((v for voices in self.pool.voices for v in voices), key=lambda v: v.serial)

    @property
    def idle(self) -> bool:
        """No voice sounding and nothing being generated."""
        return not any(self.pool.voices) and not self.supply.pending and not self._requests and self.effects.idle

    @property
    def stats(self) -> dict:
        return {"voices": len(self.pool), "cache_hits": self.cache.hits, "cache_misses": self.cache.misses,
                "disk_hits": self.cache.disk_hits, "generated": self.generated, "pending": self.supply.pending,
                "dropped": self.supply.dropped, "stood_in": getattr(self.supply, "stood_in", 0),
                "replaced": self.stand_ins.replaced, "from_cache": self.supply.reused,
                "restarts": getattr(self.supply, "restarts", 0), "voice_limit": self.voice_limit, "shed": self.pool.shed,
                "lowest_voice_limit": self.budget.lowest if self.budget is not None else self.polyphony,
                "cache_bytes": self.cache.nbytes, "limiter_gain": self.limiter.gain}

    def prefetch(self, msg: mido.Message) -> None:
        """Live: a note-on just arrived; start generating its note if it is cold, before process()
        places it (a block or two later). Safe from any thread (the MIDI input's); render's supply ignores it.
        It plans with the channel's program as it stands: a program change in between costs a note
        generated for nothing, never a wrong one played."""
        if msg.type != "note_on" or msg.velocity == 0:
            return
        ch = self.channels[msg.channel]
        plan = self.planner.plan(msg.channel, ch.program, ch.morph_value, msg.note, msg.velocity)
        if plan is not None:
            self.supply.prefetch(plan)

    def start_ahead(self) -> None:
        """Live: make the first chunk of every note the channels can play ahead, while the generation thread is
        idle, and again for a channel's new program (note_starts.py)."""
        self.starts_ahead.on = True
        self.starts_ahead.want(self.channels, range(16))

    def notes_ready(self, events: Sequence[tuple[int, mido.Message]]) -> bool:
        """Live: whether every note these events start has sound to play now (False while a cold note
        waits for its first streamed chunk). Always True in a render."""
        return self.first_chunks(events)()

    def first_chunks(self, events: Sequence[tuple[int, mido.Message]]) -> Callable[[], bool]:
        """Live: notes_ready(events) as a check that is cheap to repeat: the events are planned once, here (a
        flood's block of 50 messages costs a few hundred microseconds to plan), and the check then asks only
        after the notes still waiting for their first chunk."""
        if not self.supply.pending:  # nothing streaming in (always so in a render): no need to plan the events
            return lambda: True
        waiting = [key for key in self._keys(events) if self.supply.starting(key)]
        return lambda: not any(self.supply.starting(key) for key in waiting)

    def preload(self, events: Iterable[tuple[object, mido.Message]] | None = None, progress: bool = False) -> int:
        """Generate ahead: the notes `events` will need, or else the chosen instruments' whole range
        at every velocity step. Returns the number of notes generated."""
        keys = self._keys(list(events)) if events is not None else self.planner.all_keys()
        return self.supply.preload(keys, progress)

    def close(self) -> None:
        self.supply.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- events --

    def _handle(self, msg: mido.Message, plan: NotePlan | None) -> None:
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            if plan is not None:
                self._note_on(msg.channel, msg.note, msg.velocity, plan)
        elif kind in ("note_on", "note_off"):
            self._note_off(msg.channel, msg.note)
        elif kind == "control_change":
            self._control(msg.channel, msg.control, msg.value)
        elif kind == "program_change":
            self.channels[msg.channel].program = msg.program
            if self.starts_ahead.on:
                self.starts_ahead.want(self.channels, [msg.channel])
        elif kind == "pitchwheel":
            self.channels[msg.channel].bend = msg.pitch
            self._rate_changed(msg.channel)
        elif kind == "aftertouch":
            self.channels[msg.channel].ctl.pressure = msg.value
            self._vibrato_changed(msg.channel)
        elif kind == "sysex" and system_reset(msg.data):
            self._system_reset()

    def _note_on(self, channel: int, key: int, velocity: int, plan: NotePlan) -> None:
        ch = self.channels[channel]
        note_key, one_shot = plan.key, plan.one_shot
        self.effects.set_instrument(channel, note_key[0], self._at)
        glide_from = None
        if not one_shot:
            glide_from = ch.ctl.glide_from(key)
            if ch.ctl.playing_mono and mono_note_on(self, channel, key, glide_from):
                return  # played legato by the voice already sounding
            for v in self._unreleased[channel].pop(key, ()):  # a key struck again ends its previous note
                self._release(v)
        own = self.supply.note(plan)
        stand_in = None
        if own is None or own.ready == 0:  # live, cold: a ready note of the timbre stands in until it arrives
            stand_in = self.supply.stand_in(plan, velocity)
            if stand_in is None and own is None:  # generation is too far behind and nothing stands in
                self.supply.drop()
                return
        note, read_key = (stand_in[0], stand_in[1]) if stand_in is not None else (own, note_key)
        self.pool.make_room(self.voice_limit, self._at)
        voice = Voice(note, channel, key, one_shot, self.pool.next_serial(), self._at)
        dress(self, voice, read_key, velocity, glide_from)
        self.pool.add(voice)
        if stand_in is not None:
            self.supply.stood_in += 1
            voice.loop_gain = stand_in[2]
            if own is not None:
                self.stand_ins.add(voice, plan, own, read_key[1])

    def _note_off(self, channel: int, key: int) -> None:
        ctl = self.channels[channel].ctl
        if ctl.playing_mono and mono_note_off(self, channel, key):
            return  # back, legato, to the key held before
        ctl.released(key)
        sustain = self.channels[channel].sustain
        for v in list(self._unreleased[channel].get(key, ())):
            if v.held:
                v.held = False
                if sustain:
                    v.sustained = True
                else:
                    self._release(v)

    def _control(self, channel: int, control: int, value: int) -> None:
        control_change(self, channel, control, value)

    def _notes_off(self, channel: int) -> None:
        for v in self.pool.voices[channel]:
            if v.held:
                self._note_off(channel, v.key)
            elif v.one_shot:
                self._release(v, one_shot_too=True)  # all notes off is the panic button: drum hits fade too

    def _sound_off(self, channel: int) -> None:
        for v in self.pool.voices[channel]:
            self._kill(v)

    def _release(self, v: Voice, one_shot_too: bool = False) -> None:
        self.pool.release(v, self._at, one_shot_too)

    def _unindex(self, v: Voice) -> None:
        self.pool.unindex(v)

    def _kill(self, v: Voice) -> None:
        self.pool.kill(v, self._at)

    def _gain_changed(self, ch: Channel) -> None:
        gain_changed(ch, self._at)

    def _rate_changed(self, channel: int) -> None:
        rate_changed(self.channels[channel], self._at, self.tuning_a4)

    def _vibrato_changed(self, channel: int) -> None:
        """The mod wheel or channel pressure moved: the channel's voices take the new vibrato depth from here."""
        ch = self.channels[channel]
        ch.vibrato.set(self._at, ch.ctl.vibrato_cents())

    def _system_reset(self) -> None:
        system_reset_all(self)

    def _apply_request(self, request: str) -> None:
        for channel in range(16):
            self._notes_off(channel) if request == "notes" else self._sound_off(channel)
        if request == "sound":  # the reverb's and chorus's tails too
            self.effects.silence(self.pool.fast_fade)

    @property
    def shed(self) -> int:
        """Voices faded out because blocks took too long to mix."""
        return self.pool.shed

    @property
    def voice_limit(self) -> int:
        """The most voices that sound at once: the polyphony, or less live while blocks take too long to mix."""
        return self.budget.limit if self.budget is not None else self.polyphony

    def _shed(self) -> None:
        """Live, over the voice limit: fade voices out as stolen ones, from the start of the block."""
        self.pool.shed_over(self.voice_limit, self._at)


    def _keys(self, events: Sequence[tuple[object, mido.Message]]) -> list[NoteKey]:
        """The notes these events will start, from the channels' current programs and morph values."""
        return planned_keys(plan_events(self.planner, events, [c.program for c in self.channels],
                                        [c.morph_value for c in self.channels], self.morph_cc))

