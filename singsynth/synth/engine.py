"""The playing engine: MIDI events in, stereo audio blocks out (channels, voices, mixing, limiter).

    engine = make_engine(preset, sample_rate=48000, polyphony=256, instrument=None, morph=None,
                         cache=None, tuning_a4=440.0, master_gain=1.0, release=1.0, blocking=True)
    block = engine.process(events, frames)   # float32 [frames, 2], |x| < 1

- `events`: (frame offset within this block, mido.Message), handled sample-accurately; channels are
  mido's 0..15.
- process() runs in one thread at a time (the render loop or the live producer); all_notes_off() and
  all_sound_off() may be called from any thread and take effect at the start of the next block.
- blocking=True (render): every note a block needs is generated before the block is mixed, so the output
  depends only on the events. blocking=False (live): process() never runs the model; a cold note streams
  in from the note supply's thread and its voice is silent until its first chunk arrives.
- Errors: InstrumentError (a ValueError) for a bad instrument or morph; ValueError for settings out of
  range (EngineConfig).

How each message sounds (loops, releases, drums, bends, pedal, stealing, the limiter): docs/engine.md; every
message answered, beside FluidSynth: docs/midi.md.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import mido
import numpy as np

from ..errors import SettingError
from ..gm import CC, DRUM_CHANNEL, channel_gains
from ..io.sysex import system_reset
from ..preset import Preset
from .bank import read_bank, shaped
from .cache import NoteCache, NoteKey
from .cpu_load import VoiceBudget
from .effects import CHORUS, REVERB, Effects, EffectsConfig
from .envelope import ramp_table
from .controllers import TUNING, BasicChannels, Controls
from .instruments import InstrumentError
from .legato import dress, mono_note_off, mono_note_on
from .modulation import Stepped, moving_phases, voice_phase
from .note_supply import MAX_BATCH, NoteSupply
from .planner import NotePlanner
from .threads import GenerationThreads
from .voice import Voice, steps

logger = logging.getLogger(__name__)

FAST_FADE = 0.005  # seconds: stolen voices, all-sound-off
GAIN_RAMP = 0.005
LIMIT_THRESHOLD = 10 ** (-3 / 20)
LIMIT_CEILING = 0.999
LIMITER_RELEASE = 0.25
# The limiter's gain steps once every this many frames in blocks that are a multiple of it, however long:
# a render in long blocks is limited exactly as in 1024-frame blocks. Shorter blocks (live) step once a block.
LIMITER_CHUNK = 1024

__all__ = ["Engine", "InstrumentError", "DRUM_CHANNEL", "MAX_BATCH"]

CHANNEL_LEVELS = {CC.VOLUME: "volume", CC.PAN: "pan", CC.EXPRESSION: "expression"}  # the Channel field each sets
BEND_RANGE = (0, 0)  # registered parameter 0: pitch bend sensitivity


@dataclass
class Channel:
    program: int = 0
    volume: int = 100
    expression: int = 127
    pan: int = 64
    sustain: bool = False
    bend: int = 0  # -8192..8191
    bend_semitones: int = 2
    bend_cents: int = 0
    rpn: tuple[int, int] = (127, 127)  # (MSB, LSB); 127,127 is "none selected"
    morph_value: int = 0
    gains: np.ndarray | None = None  # current [left, right], ramping towards `aim`
    aim: np.ndarray | None = None  # target() as of the last event
    ramp_left: int = 0
    reading: float = 1.0  # rate() times the master tuning, as of the last event
    # changes within the block being made, as (offset, new value), and the value before the first
    gain_events: list = field(default_factory=list)
    block_aim: np.ndarray | None = None
    rate_events: list = field(default_factory=list)
    block_reading: float = 1.0
    ctl: Controls = field(default_factory=Controls)  # tuning, vibrato, portamento, mono (controllers.py)
    vibrato: Stepped = field(default_factory=Stepped)  # the vibrato depth in cents, changing within the block

    # what a system reset sets back to a new channel's
    MIDI_STATE = ("program", "volume", "expression", "pan", "sustain", "bend", "bend_semitones", "bend_cents", "rpn",
                  "morph_value")

    def target(self) -> np.ndarray:
        return np.array(channel_gains(self.volume, self.expression, self.pan), dtype=np.float32)

    def rate(self) -> float:
        semis = self.bend / 8192 * (self.bend_semitones + self.bend_cents / 100) + self.ctl.tune_cents() / 100
        return 2.0 ** (semis / 12)


@dataclass(frozen=True)
class EngineConfig:
    """How the engine plays, whatever preset and parts it plays with."""
    sample_rate: int = 48000  # output rate, Hz
    polyphony: int = 256  # most voices at once
    tuning_a4: float = 440.0  # pitch of A4, Hz
    master_gain: float = 1.0  # on top of the preset's playback gain
    release: float = 1.0  # seconds from note-off to -60 dB
    morph_cc: int = 1  # the controller that sweeps a morph
    blocking: bool = True  # True: render (notes generated before their block); False: live (streamed in)

    def __post_init__(self):
        if not 8000 <= int(self.sample_rate) <= 384000:
            raise SettingError(f"sample rate {self.sample_rate} is out of range (8000..384000)")
        if self.polyphony < 1:
            raise SettingError("polyphony must be at least 1")
        if not 220.0 <= self.tuning_a4 <= 880.0:
            raise SettingError(f"tuning A4={self.tuning_a4} Hz is out of range (220..880)")
        if self.release <= 0 or self.master_gain < 0:
            raise SettingError("release must be > 0 and master gain >= 0")
        if not 0 <= self.morph_cc <= CC.LAST_CONTROLLER:
            raise SettingError(f"morph controller {self.morph_cc} is not a controller number (0..119)")


def make_engine(preset: Preset, sample_rate: int = 48000, polyphony: int = 256, instrument: str | None = None,
                morph: str | None = None, morph_cc: int = 1, cache: NoteCache | None = None,
                tuning_a4: float = 440.0, master_gain: float = 1.0, release: float = 1.0,
                blocking: bool = True, threads: GenerationThreads | None = None,
                effects: EffectsConfig = EffectsConfig()) -> "Engine":
    """An Engine with its default parts: the note planner for `instrument` or `morph` (else the channels'
    programs), the note supply over `cache` (default: 1 GiB in memory) generating with `threads` (default:
    torch's own setting), live a voice budget, and the reverb and chorus `effects` (effects/)."""
    config = EngineConfig(int(sample_rate), int(polyphony), float(tuning_a4), float(master_gain), release,
                          morph_cc, blocking)
    if instrument and morph:
        raise InstrumentError("give an instrument or a morph, not both")
    cache = cache if cache is not None else NoteCache()
    planner = NotePlanner(preset, instrument, morph, morph_cc, cache.velocity_steps)
    supply = NoteSupply(preset, cache, config.sample_rate, blocking, block_limit=config.polyphony, threads=threads)
    budget = VoiceBudget(config.polyphony, settle=FAST_FADE) if not blocking else None
    sends = np.array([[i.reverb_send, i.chorus_send] for i in preset.instruments])
    fx = Effects(effects, config.sample_rate, sends if sends.any() else None, config.master_gain * preset.playback_gain)
    return Engine(preset, config, planner, supply, budget, fx)


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
        # voices per channel, oldest first; events reach them at their offsets (Voice.render_block)
        self._voices: list[list[Voice]] = [[] for _ in range(16)]
        self._cut: list[list[Voice]] = [[] for _ in range(16)]  # cut within the block: sound up to the cut
        # voices that can still be stolen (not fading out yet), oldest first, and those of them released,
        # released longest ago first: stealing looks at the first of each
        self._alive: dict[Voice, None] = {}
        self._released: dict[Voice, None] = {}
        self._fading: dict[Voice, None] = {}  # the others, faded longest first
        # per channel, each key's melodic voices not released yet: note-on and note-off look only there
        self._unreleased: list[dict[int, list[Voice]]] = [{} for _ in range(16)]
        self._at = 0  # offset of the event being handled
        self._serial = 0
        self._release_len = max(int(config.release * self.sample_rate), 1)
        self._fast_fade = max(int(FAST_FADE * self.sample_rate), 1)
        self._ramp = max(int(GAIN_RAMP * self.sample_rate), 1)
        self._limiter_gain = 1.0
        self._requests: list[str] = []
        self.shed = 0  # voices faded out because blocks took too long to mix
        self._starting_ahead = False  # live: notes' first chunks made ahead for the channels' programs
        self._timbres_ahead: list = [None] * 16  # each channel's timbre when its notes' starts were last wanted
        self._frame = 0  # absolute frame at the start of the block being made: voices' LFOs and glides count from it
        self.sounds = planner.sounds  # each instrument's release and LFO (preset/sound.py)
        self.basic = BasicChannels()  # where mode messages count (controllers.py)

    # the config's settings and the supply's cache, read where they live
    sample_rate = property(lambda self: self.config.sample_rate)
    polyphony = property(lambda self: self.config.polyphony)
    tuning_a4 = property(lambda self: self.config.tuning_a4)
    blocking = property(lambda self: self.config.blocking)
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
        events = sorted(events, key=lambda e: e[0]) if len(events) > 1 else events
        if self.blocking:
            self.supply.prepare(self._keys(msg for _, msg in events))
        for offset, msg in events:
            self._at = min(max(int(offset), 0), frames)
            self._handle(msg)
        self._mix(out)
        self.supply.end_block()
        self.effects.process(out)  # they return before the limiter
        self._limiter(out)
        self._frame += frames
        if self.budget is not None and frames:
            self.budget.update(time.perf_counter() - started, frames / self.sample_rate, len(self._alive))
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
        return sorted((v for voices in self._voices for v in voices), key=lambda v: v.serial)

    @property
    def idle(self) -> bool:
        """No voice sounding and nothing being generated."""
        return not any(self._voices) and not self.supply.pending and not self._requests and self.effects.idle

    @property
    def stats(self) -> dict:
        return {"voices": sum(map(len, self._voices)), "cache_hits": self.cache.hits, "cache_misses": self.cache.misses,
                "disk_hits": self.cache.disk_hits, "generated": self.generated, "pending": self.supply.pending,
                "dropped": self.supply.dropped, "voice_limit": self.voice_limit, "shed": self.shed,
                "lowest_voice_limit": self.budget.lowest if self.budget is not None else self.polyphony,
                "cache_bytes": self.cache.nbytes, "limiter_gain": self._limiter_gain}

    def prefetch(self, msg: mido.Message) -> None:
        """Live: a note-on just arrived; start generating its note if it is cold, before process()
        places it (a block or two later). Safe from any thread (the MIDI input's); a no-op when blocking.
        It plans with the channel's program as it stands: a program change in between costs a note
        generated for nothing, never a wrong one played."""
        if self.blocking or msg.type != "note_on" or msg.velocity == 0:
            return
        ch = self.channels[msg.channel]
        plan = self.planner.plan(msg.channel, ch.program, ch.morph_value, msg.note, msg.velocity)
        if plan is not None:
            self.supply.prefetch(plan[0])

    def start_ahead(self) -> None:
        """Live: make the first chunk of every note the channels can play ahead, while the generation thread is
        idle, and again for a channel's new program (note_starts.py)."""
        self._starting_ahead = True
        self._start_ahead(range(16))

    def _start_ahead(self, channels: Iterable[int]) -> None:
        """Want the starts of the notes these channels can play now where their timbre changed (wanted again, the
        starts already made are kept longest): the keys nearest middle C and a firm touch first."""
        keys, timbres = [], set()
        for channel in channels:
            ch = self.channels[channel]
            playable = self.planner.channel_keys(channel, ch.program, ch.morph_value)
            timbre = playable[0][0] if playable else None
            changed, self._timbres_ahead[channel] = timbre != self._timbres_ahead[channel], timbre
            if changed and timbre is not None and timbre not in timbres:
                timbres.add(timbre)
                keys += playable
        steps = self.planner.velocity_steps
        self.supply.start_ahead(sorted(keys, key=lambda k: (abs(k[1] - 60), abs(k[2] - 3 * steps // 4))))

    def notes_ready(self, events: Sequence[tuple[int, mido.Message]]) -> bool:
        """Live: whether every note these events start has sound to play now (False while a cold note
        waits for its first streamed chunk). Always True when blocking."""
        if self.blocking or not self.supply.pending:  # nothing streaming in: no need to plan the events
            return True
        return not any(self.supply.starting(key) for key in self._keys(msg for _, msg in events))

    def preload(self, events: Iterable[tuple[object, mido.Message]] | None = None, progress: bool = False) -> int:
        """Generate ahead: the notes `events` will need, or else the chosen instruments' whole range
        at every velocity step. Returns the number of notes generated."""
        keys = self._keys(msg for _, msg in events) if events is not None else self.planner.all_keys()
        return self.supply.preload(keys, progress)

    def close(self) -> None:
        self.supply.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- events --

    def _handle(self, msg: mido.Message) -> None:
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            self._note_on(msg.channel, msg.note, msg.velocity)
        elif kind in ("note_on", "note_off"):
            self._note_off(msg.channel, msg.note)
        elif kind == "control_change":
            self._control(msg.channel, msg.control, msg.value)
        elif kind == "program_change":
            self.channels[msg.channel].program = msg.program
            if self._starting_ahead:
                self._start_ahead([msg.channel])
        elif kind == "pitchwheel":
            self.channels[msg.channel].bend = msg.pitch
            self._rate_changed(msg.channel)
        elif kind == "aftertouch":
            self.channels[msg.channel].ctl.pressure = msg.value
            self._vibrato_changed(msg.channel)
        elif kind == "sysex" and system_reset(msg.data):
            self._system_reset()

    def _note_on(self, channel: int, key: int, velocity: int) -> None:
        ch = self.channels[channel]
        plan = self.planner.plan(channel, ch.program, ch.morph_value, key, velocity)
        if plan is None:
            return
        note_key, one_shot = plan
        self.effects.set_instrument(channel, note_key[0], self._at)
        glide_from = None
        if not one_shot:
            glide_from = ch.ctl.glide_from(key)
            if ch.ctl.playing_mono and mono_note_on(self, channel, key, glide_from):
                return  # played legato by the voice already sounding
            for v in self._unreleased[channel].pop(key, ()):  # a key struck again ends its previous note
                self._release(v)
        note = self.supply.note(note_key)
        if note is None:  # live, and generation is too far behind: dropped
            return
        self._make_room()
        self._serial += 1
        voice = Voice(note, channel, key, one_shot, self._serial, self._at)
        dress(self, voice, note_key, velocity, glide_from)
        self._voices[channel].append(voice)
        self._alive[voice] = None
        if one_shot:  # a drum hit counts as released from the start
            self._released[voice] = None
        else:
            self._unreleased[channel].setdefault(key, []).append(voice)

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
        ch = self.channels[channel]
        if control == self.morph_cc:
            ch.morph_value = value
        if (control != self.morph_cc or not self.planner.morphing) and ch.ctl.control(control, value):
            self._vibrato_changed(channel)
        elif control in CC.MODE_CHANGES:
            group = self.basic.change(channel, control, value)
            for c in group[0] if group else ():  # MIDI: a mode change is all notes off too
                self.channels[c].ctl.set_mono(group[1])
                self._notes_off(c)
        elif control in CHANNEL_LEVELS:
            setattr(ch, CHANNEL_LEVELS[control], value)
            self._gain_changed(ch)
        elif control == CC.SUSTAIN:
            down = value >= 64
            if ch.sustain and not down:
                for v in self._voices[channel]:
                    if v.sustained and not v.held:
                        self._release(v)
            ch.sustain = down
        elif control == CC.RPN:
            ch.rpn = (value, ch.rpn[1])
        elif control == CC.RPN_FINE:
            ch.rpn = (ch.rpn[0], value)
        elif control in (CC.NRPN_FINE, CC.NRPN):
            ch.rpn = (127, 127)
        elif control == CC.DATA_ENTRY and ch.rpn == BEND_RANGE:
            ch.bend_semitones = value
            self._rate_changed(channel)
        elif control == CC.DATA_ENTRY_FINE and ch.rpn == BEND_RANGE:
            ch.bend_cents = value
            self._rate_changed(channel)
        elif control in (CC.REVERB, CC.CHORUS):
            self.effects.set_cc(channel, REVERB if control == CC.REVERB else CHORUS, value, self._at)
        elif control in (CC.DATA_ENTRY, CC.DATA_ENTRY_FINE) and ch.rpn in TUNING:
            if ch.ctl.enter(ch.rpn, control, value):
                self._rate_changed(channel)
        elif control == CC.ALL_SOUND_OFF:
            self._sound_off(channel)
        elif control == CC.RESET_CONTROLLERS:
            ch.bend, ch.expression, ch.morph_value, ch.rpn = 0, 127, 0, (127, 127)
            ch.ctl.reset_controllers()
            self._vibrato_changed(channel)
            self._gain_changed(ch)
            self._rate_changed(channel)
            self._control(channel, CC.SUSTAIN, 0)
            self.effects.reset(channel, self._at)
        elif control == CC.ALL_NOTES_OFF:
            self._notes_off(channel)

    def _notes_off(self, channel: int) -> None:
        for v in self._voices[channel]:
            if v.held:
                self._note_off(channel, v.key)
            elif v.one_shot:
                self._release(v, one_shot_too=True)  # all notes off is the panic button: drum hits fade too

    def _sound_off(self, channel: int) -> None:
        for v in self._voices[channel]:
            self._kill(v)

    def _release(self, v: Voice, one_shot_too: bool = False) -> None:
        v.release(self._at, one_shot_too)
        if v.releasing:
            self._unindex(v)
            if v in self._alive and v not in self._released:
                self._released[v] = None

    def _unindex(self, v: Voice) -> None:
        """Take a voice out of its key's unreleased voices."""
        keyed = self._unreleased[v.channel]
        voices = keyed.get(v.key)
        if voices is not None and v in voices:
            voices.remove(v)
            if not voices:
                del keyed[v.key]

    def _forget(self, v: Voice) -> None:
        """A voice leaves the engine: out of the stealing order and its key's index."""
        self._alive.pop(v, None)
        self._released.pop(v, None)
        self._fading.pop(v, None)
        self._unindex(v)

    def _kill(self, v: Voice) -> None:
        if v.kill(self._fast_fade, self._at):
            del self._alive[v]
            self._released.pop(v, None)
            self._fading[v] = None

    def _gain_changed(self, ch: Channel) -> None:
        """Volume, expression or pan changed at the current offset: ramp there to the new gains."""
        if not ch.gain_events:
            ch.block_aim = ch.aim
        ch.aim = ch.target()
        ch.gain_events.append((self._at, ch.aim))

    def _rate_changed(self, channel: int) -> None:
        """Bend or bend range changed at the current offset: the channel's voices read at the new rate from there."""
        ch = self.channels[channel]
        reading = ch.rate() * self.tuning_a4 / 440.0
        if reading == ch.reading:
            return
        if not ch.rate_events:
            ch.block_reading = ch.reading
        ch.reading = reading
        ch.rate_events.append((self._at, reading))

    def _vibrato_changed(self, channel: int) -> None:
        """The mod wheel or channel pressure moved: the channel's voices take the new vibrato depth from here."""
        ch = self.channels[channel]
        ch.vibrato.set(self._at, ch.ctl.vibrato_cents())

    def _system_reset(self) -> None:
        """GM, GM2, GS or XG reset (io/sysex.py): every voice silenced, every channel as new, as FluidSynth."""
        fresh = Channel()
        self.basic = BasicChannels()
        for channel, ch in enumerate(self.channels):
            self._sound_off(channel)
            for name in Channel.MIDI_STATE:
                setattr(ch, name, getattr(fresh, name))
            ch.ctl = Controls()
            self.effects.reset(channel, self._at)  # the sends go back to where every channel starts
            self._vibrato_changed(channel)
            self._gain_changed(ch)
            self._rate_changed(channel)
            if self._starting_ahead:
                self._start_ahead([channel])

    def _apply_request(self, request: str) -> None:
        for channel in range(16):
            self._notes_off(channel) if request == "notes" else self._sound_off(channel)
        if request == "sound":  # the reverb's and chorus's tails too
            self.effects.silence(self._fast_fade)

    @property
    def voice_limit(self) -> int:
        """The most voices that sound at once: the polyphony, or less live while blocks take too long to mix."""
        return self.budget.limit if self.budget is not None else self.polyphony

    def _shed(self) -> None:
        """Live, over the voice limit: fade voices out as stolen ones, from the start of the block."""
        limit = self.voice_limit
        while len(self._alive) > limit:
            self._kill(next(iter(self._released or self._alive)))
            self.shed += 1
        self._cap_fading()

    def _make_room(self) -> None:
        """Before a new voice: at the voice limit, steal the released voice released longest ago (the
        most faded), else the oldest voice."""
        if len(self._alive) >= self.voice_limit:
            self._kill(next(iter(self._released or self._alive)))
            if len(self._alive) + 1 < self.polyphony:  # stolen only because of the live voice limit
                self.shed += 1
        self._cap_fading()

    def _cap_fading(self) -> None:
        """A flood of note-ons within one block steals voice after voice before any of them can fade
        out: keep at most `polyphony` fading, cutting the most faded first."""
        while len(self._fading) > self.polyphony:
            cut = next(iter(self._fading))
            self._forget(cut)
            self._voices[cut.channel].remove(cut)
            if cut.start_at < self._at:  # it sounded in this block: up to the cut
                cut.cut(self._at)
                self._cut[cut.channel].append(cut)

    def _keys(self, messages: Iterable[mido.Message]) -> list[NoteKey]:
        """The notes these messages will start, from the channels' current programs and morph values."""
        return self.planner.keys(messages, [c.program for c in self.channels],
                                  [c.morph_value for c in self.channels])

    # -- mixing --

    def _mix(self, out: np.ndarray) -> None:
        """Render every channel's voices over the block, each event at its own offset, into out.

        Voices take their own events (start, release, fades) at their offsets, and a channel's bends and
        gain changes are per-sample curves, so a block with many events costs no more than one render
        per voice. On bent channels, the voices that read plainly this block (most of them) are read
        together in one bank whatever their channel (bank.py), and so are voices with their own pitch
        movement (vibrato, glide, a key read from the nearest learnt note), each at its own reading advance;
        the others (at the loop crossfade, at the end of what has arrived, cut, released at their own
        instrument's rate) and those at rate 1 are read alone."""
        n = len(out)
        loop = self.supply.loop
        mixed = []  # (channel, its phase, its gain curve, its voices read alone with their phases, its vibrato depth)
        phases = []
        # the bank: voices without an envelope this block, then those with one, each part by channel
        steady, steady_rows, changing, changing_rows = [], [], [], []
        for channel in range(16):
            ch = self.channels[channel]
            phase = self._phase(ch, n)
            gains = self._gain_curve(ch, n)
            depth = ch.vibrato.curve(n)
            voices = self._voices[channel]
            if not voices and not self._cut[channel]:
                continue
            row = len(mixed)
            read = len(phases)  # the channel's reading advance; a voice with its own pitch movement has its own
            phases.append(phase if phase is not None else steps(1.0, n))
            advance = float(phases[read][n])
            own = moving_phases([v.pitch for v in voices], self._frame, n, depth, self.sample_rate, phase)
            alone = []  # (voice, its reading advance)
            for k, v in enumerate(voices):
                mine = own.get(k)
                if mine is not None and v.plain(float(mine[n]), loop) and (v.release_len is None or not shaped(v)):
                    (changing if shaped(v) else steady).append(v)
                    (changing_rows if shaped(v) else steady_rows).append((row, len(phases)))
                    phases.append(mine)
                elif mine is not None or (v.release_len is not None and shaped(v)):  # its own pitch or release
                    alone.append((v, phase if mine is None else mine))
                # at rate 1 a voice reads its samples exactly: alone, by slices, is quicker
                elif phase is None or not v.plain(advance, loop):
                    alone.append((v, phase))
                elif shaped(v):
                    changing.append(v)
                    changing_rows.append((row, read))
                else:
                    steady.append(v)
                    steady_rows.append((row, read))
            mixed.append((channel, phase, gains, alone, depth))
        if not mixed:
            return
        sums = self._bank_sums(len(mixed), n, phases, steady, steady_rows, changing, changing_rows)
        steady_gains = []  # the rows of channels whose gains hold still over the block, and those gains
        for row, ((channel, phase, gains, alone, depth), buf) in enumerate(zip(mixed, sums)):
            for v, own in alone:
                v.render_block(buf, own, loop, v.release_len or self._release_len)
            cut = self._cut[channel]
            for v in cut:
                v.render_block(buf, self._own_phase(v, phase, depth, n), loop, v.release_len or self._release_len)
            cut.clear()
            voices = self._voices[channel]
            if any(v.finished for v in voices):
                for v in voices:
                    if v.finished:
                        self._forget(v)
                self._voices[channel] = [v for v in voices if not v.finished]
            if gains.ndim == 1:
                steady_gains.append((row, gains))
            else:
                out += buf[:, None] * gains
                self.effects.send(channel, buf, gains)
        if steady_gains:
            # one product places every steady channel in the stereo field; per channel, a [n] x [2] broadcast
            # runs numpy's inner loop two samples at a time, ten times slower
            rows, gains = zip(*steady_gains)
            steady = sums if len(rows) == len(sums) else sums[list(rows)]
            out += np.dot(steady.T, np.stack(gains))
            self.effects.send_steady([mixed[row][0] for row in rows], steady, np.stack(gains))

    def _own_phase(self, v: Voice, phase: np.ndarray | None, depth: float | np.ndarray, n: int) -> np.ndarray | None:
        """A voice's reading advance over the block: its channel's (`phase`), or with its own pitch movement
        (modulation.py) where it has one."""
        cents = v.pitch.cents(self._frame, n, depth, self.sample_rate) if v.pitch is not None else None
        return phase if cents is None else voice_phase(cents, phase)

    def _bank_sums(self, channels: int, n: int, phases: list[np.ndarray], steady: list[Voice], steady_rows: list,
                   changing: list[Voice], changing_rows: list) -> np.ndarray:
        """Each mixed channel's bank voices summed [channels, n]: the steady voices, then those with an
        envelope this block, each part ordered by channel; each voice's rows are (its channel's index among
        the mixed, the index in phases of the reading advance it reads at)."""
        sums = np.zeros((channels, n), dtype=np.float32)
        if not steady and not changing:
            return sums
        both = np.array(steady_rows + changing_rows).reshape(-1, 2)
        rows = both[:, 0]
        seg = read_bank(steady + changing, np.stack(phases), both[:, 1], self._release_len, len(steady))
        for part in (slice(0, len(steady)), slice(len(steady), len(rows))):
            part_rows = rows[part]
            if len(part_rows):  # a channel's rows are consecutive within each part
                starts = np.flatnonzero(np.r_[True, part_rows[1:] != part_rows[:-1]])
                sums[part_rows[starts]] += np.add.reduceat(seg[part], starts, axis=0)
        return sums

    @staticmethod
    def _phase(ch: Channel, n: int) -> np.ndarray | None:
        """The channel's reading advance at each sample of the block and one past it; None: rate 1 all along."""
        events = ch.rate_events
        if not events:
            return None if ch.reading == 1.0 else steps(ch.reading, n)
        rates = np.empty(n + 1, dtype=np.float64)
        rates[0], at, rate = 0.0, 0, ch.block_reading
        for offset, new in events:
            rates[at + 1:offset + 1] = rate
            at, rate = offset, new
        rates[at + 1:] = rate
        events.clear()
        return np.cumsum(rates, out=rates)

    def _gain_curve(self, ch: Channel, n: int) -> np.ndarray:
        """The channel's [left, right] gains over the block: [2] when steady, else [n, 2], ramping over
        GAIN_RAMP from each change at its offset."""
        events = ch.gain_events
        if not events:
            return self._ramp_to(ch, ch.aim, n)
        curve = np.empty((n, 2), dtype=np.float32)
        at, aim = 0, ch.block_aim
        for offset, new in events:
            if offset > at:
                curve[at:offset] = self._ramp_to(ch, aim, offset - at)
            at, aim = offset, new
            ch.ramp_left = self._ramp
        if n > at:
            curve[at:] = self._ramp_to(ch, aim, n - at)
        events.clear()
        return curve

    @staticmethod
    def _ramp_to(ch: Channel, aim: np.ndarray, n: int) -> np.ndarray:
        """The gains for the next n samples ramping towards `aim`: [2], or [n, 2] while ramping."""
        if not ch.ramp_left:
            return aim
        k = min(n, ch.ramp_left)
        curve = np.empty((n, 2), dtype=np.float32)
        curve[:k] = ch.gains + (aim - ch.gains) * (ramp_table(k)[:, None] / np.float32(ch.ramp_left))
        curve[k:] = aim
        ch.gains = curve[k - 1].copy()
        ch.ramp_left -= k
        return curve

    def _limiter_gains(self, peaks: list[float], size: int) -> list[float]:
        """The limiter's gain now, then at the end of each chunk of `size` frames with these peaks: down at once
        to what keeps a peak at 1, back up towards 1 over LIMITER_RELEASE."""
        recover = 1 - math.exp(-size / (LIMITER_RELEASE * self.sample_rate))
        gains = [self._limiter_gain]
        for peak in peaks:
            g0 = gains[-1]
            target = min(1.0, 1.0 / peak) if peak > 0 else 1.0
            gains.append(target if target < g0 else g0 + (target - g0) * recover)
        self._limiter_gain = gains[-1]
        return gains

    def _limiter(self, out: np.ndarray) -> None:
        n = len(out)
        if not n:
            return
        out *= self.master_gain
        size = LIMITER_CHUNK if n % LIMITER_CHUNK == 0 else n
        chunks = out.reshape(n // size, size, 2)
        peaks = np.abs(chunks).max(axis=(1, 2))
        if self._limiter_gain != 1.0 or peaks.max() > 1.0:  # else nothing to limit, nothing to recover from
            gains = self._limiter_gains(peaks.tolist(), size)
            starts, ends = np.array(gains[:-1]), np.array(gains[1:])
            if not (np.all(starts == 1.0) and np.all(ends == 1.0)):
                ramp = np.arange(size, dtype=np.float64) / max(size - 1, 1)  # each chunk from its start to its end
                chunks *= (starts[:, None] + (ends - starts)[:, None] * ramp).astype(np.float32)[:, :, None]
        mag = np.abs(out)
        over = mag > LIMIT_THRESHOLD
        if over.any():
            span = LIMIT_CEILING - LIMIT_THRESHOLD
            out[over] = np.sign(out[over]) * (LIMIT_THRESHOLD + span * np.tanh((mag[over] - LIMIT_THRESHOLD) / span))
