"""MIDI files -> timed events: tempo changes, file types, third-party files, damaged and absurd files."""
import struct

import mido
import pytest
from engine_fixtures import THIRD_PARTY_MIDI

from singsynth.io import midi
from singsynth.io.midi import MidiError, read_midi


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


def raw_file(track: bytes, division: int = 480, before: bytes = b"") -> bytes:
    """A one-track file from raw track bytes; `before` goes between the header and the track."""
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, division) + before
            + b"MTrk" + struct.pack(">I", len(track)) + track)


NOTE = b"\x00\x90\x3c\x64\x83\x60\x80\x3c\x40"  # a note-on at 0, its note-off 480 ticks later
END = b"\x00\xff\x2f\x00"


def test_smpte_time_division_counts_frames_and_ignores_tempo(tmp_path):
    # 25 frames per second x 40 ticks per frame: a tick is 1 ms whatever the tempo says
    path = tmp_path / "smpte.mid"
    path.write_bytes(raw_file(b"\x00\xff\x51\x03\x0f\x42\x40" + NOTE + END, division=0xE728))
    assert [(round(t, 9), m.type) for t, m in read_midi(path)] == [(0.0, "note_on"), (0.48, "note_off")]


def test_unknown_chunks_are_skipped_and_rmid_is_unwrapped(tmp_path):
    plain = raw_file(NOTE + END)
    (tmp_path / "plain.mid").write_bytes(plain)
    (tmp_path / "xf.mid").write_bytes(raw_file(NOTE + END, before=b"XFIH\x00\x00\x00\x04abcd"))
    body = b"data" + struct.pack("<I", len(plain)) + plain + b"\x00" * (len(plain) & 1)
    (tmp_path / "riff.mid").write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"RMID" + body)
    expected = read_midi(tmp_path / "plain.mid")
    assert len(expected) == 2
    assert read_midi(tmp_path / "xf.mid") == expected and read_midi(tmp_path / "riff.mid") == expected


def test_running_status_survives_sysex_and_meta_events(tmp_path):
    sysex, text = b"\x00\xf0\x02\x7e\xf7", b"\x00\xff\x01\x00"
    track = b"\x00\x90\x3c\x64" + sysex + b"\x00\x3e\x64" + text + b"\x00\x40\x64" + END
    path = tmp_path / "running.mid"
    path.write_bytes(raw_file(track))
    assert [m.note for _, m in read_midi(path)] == [60, 62, 64]


def test_meta_events_are_skipped_whatever_they_hold(tmp_path):
    # a key signature with 64 sharps, a one-byte time signature, text that is no text
    junk = b"\x00\xff\x59\x02\x40\x05" + b"\x00\xff\x58\x01\x04" + b"\x00\xff\x03\x03\xff\xfe\xfd"
    path = tmp_path / "metas.mid"
    path.write_bytes(raw_file(junk + NOTE + END))
    assert len(read_midi(path)) == 2


MALFORMED = [
    (b"\xff\xff\xff\xff\x7f\x90\x3c\x64" + END, "longer than 4 bytes"),
    (b"\x00\xff\x51\x03\x00\x00\x00" + NOTE + END, "tempo of 0"),
    (b"\x00\xff\x51\x01\x07" + NOTE + END, "tempo event of 1 bytes"),
    (b"\x00\xf4" + NOTE + END, "undefined status byte 0xf4"),
    (b"\x00\x3c\x64" + END, "no status byte before it"),
    (b"\x00\x90\x3c\xe4" + END, "where a data byte"),
    (b"\x00\xf0\x8f\xff\xff\x7f\x00" + END, "runs past the end of its track"),
]


@pytest.mark.parametrize("track, reason", MALFORMED, ids=[reason for _, reason in MALFORMED])
def test_malformed_events_are_refused_with_the_reason_and_byte(tmp_path, reason, track):
    path = tmp_path / "bad.mid"
    path.write_bytes(raw_file(track))
    with pytest.raises(MidiError, match=reason) as info:
        read_midi(path)
    assert "at byte " in str(info.value) and "\n" not in str(info.value)


def test_header_track_count_need_not_match(tmp_path):
    data = bytearray(raw_file(NOTE + END))
    struct.pack_into(">H", data, 10, 0xFFFF)
    path = tmp_path / "count.mid"
    path.write_bytes(bytes(data))
    assert len(read_midi(path)) == 2


def test_caps_stop_reading_early(tmp_path, monkeypatch):
    monkeypatch.setattr(midi, "MAX_CHUNKS", 100)
    path = tmp_path / "chunks.mid"
    path.write_bytes(raw_file(END) + (b"MTrk\x00\x00\x00\x04" + END) * 200)
    with pytest.raises(MidiError, match="more than 100 chunks"):
        read_midi(path)
