"""The playing engine: MIDI events in, stereo audio blocks out (voices, generation scheduling, mixing).

Contract (used by `render` and by the live audio path)::

    engine = Engine(preset, sample_rate=48000, polyphony=256, instrument=None, morph=None,
                    cache=None, tuning_a4=440.0, master_gain=1.0, release=1.0, blocking=True)
    block = engine.process(events, frames)   # float32 [frames, 2], |x| < 1
    engine.all_notes_off(); engine.all_sound_off()
    engine.preload(events=None, progress=False); engine.stats; engine.idle; engine.close()

- `events`: (frame offset within this block, mido.Message) pairs, offsets 0..frames-1 (out of range
  offsets are clamped); handled sample-accurately. MIDI channels are mido's 0..15 (users see 1..16).
- process() must be called from one thread at a time (the audio callback or the render loop).
  all_notes_off() / all_sound_off() may be called from any thread: they take effect at the start
  of the next block. preload() runs in the caller's thread, before playing.
- blocking=True (render): every note a block needs is generated (one batch per block, through the
  note cache) before the block is mixed, so the output depends only on the events.
  blocking=False (live): process() never runs the model; a missing note is queued to a generation
  thread that streams it in (Preset.stream, one batch for all notes queued meanwhile). A cold voice
  stays silent until its first chunk arrives, then plays as the rest arrives faster than real time.
- cache: a NoteCache; NoteCache.for_preset(preset, rate) adds the disk cache. Default: 1 GiB, memory only.
- stats: voices, cache_hits, cache_misses (not in memory), disk_hits, generated (notes the model
  made), pending (notes being streamed in), cache_bytes, limiter_gain. idle: no voice, nothing pending.
- Errors: InstrumentError (a ValueError) from the constructor for a bad instrument/morph spec;
  ValueError for out-of-range settings (rate, polyphony, tuning, release, gain, morph controller).

Sound rules:
- Notes are SING's 4 s (3 s held, 1 s release), resampled once to the output rate by soxr when
  generated, cached at the output rate. A melodic voice loops while it sounds: reading past 2.9 s
  (72.5 % of the note) jumps back to 1.5 s (37.5 %); the 50 ms (1.25 %) before the loop end are an
  equal-power crossfade (cos/sin) from the note into the 50 ms before the loop start, so the jump
  is seamless. A key or pedal held longer than 2.9 s therefore keeps sounding.
- Note-off (or note-on velocity 0) starts the release: an exponential fade reaching -60 dB after
  `release` seconds (default 1 s, the length of the model's own release), ending exactly at 0.
- Drums (channel 10, the preset's drum kit) are one-shot: note-off does not cut them, they play
  the whole 4 s note. Keys outside the kit's range are silent; --instrument does not apply.
- Melodic notes outside the instrument's pitch range are shifted by octaves into it (one warning
  per instrument and pitch); a blend plays the intersection of its instruments' ranges.
- Sustain (CC64 >= 64) holds released keys. CC123 (and CC124-127) releases every key; notes held
  by the pedal sound until it is lifted. CC120 silences the channel with a 5 ms fade. CC121 resets
  bend, expression, modulation and pedal.
- Pitch bend (range 2 semitones, set by RPN 0: CC101=0, CC100=0, CC6 semitones, CC38 cents) and
  master tuning (tuning_a4 / 440) change the voice's reading rate: linear interpolation between
  samples (small bends; at rate 1 the samples are read exactly).
- Volume (CC7) and expression (CC11) use the square law (GM); pan (CC10) is equal-power; gain
  changes are ramped over 5 ms so they never click.
- Polyphony: when `polyphony` voices sound, a new note steals a released voice (oldest first), else
  the oldest voice, fading it out over 5 ms.
- Output: sum * master_gain, then a gain computer (instant attack per block, 250 ms release) that
  keeps peaks under 0 dBFS, then a soft knee above -3 dBFS (tanh) with a 0.999 ceiling: never clips.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

import mido
import numpy as np
import torch

from .cache import Note, NoteCache, NoteKey, quantize_velocity, step_velocity, to_cached_precision
from .instruments import (InstrumentError, ProgramMap, Timbre, drum_kit, fold_into_range, melodic, morph,
                          one_hot, pitch_range, resolve, resolve_morph, timbre_name)
from .preset import Preset
from .resample import StreamResampler, out_length, resample

logger = logging.getLogger(__name__)

DRUM_CHANNEL = 9  # channel 10 as users count
LOOP_START, LOOP_END, LOOP_XFADE = 0.375, 0.725, 0.0125  # fractions of the note: 1.5 s, 2.9 s, 50 ms
RELEASE_FLOOR = 1e-3  # -60 dB at the end of the release
FAST_FADE = 0.005  # seconds: stolen voices, all-sound-off
GAIN_RAMP = 0.005
LIMIT_THRESHOLD = 10 ** (-3 / 20)
LIMIT_CEILING = 0.999
LIMITER_RELEASE = 0.25
MAX_BATCH = 32

__all__ = ["Engine", "InstrumentError", "DRUM_CHANNEL"]


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
    gains: np.ndarray | None = None  # current [left, right], ramping towards target()
    ramp_left: int = 0

    def target(self) -> np.ndarray:
        level = (self.volume / 127) ** 2 * (self.expression / 127) ** 2
        # equal-power pan with 64 exactly in the middle
        x = (self.pan - 64) / (63 if self.pan > 64 else 64)
        angle = math.pi / 4 * (1 + x)
        return np.array([level * math.cos(angle), level * math.sin(angle)], dtype=np.float32)

    def rate(self) -> float:
        semis = self.bend / 8192 * (self.bend_semitones + self.bend_cents / 100)
        return 2.0 ** (semis / 12)


class Voice:
    """One sounding note: reads its Note at a rate, loops it, and fades out on release or theft."""

    __slots__ = ("note", "channel", "key", "one_shot", "serial", "held", "sustained", "pos", "release_at",
                 "kill_left", "kill_len", "finished")

    def __init__(self, note: Note, channel: int, key: int, one_shot: bool, serial: int):
        self.note, self.channel, self.key, self.one_shot, self.serial = note, channel, key, one_shot, serial
        self.held = not one_shot
        self.sustained = False
        self.pos = 0.0
        self.release_at = -1  # samples since the release started; -1 while held
        self.kill_left: int | None = None
        self.kill_len = 1
        self.finished = False

    @property
    def releasing(self) -> bool:
        return self.one_shot or self.release_at >= 0

    def release(self) -> None:
        if not self.one_shot and self.release_at < 0:
            self.release_at = 0
        self.held = self.sustained = False

    def kill(self, samples: int) -> None:
        if self.kill_left is None:
            self.kill_left = self.kill_len = max(samples, 1)

    def render(self, out: np.ndarray, rate: float, loop: tuple[int, int, int], release_len: int) -> None:
        """Add this voice's next len(out) samples into out (mono)."""
        n = len(out)
        note, data = self.note, self.note.data
        length = len(data)
        l0, l1, x = loop
        looping = not self.one_shot and note.xfade is not None
        if self.one_shot:
            limit = length if note.done else note.ready
        else:
            limit = l1 if looping else min(note.ready, l1 - x)
        start = int(self.pos)
        if rate == 1.0 and start == self.pos and start + n < min(limit, length if self.one_shot else l1 - x):
            seg = data[start:start + n]
            count = n
            self.pos += n
        else:
            p = self.pos + rate * np.arange(n)
            if looping:
                p = np.where(p >= l1, l0 + np.mod(p - l0, l1 - l0), p)
            i = p.astype(np.int64)
            j = i + 1
            if looping:
                j[j == l1] = l0
                count = n
            else:
                count = int(np.searchsorted(j, limit))
            i, j = i[:count], j[:count]
            a, b = data[i], data[j]
            if looping:
                xf, edge = note.xfade, l1 - x
                m = i >= edge
                a[m] = xf[i[m] - edge]
                m = j >= edge
                b[m] = xf[j[m] - edge]
            seg = a + (b - a) * (p[:count] - i).astype(np.float32)
            self.pos += rate * count
            if looping and self.pos >= l1:
                self.pos = l0 + (self.pos - l0) % (l1 - l0)
        if count < n and self.one_shot and note.done:
            self.finished = True  # played to its end
        if self.kill_left is not None and count == 0:
            self.finished = True
        if count == 0:
            return
        env = None
        if self.release_at >= 0:
            t = self.release_at + np.arange(count)
            tau = release_len / math.log(1 / RELEASE_FLOOR)
            env = np.maximum((np.exp(-t / tau) - RELEASE_FLOOR) / (1 - RELEASE_FLOOR), 0.0)
            self.release_at += count
            if self.release_at >= release_len:
                self.finished = True
        if self.kill_left is not None:
            k = np.maximum((self.kill_left - np.arange(1, count + 1)) / self.kill_len, 0.0)
            env = k if env is None else env * k
            self.kill_left -= count
            if self.kill_left <= 0:
                self.finished = True
        if env is None:
            out[:count] += seg
        else:
            out[:count] += seg * env.astype(np.float32)


class Engine:
    def __init__(self, preset: Preset, sample_rate: int = 48000, polyphony: int = 256, instrument: str | None = None,
                 morph: str | None = None, morph_cc: int = 1, cache: NoteCache | None = None,
                 tuning_a4: float = 440.0, master_gain: float = 1.0, release: float = 1.0, blocking: bool = True):
        if not 8000 <= int(sample_rate) <= 384000:
            raise ValueError(f"sample rate {sample_rate} is out of range (8000..384000)")
        if polyphony < 1:
            raise ValueError("polyphony must be at least 1")
        if not 220.0 <= tuning_a4 <= 880.0:
            raise ValueError(f"tuning A4={tuning_a4} Hz is out of range (220..880)")
        if release <= 0 or master_gain < 0:
            raise ValueError("release must be > 0 and master gain >= 0")
        if instrument and morph:
            raise InstrumentError("give an instrument or a morph, not both")
        if not 0 <= morph_cc <= 119:
            raise ValueError(f"morph controller {morph_cc} is not a controller number (0..119)")
        self.preset = preset
        self.sample_rate = int(sample_rate)
        self.polyphony = int(polyphony)
        self.cache = cache if cache is not None else NoteCache()
        self.tuning_a4 = float(tuning_a4)
        self.master_gain = float(master_gain)
        self.blocking = blocking
        self.morph_cc = morph_cc
        self._count = len(preset.instruments)
        self._programs = ProgramMap(preset)
        self._kit = drum_kit(preset)
        self._override = resolve(preset, instrument) if instrument else None
        self._morph = resolve_morph(preset, morph) if morph else None
        self._ranges: dict[Timbre, tuple[int, int]] = {}
        self._warned: set = set()
        self.channels = [Channel() for _ in range(16)]
        for ch in self.channels:
            ch.gains = ch.target()
        self.voices: list[Voice] = []
        self._serial = 0
        self._note_len = out_length(preset.model.config.note_samples, preset.sample_rate, self.sample_rate)
        n = self._note_len
        self._loop = (int(n * LOOP_START), int(n * LOOP_END), max(int(n * LOOP_XFADE), 1))
        self._release_len = max(int(release * self.sample_rate), 1)
        self._fast_fade = max(int(FAST_FADE * self.sample_rate), 1)
        self._ramp = max(int(GAIN_RAMP * self.sample_rate), 1)
        self._gain = 1.0
        self._requests: list[str] = []
        self._block_notes: dict[NoteKey, Note] = {}
        self._pending: dict[NoteKey, Note] = {}
        self._pending_lock = threading.Lock()
        self._worker: _Generator | None = None
        self.generated = 0

    # -- public API --

    def process(self, events: Sequence[tuple[int, mido.Message]], frames: int) -> np.ndarray:
        """Handle events at their frame offsets and return the next `frames` frames, float32 [frames, 2]."""
        out = np.zeros((frames, 2), dtype=np.float32)
        while self._requests:
            self._apply_request(self._requests.pop(0))
        events = sorted(events, key=lambda e: e[0]) if len(events) > 1 else events
        if self.blocking:
            self._block_notes = self._generate(self._missing(msg for _, msg in events))
        pos = 0
        for offset, msg in events:
            offset = min(max(int(offset), 0), frames)
            if offset > pos:
                self._render(out[pos:offset])
                pos = offset
            self._handle(msg)
        if pos < frames:
            self._render(out[pos:])
        self._block_notes = {}
        self._limit(out)
        return out

    def all_notes_off(self) -> None:
        """Release every key on every channel (pedal-held notes wait for the pedal)."""
        self._requests.append("notes")

    def all_sound_off(self) -> None:
        """Silence every voice on every channel within 5 ms."""
        self._requests.append("sound")

    @property
    def idle(self) -> bool:
        """No voice sounding and nothing being generated."""
        return not self.voices and not self._pending and not self._requests

    @property
    def stats(self) -> dict:
        return {"voices": len(self.voices), "cache_hits": self.cache.hits, "cache_misses": self.cache.misses,
                "disk_hits": self.cache.disk_hits, "generated": self.generated, "pending": len(self._pending),
                "cache_bytes": self.cache.nbytes, "limiter_gain": self._gain}

    def preload(self, events: Iterable[tuple[object, mido.Message]] | None = None, progress: bool = False) -> int:
        """Generate ahead: the notes `events` will need, or else the chosen instruments' whole range
        at every velocity step. Returns the number of notes generated."""
        from tqdm import tqdm
        if events is not None:
            keys = self._missing(msg for _, msg in events)
        else:
            keys = [k for k in self._all_keys() if self._cached(k) is None]
        need = len(keys) * (self._note_len * 4)
        if need > self.cache.max_bytes:
            logger.warning("preloading %d notes needs %.0f MiB but the note cache holds %.0f MiB: the first ones "
                           "will be evicted", len(keys), need / 2**20, self.cache.max_bytes / 2**20)
        with tqdm(total=len(keys), unit="note", desc="preload", disable=not progress, leave=False) as bar:
            for i in range(0, len(keys), MAX_BATCH):
                self._generate(keys[i:i + MAX_BATCH])
                bar.update(len(keys[i:i + MAX_BATCH]))
        return len(keys)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

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
        elif kind == "pitchwheel":
            self.channels[msg.channel].bend = msg.pitch

    def _note_on(self, channel: int, key: int, velocity: int) -> None:
        ch = self.channels[channel]
        plan = self._plan(channel, ch.program, ch.morph_value, key, velocity)
        if plan is None:
            return
        note_key, one_shot = plan
        if not one_shot:
            for v in self.voices:  # a key struck again ends its previous note
                if v.channel == channel and v.key == key and not v.releasing:
                    v.release()
        self._make_room()
        self._serial += 1
        self.voices.append(Voice(self._note(note_key), channel, key, one_shot, self._serial))

    def _note_off(self, channel: int, key: int) -> None:
        sustain = self.channels[channel].sustain
        for v in self.voices:
            if v.channel == channel and v.key == key and v.held:
                v.held = False
                if sustain:
                    v.sustained = True
                else:
                    v.release()

    def _control(self, channel: int, control: int, value: int) -> None:
        ch = self.channels[channel]
        if control == self.morph_cc:
            ch.morph_value = value
        if control in (7, 10, 11):
            setattr(ch, {7: "volume", 10: "pan", 11: "expression"}[control], value)
            ch.ramp_left = self._ramp
        elif control == 64:
            down = value >= 64
            if ch.sustain and not down:
                for v in self.voices:
                    if v.channel == channel and v.sustained and not v.held:
                        v.release()
            ch.sustain = down
        elif control == 101:
            ch.rpn = (value, ch.rpn[1])
        elif control == 100:
            ch.rpn = (ch.rpn[0], value)
        elif control in (98, 99):  # an NRPN: data entry no longer addresses an RPN
            ch.rpn = (127, 127)
        elif control == 6 and ch.rpn == (0, 0):
            ch.bend_semitones = value
        elif control == 38 and ch.rpn == (0, 0):
            ch.bend_cents = value
        elif control == 120:
            self._sound_off(channel)
        elif control == 121:
            ch.bend, ch.expression, ch.morph_value, ch.rpn = 0, 127, 0, (127, 127)
            ch.ramp_left = self._ramp
            self._control(channel, 64, 0)
        elif control in (123, 124, 125, 126, 127):  # mode changes imply all notes off
            self._notes_off(channel)

    def _notes_off(self, channel: int) -> None:
        for v in self.voices:
            if v.channel == channel and v.held:
                self._note_off(channel, v.key)

    def _sound_off(self, channel: int) -> None:
        for v in self.voices:
            if v.channel == channel:
                v.kill(self._fast_fade)

    def _apply_request(self, request: str) -> None:
        for channel in range(16):
            self._notes_off(channel) if request == "notes" else self._sound_off(channel)

    def _make_room(self) -> None:
        alive = [v for v in self.voices if v.kill_left is None]
        if len(alive) < self.polyphony:
            return
        released = [v for v in alive if v.releasing]
        victim = min(released or alive, key=lambda v: v.serial)
        victim.kill(self._fast_fade)

    # -- which note a note-on plays --

    def _warn_once(self, key, message: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    def _plan(self, channel: int, program: int, morph_value: int, key: int,
              velocity: int) -> tuple[NoteKey, bool] | None:
        step = quantize_velocity(velocity, self.cache.velocity_steps)
        if channel == DRUM_CHANNEL:
            if self._kit is None:
                self._warn_once("no kit", "preset %r has no drum kit: channel 10 is silent", self.preset.name)
                return None
            low, high = self._kit.pitch_range
            if not low <= key <= high:
                self._warn_once(("drum key", key), "drum key %d is outside the kit's keys %d-%d: silent",
                                key, low, high)
                return None
            return (one_hot(self._kit.index, self._count), key, step), True
        if self._override is not None:
            timbre = self._override
        elif self._morph is not None:
            timbre = morph(*self._morph, morph_value)
        else:
            inst = self._programs(program)
            if inst is None:
                self._warn_once("no melodic", "preset %r has no melodic instrument: only drums play",
                                self.preset.name)
                return None
            timbre = one_hot(inst.index, self._count)
        if timbre not in self._ranges:
            self._ranges[timbre] = pitch_range(self.preset, timbre)
        low, high = self._ranges[timbre]
        pitch = fold_into_range(key, low, high)
        if pitch != key:
            self._warn_once(("range", timbre, key), "%s plays pitches %d-%d: note %d played as %d",
                            timbre_name(self.preset, timbre), low, high, key, pitch)
        return (timbre, pitch, step), False

    def _missing(self, messages: Iterable[mido.Message]) -> list[NoteKey]:
        """The notes these messages will start that the cache lacks, following program and morph changes."""
        programs = [c.program for c in self.channels]
        morphs = [c.morph_value for c in self.channels]
        keys: dict[NoteKey, None] = {}
        for msg in messages:
            if msg.type == "program_change":
                programs[msg.channel] = msg.program
            elif msg.type == "control_change" and msg.control == self.morph_cc:
                morphs[msg.channel] = msg.value
            elif msg.type == "note_on" and msg.velocity > 0:
                plan = self._plan(msg.channel, programs[msg.channel], morphs[msg.channel], msg.note, msg.velocity)
                if plan is not None:
                    keys[plan[0]] = None
        return [k for k in keys if self._cached(k) is None]

    def _all_keys(self) -> list[NoteKey]:
        if self._override is not None:
            timbres = [self._override]
        elif self._morph is not None:
            timbres = list(dict.fromkeys(morph(*self._morph, round(i * 127 / 8)) for i in range(9)))
        else:
            timbres = [one_hot(i.index, self._count) for i in melodic(self.preset)]
        steps = range(self.cache.velocity_steps)
        keys = []
        for timbre in timbres:
            low, high = pitch_range(self.preset, timbre)
            keys += [(timbre, p, s) for p in range(low, high + 1) for s in steps]
        if self._kit is not None:
            kit = one_hot(self._kit.index, self._count)
            low, high = self._kit.pitch_range
            keys += [(kit, p, s) for p in range(low, high + 1) for s in steps]
        return keys

    # -- generation --

    def _note(self, key: NoteKey) -> Note:
        note = self._block_notes.get(key)
        if note is not None:
            return note
        note = self._cached(key, disk=self.blocking)
        if note is not None:
            return note
        if self.blocking:  # the block's batch missed it (a controller reset changed the plan): generate now
            return self._generate([key])[key]
        with self._pending_lock:
            note = self._pending.get(key)
            if note is None:
                note = self._pending[key] = Note(np.zeros(self._note_len, dtype=np.float32), ready=0)
                if self._worker is None:
                    self._worker = _Generator(self)
                self._worker.queue.put(key)
        return note

    def _cached(self, key: NoteKey, disk: bool = True) -> Note | None:
        """The note from memory, or from disk (then kept in memory); None if it must be generated."""
        note = self.cache.get(key)
        if note is None and disk:
            data = self.cache.load(key)
            if data is not None:
                note = Note(self._fit(data))
                self._finish(key, note, save=False)
        return note

    def _inputs(self, keys: Sequence[NoteKey]):
        weights = torch.tensor([k[0] for k in keys], dtype=torch.float32)
        pitches = [k[1] for k in keys]
        velocities = [step_velocity(k[2], self.cache.velocity_steps) for k in keys]
        return weights, pitches, velocities

    def _finish(self, key: NoteKey, note: Note, save: bool = True) -> None:
        """Make the loop's crossfade, mark the note complete and cache it."""
        l0, l1, x = self._loop
        fade = (np.arange(x, dtype=np.float64) + 0.5) / x * (math.pi / 2)
        note.xfade = (note.data[l1 - x:l1] * np.cos(fade) + note.data[l0 - x:l0] * np.sin(fade)).astype(np.float32)
        note.ready = len(note.data)
        note.done = True
        self.cache.put(key, note, disk=save)

    def _fit(self, wav: np.ndarray) -> np.ndarray:
        data = np.zeros(self._note_len, dtype=np.float32)
        n = min(len(wav), self._note_len)
        data[:n] = to_cached_precision(wav[:n])
        return data

    def _generate(self, keys: Sequence[NoteKey]) -> dict[NoteKey, Note]:
        """Generate notes now, in batches, and cache them."""
        notes: dict[NoteKey, Note] = {}
        for i in range(0, len(keys), MAX_BATCH):
            batch = keys[i:i + MAX_BATCH]
            wav = self.preset.generate(*self._inputs(batch))
            wav = resample(wav, self.preset.sample_rate, self.sample_rate)
            for key, row in zip(batch, wav):
                notes[key] = Note(self._fit(row))
                self._finish(key, notes[key])
            self.generated += len(batch)
        return notes

    def _stream(self, keys: list[NoteKey]) -> None:
        """Generation thread: stream notes into their pending Note buffers."""
        with self._pending_lock:
            notes = [self._pending[k] for k in keys]
        todo = []
        for key, note in zip(keys, notes):
            data = self.cache.load(key)
            if data is not None:
                note.data[:] = self._fit(data)
                self._done(key, note, save=False)
            else:
                todo.append((key, note))
        if not todo:
            return
        try:
            resampler = StreamResampler(len(todo), self.preset.sample_rate, self.sample_rate)
            chunks = self.preset.stream(*self._inputs([k for k, _ in todo]))
            for chunk in _with_flush(chunks, len(todo)):
                out = resampler(chunk[0], last=chunk[1])
                for row, (_, note) in zip(out, todo):
                    start = note.ready
                    m = min(len(row), self._note_len - start)
                    note.data[start:start + m] = to_cached_precision(row[:m])
                    note.ready = start + m
            self.generated += len(todo)
        except Exception:
            # leave silence rather than a voice waiting forever
            logger.exception("note generation failed; those notes stay silent")
            for _, note in todo:
                note.data[:] = 0
        for key, note in todo:
            self._done(key, note)

    def _done(self, key: NoteKey, note: Note, save: bool = True) -> None:
        self._finish(key, note, save)
        with self._pending_lock:
            self._pending.pop(key, None)

    # -- mixing --

    def _render(self, out: np.ndarray) -> None:
        n = len(out)
        mono: dict[int, np.ndarray] = {}
        for v in self.voices:
            buf = mono.get(v.channel)
            if buf is None:
                buf = mono[v.channel] = np.zeros(n, dtype=np.float32)
            v.render(buf, self.channels[v.channel].rate() * self.tuning_a4 / 440.0, self._loop, self._release_len)
        if any(v.finished for v in self.voices):
            self.voices = [v for v in self.voices if not v.finished]
        for index, ch in enumerate(self.channels):
            buf = mono.get(index)
            if buf is None:
                if ch.ramp_left:
                    self._gains(ch, n)
                continue
            out += buf[:, None] * self._gains(ch, n)

    def _gains(self, ch: Channel, n: int) -> np.ndarray:
        """The channel's [left, right] gains for the next n samples: [2], or [n, 2] while ramping."""
        target = ch.target()
        if not ch.ramp_left:
            return target
        k = min(n, ch.ramp_left)
        t = np.arange(1, k + 1, dtype=np.float32)[:, None] / ch.ramp_left
        curve = ch.gains + (target - ch.gains) * t
        ch.gains = curve[-1].copy()
        ch.ramp_left -= k
        if k < n:
            curve = np.concatenate([curve, np.broadcast_to(target, (n - k, 2))])
        return curve

    def _limit(self, out: np.ndarray) -> None:
        if not len(out):
            return
        out *= self.master_gain
        peak = float(np.abs(out).max())
        target = min(1.0, 1.0 / peak) if peak > 0 else 1.0
        g0 = self._gain
        if target < g0:
            g1 = target
        else:
            g1 = g0 + (target - g0) * (1 - math.exp(-len(out) / (LIMITER_RELEASE * self.sample_rate)))
        if g0 != 1.0 or g1 != 1.0:
            out *= np.linspace(g0, g1, len(out), dtype=np.float32)[:, None]
        self._gain = g1
        mag = np.abs(out)
        over = mag > LIMIT_THRESHOLD
        if over.any():
            span = LIMIT_CEILING - LIMIT_THRESHOLD
            out[over] = np.sign(out[over]) * (LIMIT_THRESHOLD + span * np.tanh((mag[over] - LIMIT_THRESHOLD) / span))


def _with_flush(chunks, batch: int):
    """(chunk, last) pairs, ending with an empty chunk marked last so the resampler flushes."""
    for chunk in chunks:
        yield chunk, False
    yield np.zeros((batch, 0), dtype=np.float32), True


class _Generator:
    """The live engine's generation thread: batches every note queued since its last batch."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="singsynth-generate", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            keys = [self.queue.get()]
            while len(keys) < MAX_BATCH:
                try:
                    keys.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in keys
            keys = [k for k in keys if k is not None]
            if keys:
                self.engine._stream(keys)
            if stop:
                return

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)
