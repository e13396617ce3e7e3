"""A render ends where the file ends: at the later of the file's end of track and the last sound's release (plus
the effects' tail), so the stems of one song come out of one length. Real files, built with mido."""
from __future__ import annotations

import mido
import numpy as np
import pytest

from singsynth.cli import main
from singsynth.io.midi import MidiEvents, duration, read_midi
from singsynth.io.wav import read_wav
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.schedule import BLOCK, IDLE_TAIL_SECONDS, Schedule, play_through, render_file

TICKS = 480  # per beat; at the default 120 bpm a beat is 0.5 s


def write_song(path, tracks: list[list[tuple[int, mido.Message]]], end_ticks: list[int], tempo: int = 500_000):
    """A type 1 file: track i holds its (absolute tick, message) pairs and ends at end_ticks[i]."""
    song = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    for i, (messages, end) in enumerate(zip(tracks, end_ticks)):
        track = mido.MidiTrack()
        if i == 0:
            track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
        now = 0
        for tick, message in messages:
            track.append(message.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=end - now))
        song.tracks.append(track)
    song.save(path)
    return path


def note(start: int, length: int, pitch: int = 72, channel: int = 0) -> list[tuple[int, mido.Message]]:
    return [(start, mido.Message("note_on", channel=channel, note=pitch, velocity=100)),
            (start + length, mido.Message("note_off", channel=channel, note=pitch))]


def test_the_end_is_the_latest_end_of_track_of_any_track(tmp_path):
    path = write_song(tmp_path / "a.mid", [[], note(0, TICKS), note(TICKS, TICKS, 76, 1)],
                      end_ticks=[TICKS, 2 * TICKS, 16 * TICKS], tempo=250_000)  # 0.25 s a beat
    events = read_midi(path)
    assert isinstance(events, MidiEvents)
    assert events[-1][0] == pytest.approx(0.5)  # the last message, a note-off
    assert events.end == pytest.approx(4.0) and duration(events) == pytest.approx(4.0)


def test_an_end_of_track_before_the_last_message_ends_nothing_early(tmp_path):
    path = write_song(tmp_path / "b.mid", [note(0, 4 * TICKS)], end_ticks=[4 * TICKS])
    assert read_midi(path).end == pytest.approx(2.0)
    assert duration([(0.0, None), (1.5, None)]) == 1.5  # a plain list ends at its last event


def test_a_render_lasts_to_the_end_of_track_past_the_last_sound(tiny_preset_dir, tmp_path):
    """One short note and 8 s of track: FluidSynth writes 8 s, and so does singsynth, silence to the end."""
    path = write_song(tmp_path / "long.mid", [note(0, TICKS)], end_ticks=[16 * TICKS])  # note-off 0.5 s, end 8 s
    out = tmp_path / "long.wav"
    assert main(["render", str(path), "-o", str(out), "--preset", str(tiny_preset_dir), "--no-disk-cache",
                 "--quiet", "--rate", "16000"]) == 0
    rate, audio = read_wav(out)
    assert len(audio) == 8 * rate
    sounding = np.flatnonzero(np.abs(audio).max(axis=1))
    assert 0 < sounding[-1] < 4 * rate  # the note and its release ended well before
    assert not audio[sounding[-1] + 1:].any()


@pytest.mark.parametrize("block", [BLOCK, 4096, 16385])
def test_a_file_ending_before_its_last_sound_ends_after_it_as_before(tiny_preset, block):
    """End of track at the note-off: the render runs on through the release to IDLE_TAIL_SECONDS after the last
    sound, exactly as the same events without an end do, whatever the block."""
    events = [(0.0, mido.Message("note_on", note=72, velocity=100)), (0.5, mido.Message("note_off", note=72))]
    cache = NoteCache()
    make_engine(tiny_preset, cache=cache).preload(events)
    plain, ended = [], []
    play_through(make_engine(tiny_preset, cache=cache), Schedule(events, 16000, block), plain.append)
    play_through(make_engine(tiny_preset, cache=cache), Schedule(MidiEvents(events, end=0.5), 16000, block),
                 ended.append)
    plain, ended = np.concatenate(plain), np.concatenate(ended)
    assert np.array_equal(plain, ended)
    last = np.flatnonzero(np.abs(plain).max(axis=1))[-1]
    assert len(plain) == last + 1 + int(IDLE_TAIL_SECONDS * 16000) and last > 0.5 * 16000


def test_the_reverb_tail_outlasts_an_end_of_track_at_the_note_off(tiny_preset, tmp_path):
    """With reverb sent, the render ends IDLE_TAIL_SECONDS after the reverb has died away, not at the end of
    track."""
    events = [(0.0, mido.Message("control_change", control=91, value=127)),
              (0.0, mido.Message("note_on", note=72, velocity=100)), (0.5, mido.Message("note_off", note=72))]
    frames = []
    written = render_file(make_engine(tiny_preset, sample_rate=16000, cache=NoteCache()), MidiEvents(events, end=0.6),
                          frames.append)
    audio = np.concatenate(frames)
    assert written == len(audio) > 0.6 * 16000
    last = np.flatnonzero(np.abs(audio).max(axis=1))[-1]
    assert len(audio) == last + 1 + int(IDLE_TAIL_SECONDS * 16000)
