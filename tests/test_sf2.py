"""The SoundFont generator reader and the command that adds each instrument's release and LFO to a preset."""
import json
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from engine_fixtures import make_preset

from singsynth.preset.sf2 import RELEASE_VOL_ENV, SoundFontError, read_zones
from singsynth.preset import load_preset
from singsynth.preset.soundfont_fields import main as fields_main
from singsynth.preset.sound import InstrumentSounds



def chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def gen(oper: int, amount: int | tuple) -> bytes:
    if isinstance(amount, tuple):
        return struct.pack("<HBB", oper, *amount)
    return struct.pack("<Hh", oper, amount)


def tiny_soundfont(path: Path) -> Path:
    """Preset 0:5 over one instrument: a global zone (release 600 tc), zone A keys 0-59 (release -1200 tc),
    zone B keys 60-127 velocities 0-90 (its own release 0) and zone C keys 60-127 velocities 91-127 (none:
    the global one); the preset zone adds 100 tc and a global preset zone sets freqVibLFO +1200 cents."""
    igens = [gen(38, 600), gen(43, (0, 59)), gen(38, -1200), gen(53, 0), gen(43, (60, 127)), gen(44, (0, 90)),
             gen(38, 0), gen(53, 0), gen(43, (60, 127)), gen(44, (91, 127)), gen(53, 0)]
    ibags = [struct.pack("<HH", i, 0) for i in (0, 1, 4, 8, 11)]  # global, A, B, C, terminal
    inst = [b"tiny".ljust(20, b"\0") + struct.pack("<H", 0), b"EOI".ljust(20, b"\0") + struct.pack("<H", 4)]
    pgens = [gen(24, 1200), gen(38, 100), gen(41, 0)]
    pbags = [struct.pack("<HH", i, 0) for i in (0, 1, 3)]
    phdr = [b"tiny".ljust(20, b"\0") + struct.pack("<HHHIII", 5, 0, 0, 0, 0, 0),
            b"EOP".ljust(20, b"\0") + struct.pack("<HHHIII", 0, 0, 2, 0, 0, 0)]
    pdta = b"pdta" + b"".join(chunk(cid, b"".join(recs)) for cid, recs in [
        (b"phdr", phdr), (b"pbag", pbags), (b"pmod", [b"\0" * 10]), (b"pgen", pgens + [b"\0" * 4]),
        (b"inst", inst), (b"ibag", ibags), (b"imod", [b"\0" * 10]), (b"igen", igens + [b"\0" * 4]),
        (b"shdr", [b"\0" * 46])])
    body = b"sfbk" + chunk(b"LIST", b"INFO" + chunk(b"ifil", struct.pack("<HH", 2, 1))) \
        + chunk(b"LIST", b"sdta" + chunk(b"smpl", b"\0" * 7)) + chunk(b"LIST", pdta)
    path.write_bytes(chunk(b"RIFF", body))
    return path


def test_zones_combine_instrument_global_and_preset_generators_as_soundfont_2_01_says(tmp_path):
    zones = read_zones(tiny_soundfont(tmp_path / "tiny.sf2"))[(0, 5)]
    got = sorted((z.keys, z.velocities, z.values[RELEASE_VOL_ENV], z.values[24]) for z in zones)
    assert got == [((0, 59), (0, 127), -1100, 1200), ((60, 127), (0, 90), 100, 1200),
                   ((60, 127), (91, 127), 700, 1200)]


def test_a_file_that_is_no_soundfont_is_one_clear_error(tmp_path):
    (tmp_path / "x.sf2").write_bytes(b"RIFF\x04\0\0\0WAVE")
    with pytest.raises(SoundFontError, match="x.sf2: not a readable SoundFont"):
        read_zones(tmp_path / "x.sf2")


def preset_with_source(folder: Path, source: str) -> Path:
    path = make_preset(folder)
    meta = json.loads((path / "preset.json").read_text())
    for inst in meta["instruments"]:
        inst["source"], inst["gm_program"] = source, 5 if not inst["drums"] else None
    (path / "preset.json").write_text(json.dumps(meta))
    return path


def test_the_command_adds_releases_per_key_range_that_the_engine_reads(tmp_path, capsys):
    sf = tiny_soundfont(tmp_path / "tiny.sf2")
    path = preset_with_source(tmp_path / "p", "tiny.sf2")
    before = (path / "preset.json").read_text()
    assert fields_main([str(path), str(sf), "--dry-run"]) == 0
    assert (path / "preset.json").read_text() == before
    assert fields_main([str(path), str(sf)]) == 0
    flute = json.loads((path / "preset.json").read_text())["instruments"][0]
    # each zone's release with the preset's 100 tc; the LFO at 8.176 Hz one octave up
    assert flute["release_seconds"] == [[0, 59, 0, 127, round(2 ** (-1100 / 1200), 4)], [60, 127, 0, 90, round(
        2 ** (100 / 1200), 4)], [60, 127, 91, 127, round(2 ** (700 / 1200), 4)]]
    assert flute["vibrato_hz"] == pytest.approx(2 * 8.176, abs=1e-3)
    assert flute["source_keys"] == [0, 127] and "vibrato_delay" not in flute
    sounds = InstrumentSounds(load_preset(path))
    assert sounds.release(0, 40, 100) == pytest.approx(2 ** (-1100 / 1200) * 60 / 96, rel=1e-3)
    assert sounds.release(0, 72, 80) == pytest.approx(2 ** (100 / 1200) * 60 / 96, rel=1e-3)
    assert sounds.lfo(0) == (pytest.approx(16.352, abs=1e-3), None)
    assert fields_main([str(tmp_path / "nowhere"), str(sf)]) == 2
    assert "nowhere: no such preset" in capsys.readouterr().err


@pytest.mark.skipif(not shutil.which("fluidsynth"), reason="needs the fluidsynth program")
def test_the_flutes_release_read_from_fluidr3_is_the_one_fluidsynth_plays(tmp_path, soundfont_file):
    """FluidSynth's flute, released after 1 s: its level falls 96 dB over the release time read here."""
    zones = read_zones(soundfont_file)[(0, 73)]
    release = 2 ** (max(z.values[RELEASE_VOL_ENV] for z in zones if z.keys[0] <= 72 <= z.keys[1]
                        and z.velocities[0] <= 100 <= z.velocities[1]) / 1200)
    track = mido.MidiTrack([mido.Message("program_change", program=73, time=0),
                            mido.Message("note_on", note=72, velocity=100, time=0),
                            mido.Message("note_off", note=72, time=960)])
    mido.MidiFile(tracks=[track], ticks_per_beat=480).save(tmp_path / "flute.mid")
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-r", "48000", "-F", str(tmp_path / "f.wav"),
                    str(soundfont_file), str(tmp_path / "flute.mid")], check=True, capture_output=True, timeout=120)
    with wave.open(str(tmp_path / "f.wav")) as f:
        x = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").reshape(-1, 2)[:, 0] / 32768

    def db(t0, t1):
        return 20 * np.log10(np.sqrt(np.mean(x[int(t0 * 48000):int(t1 * 48000)] ** 2)))
    slope = (db(1.2, 1.22) - db(1.05, 1.07)) / 0.15  # dB per second, well into the release
    assert slope == pytest.approx(-96 / release, rel=0.05)
