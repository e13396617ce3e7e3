"""MIDI files -> timed events: tempo changes, file types, third-party files, damaged and absurd files."""
import mido
import pytest

from engine_fixtures import THIRD_PARTY_MIDI
from singsynth import midi
from singsynth.midi import MidiError, read_midi


def save(path, tracks, type=1, tpb=480):
    song = mido.MidiFile(type=type, ticks_per_beat=tpb)
    for messages in tracks:
        song.tracks.append(mido.MidiTrack(messages))
    song.save(str(path))
    return path


def test_tempo_changes_are_honoured_across_tracks(tmp_path):
    tempo = [mido.MetaMessage("set_tempo", tempo=500_000, time=0),  # 120 bpm: a beat is 0.5 s
             mido.MetaMessage("set_tempo", tempo=1_000_000, time=960)]  # from 1 s on, 60 bpm
    notes = [mido.Message("program_change", program=40, time=0),
             mido.Message("note_on", note=60, velocity=90, time=480),
             mido.Message("note_off", note=60, time=480),
             mido.Message("note_on", note=62, velocity=90, time=480)]
    events = read_midi(save(tmp_path / "t.mid", [tempo, notes]))
    assert [(round(t, 6), m.type) for t, m in events] == [(0.0, "program_change"), (0.5, "note_on"),
                                                          (1.0, "note_off"), (2.0, "note_on")]
    assert all(m.time == 0 for _, m in events)  # absolute times live in the tuple only


def test_type_0_plays_and_type_2_is_refused(tmp_path):
    track = [mido.Message("note_on", note=60, velocity=90, time=0), mido.Message("note_off", note=60, time=480)]
    assert len(read_midi(save(tmp_path / "zero.mid", [track], type=0))) == 2
    with pytest.raises(MidiError, match="type 2"):
        read_midi(save(tmp_path / "two.mid", [track, track], type=2))


@pytest.mark.parametrize("path", THIRD_PARTY_MIDI, ids=lambda p: p.name)
def test_third_party_files_read_in_time_order(path):
    events = read_midi(path)
    times = [t for t, _ in events]
    assert times == sorted(times) and times[-1] > 1.0
    assert any(m.type == "note_on" and m.velocity > 0 for _, m in events)


@pytest.mark.parametrize("content", [b"", b"hello world", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01",
                                     b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x10\x00\x90"])
def test_damaged_files_give_one_line_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(MidiError) as info:
        read_midi(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_third_party_file_is_refused(tmp_path):
    data = THIRD_PARTY_MIDI[0].read_bytes()
    path = tmp_path / "cut.mid"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(MidiError, match="cut.mid"):
        read_midi(path)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(MidiError, match="cannot read"):
        read_midi(tmp_path / "nope.mid")
    with pytest.raises(MidiError, match="folder"):
        read_midi(tmp_path)


def test_files_longer_than_two_hours_are_refused(tmp_path):
    # one beat at 120 bpm is 0.5 s: 15,000 beats is 2 h 5 min
    track = [mido.Message("note_on", note=60, velocity=90, time=0),
             mido.Message("note_off", note=60, time=15_000 * 480)]
    with pytest.raises(MidiError, match="2 hours"):
        read_midi(save(tmp_path / "long.mid", [track]))


def test_too_many_events_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(midi, "MAX_EVENTS", 10)
    track = [mido.Message("note_on", note=60, velocity=90, time=1) for _ in range(20)]
    with pytest.raises(MidiError, match="exceed"):
        read_midi(save(tmp_path / "many.mid", [track]))
