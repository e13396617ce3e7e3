"""General MIDI as files use it: tuning RPNs, resets, vibrato, portamento, mono legato, every key, releases.

Measured on SinePreset's notes (sines at the note's pitch, tests/engine_fixtures.py): the pitch at each
half period from the zero crossings, in cents, and levels in dB; each against the figure FluidSynth's code
gives (controllers.py, modulation.py). Each timeline also plays alike in blocks of any size.
"""
import json

import mido
import numpy as np
import pytest
from engine_fixtures import SinePreset, cc, gm_timeline, make_preset, midi_hz, off, on, sine_preset

from singsynth.io.midi import read_midi
from singsynth.preset import PresetError, load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.schedule import Schedule, play_through

RATE = 48000
GM_ON = (0x7E, 0x7F, 0x09, 0x01)
GM2_ON = (0x7E, 0x7F, 0x09, 0x03)
GS_RESET = (0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41)
XG_ON = (0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00)


@pytest.fixture(scope="module")
def sines(tmp_path_factory):
    return sine_preset(tmp_path_factory.mktemp("sine"))


def sysex(data):
    return mido.Message("sysex", data=data)


def play(preset, timeline, seconds, block=1024, **kwargs):
    eng = make_engine(preset, sample_rate=RATE, cache=NoteCache(), instrument=kwargs.pop("instrument", "flute"),
                      **kwargs)
    out, total = [], int(seconds * RATE)
    play_through(eng, Schedule(timeline, RATE, block, frames=total), out.append)
    return np.concatenate(out)[:total]


def pitch_track(x, key):
    """(times, cents from `key`) at each zero crossing of a sine, from the half period around it."""
    x = x.astype(np.float64)
    i = np.flatnonzero((x[:-1] < 0) != (x[1:] < 0))
    t = i + x[i] / (x[i] - x[i + 1])  # each crossing, interpolated
    period = 2 * np.diff(t) / RATE
    cents = 1200 * np.log2(1 / period / midi_hz(key))
    return (t[1:] + t[:-1]) / 2 / RATE, cents


def cents_between(x, key, t0, t1):
    times, cents = pitch_track(x, key)
    return cents[(times >= t0) & (times < t1)]


def time_mean(cents):
    """The mean of a pitch track over time: a higher pitch has more crossings, each lasting less."""
    return float(np.average(cents, weights=2.0 ** (-cents / 1200)))


def rms_db(x, t0, t1):
    seg = x[int(t0 * RATE):int(t1 * RATE)].astype(np.float64)
    return 20 * np.log10(max(np.sqrt(np.mean(seg ** 2)), 1e-12))


def rpn(msb, lsb, *data):
    return [cc(101, msb), cc(100, lsb)] + [cc(6 if i == 0 else 38, v) for i, v in enumerate(data)]


def timed(t, messages):
    return [(t, m) for m in messages]


def test_rpn_fine_and_coarse_tuning_move_sounding_notes_and_null_and_nrpns_do_nothing(sines):
    timeline = [(0.0, on(69))] + timed(0.3, rpn(0, 1, 96, 0)) + timed(0.6, rpn(0, 2, 66)) \
        + timed(0.9, [cc(101, 127), cc(100, 127), cc(6, 10)]) \
        + timed(1.2, [cc(99, 0), cc(98, 1), cc(6, 100), cc(38, 3)]) + timed(1.5, [cc(121, 0)])
    out = play(sines, timeline, 1.8)[:, 0]
    for (t0, t1), expected in [((0.05, 0.28), 0.0), ((0.35, 0.58), 50.0), ((0.65, 0.88), 250.0),
                               ((0.95, 1.18), 250.0), ((1.25, 1.48), 250.0), ((1.55, 1.78), 0.0)]:
        assert np.median(cents_between(out, 69, t0, t1)) == pytest.approx(expected, abs=0.1), (t0, expected)
    # the fine tuning's LSB counts: 8192 + 4096 + 64 -> +50.78 cents
    out = play(sines, timed(0.0, rpn(0, 1, 96, 64)) + [(0.0, on(69))], 0.4)[:, 0]
    assert np.median(cents_between(out, 69, 0.05, 0.35)) == pytest.approx(50 + 64 * 100 / 8192, abs=0.1)


def test_a_gm_system_on_in_a_file_resets_bend_levels_program_and_silences_what_sounds(sines, tmp_path):
    track = mido.MidiTrack()
    messages = [mido.Message("program_change", program=73), cc(7, 40), cc(10, 0), cc(1, 127),
                mido.Message("pitchwheel", pitch=8191)] + rpn(0, 2, 70) + [on(69)]
    for m in messages:
        track.append(m.copy(time=0))
    track.append(mido.Message("sysex", data=(0x7E, 0x7F, 0x06, 0x01), time=240))  # an identity request: skipped
    track.append(mido.Message("sysex", data=GM_ON, time=240))  # 0.5 s at 120 bpm
    track.append(on(69).copy(time=240))
    track.append(off(69).copy(time=480))
    path = tmp_path / "reset.mid"
    mido.MidiFile(tracks=[track], ticks_per_beat=480).save(path)
    events = read_midi(path)
    assert [m.data for _, m in events if m.type == "sysex"] == [GM_ON]
    before = [e for e in events if e[0] < 0.5]
    sines.calls.clear()
    reset = play(sines, events, 1.5, instrument=None)
    kept = play(sines, [e for e in events if e[1].type != "sysex"], 1.5, instrument=None)
    # before the reset: the flute, bent and tuned up, quiet, hard left
    assert time_mean(cents_between(reset[:, 0], 69, 0.1, 0.1 + 2 / 8.176)) == pytest.approx(600 + 200, abs=0.5)
    assert rms_db(reset[:, 1], 0.1, 0.4) < -100
    np.testing.assert_array_equal(reset[:int(0.45 * RATE)], play(sines, before, 0.45, instrument=None))
    # within 10 ms of it, silence; then program 0 (the violin here), in tune, centred, at volume 100
    assert rms_db(reset[:, 0], 0.515, 0.74) < -100
    assert np.abs(cents_between(reset[:, 0], 69, 0.8, 1.2)).max() < 0.05  # no vibrato either
    assert rms_db(reset[:, 0], 0.8, 1.2) == pytest.approx(rms_db(reset[:, 1], 0.8, 1.2), abs=0.01)
    assert {int(w.argmax()) for weights, _, _ in sines.calls for w in weights} == {0, 1}
    assert rms_db(kept[:, 1], 0.8, 1.2) < -100  # without it, still hard left


@pytest.mark.parametrize("data,resets", [(GM_ON, True), (GM2_ON, True), (GS_RESET, True), (XG_ON, True),
                                         ((0x7E, 0x11, 0x09, 0x01), False),  # another device's
                                         ((0x41, 0x11, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41), False),
                                         ((0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x40), False),  # checksum
                                         ((0x7E, 0x7F, 0x09, 0x02), False)])  # GM off: nothing, as in FluidSynth
def test_gm_gm2_gs_and_xg_resets_answer_their_device_id(sines, data, resets):
    timeline = [(0.0, cc(7, 30)), (0.0, mido.Message("pitchwheel", pitch=-8192)), (0.2, sysex(data)),
                (0.3, on(69))]
    out = play(sines, timeline, 0.6)[:, 0]
    expected = 0.0 if resets else -200.0
    assert np.median(cents_between(out, 69, 0.35, 0.55)) == pytest.approx(expected, abs=0.1)
    level = rms_db(out, 0.35, 0.55) - rms_db(play(sines, [(0.3, on(69))], 0.6)[:, 0], 0.35, 0.55)
    assert level == pytest.approx(0.0 if resets else 40 * np.log10(30 / 100), abs=0.05)


@pytest.mark.parametrize("source", ["mod wheel", "channel pressure"])
def test_the_mod_wheel_and_channel_pressure_add_the_default_modulators_vibrato(sines, source):
    def depth(value):
        msg = cc(1, value) if source == "mod wheel" else mido.Message("aftertouch", value=value)
        out = play(sines, [(0.0, on(69)), (0.5, msg)], 1.6)[:, 0]
        return cents_between(out, 69, 0.1, 0.45), cents_between(out, 69, 0.6, 0.6 + 7 / 8.176)  # whole periods

    still, shaking = depth(127)
    assert np.abs(still).max() < 0.05
    # a triangle of 50 * 127/128 cents at 8.176 Hz, centred on the key (its half-period average is a shade less)
    assert shaking.max() == pytest.approx(50 * 127 / 128, abs=1.0) and shaking.min() == pytest.approx(
        -50 * 127 / 128, abs=1.0)
    assert abs(time_mean(shaking)) < 0.5
    times, cents = pitch_track(play(sines, [(0.0, cc(1, 127) if source == "mod wheel" else
                                             mido.Message("aftertouch", value=127)), (0.0, on(69))], 1.1)[:, 0], 69)
    rising = np.flatnonzero((cents[:-1] < 0) & (cents[1:] >= 0))
    assert np.median(np.diff(times[rising])) == pytest.approx(1 / 8.176, rel=0.01)
    assert np.abs(depth(64)[1]).max() == pytest.approx(25, abs=1.0)


def test_mod_wheel_is_the_morph_controller_only_when_morphing(sines):
    out = play(sines, [(0.0, cc(1, 127)), (0.0, on(69))], 0.6, instrument=None, morph="flute,violin")[:, 0]
    assert np.abs(cents_between(out, 69, 0.1, 0.55)).max() < 0.05


def glide(out, key, start):
    """(seconds from `start` until the pitch is within 2 cents of `key` for good, the cents from `key`
    at 10 %, 50 % and 90 % of that time)."""
    times, cents = pitch_track(out, key)
    after = times >= start
    times, cents = times[after], cents[after]
    away = np.flatnonzero(np.abs(cents) > 2)
    length = times[away[-1]] - start if len(away) else 0.0
    return length, [float(np.interp(start + f * length, times, cents)) for f in (0.1, 0.5, 0.9)]


def linear_glide(length, cents, interval):
    """Whether a glide over `interval` cents ended within 2 cents after `length` seconds, linearly in cents."""
    return all(c == pytest.approx(-interval * (1 - f), abs=2 + abs(interval) * 0.002 / max(length, 1e-9))
               for f, c in zip((0.1, 0.5, 0.9), cents))


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """The sine preset with a 16 ms release: a note released as the next starts is gone before it is measured."""
    return with_releases(tmp_path_factory.mktemp("short"), [[0, 127, 0.016]])


@pytest.mark.parametrize("msb,lsb", [(3, 0), (0, 100), (1, 16)])
def test_portamento_glides_from_the_note_held_before_over_cc5_and_cc37_ms(short, msb, lsb):
    ms = msb * 128 + lsb
    timeline = [(0.0, cc(65, 127)), (0.0, cc(5, msb)), (0.0, cc(37, lsb)), (0.0, on(60)), (1.2, on(72)),
                (1.2, off(60)), (2.2, off(72))]
    out = play(short, timeline, 2.2)[:, 0]
    length, cents = glide(out, 72, 1.2)
    blocks = int(RATE * ms / 1000 / 64 + 0.5) * 64 / RATE  # FluidSynth counts it in 64-sample blocks
    assert length == pytest.approx(blocks * (1 - 2 / 1200), abs=0.003)
    assert linear_glide(length, cents, 1200), cents


def test_portamento_needs_the_note_before_held_or_remembered_and_cc84_picks_the_start(short):
    plain = [(0.0, cc(5, 3)), (0.0, on(60)), (1.2, on(72)), (1.2, off(60))]
    assert glide(play(short, plain, 1.7)[:, 0], 72, 1.2)[0] < 0.02  # portamento off (60 fades out over 16 ms)
    # FluidSynth 2.3 glides only legato: not from a note already let go, nor from one held when the last struck
    # was let go
    late = [(0.0, cc(65, 127)), (0.0, cc(5, 3)), (0.0, on(60)), (0.1, off(60)), (1.2, on(72))]
    assert glide(play(short, late, 1.7)[:, 0], 72, 1.2)[0] < 0.003
    under = [(0.0, cc(65, 127)), (0.0, cc(5, 3)), (0.0, on(60)), (0.3, on(64)), (0.5, off(64)), (1.2, on(72)),
             (1.2, off(60))]
    assert glide(play(short, under, 1.7)[:, 0], 72, 1.2)[0] < 0.02
    ptc = [(0.0, cc(5, 3)), (0.45, cc(84, 67)), (0.5, on(72))]
    length, cents = glide(play(short, ptc, 1.0)[:, 0], 72, 0.5)
    assert length == pytest.approx(0.384 * (1 - 2 / 500), abs=0.003) and linear_glide(length, cents, 500), cents


@pytest.mark.parametrize("mode", [cc(126, 1), cc(68, 127)])
def test_mono_and_legato_modes_play_one_voice_that_moves_between_held_keys(sines, mode):
    timeline = [(0.0, mode), (0.0, on(60)), (0.4, on(67)), (0.8, off(67)), (1.2, off(60)), (2.3, on(64)),
                (2.5, off(64))]
    out = play(sines, timeline, 3.0)[:, 0]
    # one sine at a time (a second voice would spoil the pitch track): 67 is played legato by 60's voice
    for (t0, t1), key in [((0.1, 0.38), 60), ((0.45, 0.78), 67), ((0.85, 1.18), 60), ((2.35, 2.48), 64)]:
        assert np.median(cents_between(out, key, t0, t1)) == pytest.approx(0.0, abs=0.1), key
    # one voice all along: no attack at 0.4 s, the level holds
    assert rms_db(out, 0.42, 0.6) == pytest.approx(rms_db(out, 0.1, 0.38), abs=0.1)


@pytest.mark.parametrize("messages,mono", [
    ([cc(126, 0, channel=0)], set(range(16))),  # on the basic channel, for its whole group
    ([cc(126, 2, channel=0)], {0, 1}),
    ([cc(126, 0, channel=3)], set()),  # not a basic channel: ignored, as in FluidSynth
    ([cc(126, 0, channel=0), cc(127, 0, channel=0)], set()),
    ([cc(124, 0, channel=0), cc(126, 0, channel=0)], set(range(16))),  # omni off mono: to the last channel
    ([cc(126, 0, channel=0), cc(124, 0, channel=0), cc(127, 0, channel=0)], set(range(1, 16))),  # a group of 1
    ([cc(126, 0, channel=0), sysex(GM_ON)], set()),  # a system reset: poly again
])
def test_mode_messages_count_on_the_basic_channel_for_its_group(sines, messages, mono):
    eng = make_engine(sines, sample_rate=RATE, cache=NoteCache(), instrument="flute")
    eng.process([(0, m) for m in messages], 256)
    chords = [(0, on(key, channel=c)) for c in range(16) if c != 9 for key in (60, 67)]
    eng.process(chords, 256)
    voices = {c: sum(v.channel == c and v.held for v in eng.voices) for c in range(16) if c != 9}
    assert voices == {c: 1 if c in mono else 2 for c in voices}


def test_mono_legato_glides_with_portamento(sines):
    timeline = [(0.0, cc(126, 1)), (0.0, cc(65, 127)), (0.0, cc(5, 3)), (0.0, on(60)), (0.5, on(72))]
    length, cents = glide(play(sines, timeline, 1.2)[:, 0], 72, 0.5)
    assert length == pytest.approx(0.384 * (1 - 2 / 1200), abs=0.003) and linear_glide(length, cents, 1200), cents


def with_releases(folder, releases):
    """The sine preset with "release_seconds" on the flute."""
    path = make_preset(folder)
    meta = json.loads((path / "preset.json").read_text())
    meta["instruments"][0]["release_seconds"] = releases
    (path / "preset.json").write_text(json.dumps(meta))
    return SinePreset.wrap(load_preset(path))


def test_each_instrument_releases_at_its_own_rate_also_on_all_notes_off(sines, tmp_path):
    # FluidSynth's release falls 96 dB over releaseVolEnv's time: 0.3 s here, so 32 dB down 0.1 s after
    # note-off; singsynth's falls as fast and ends at -60 dB
    preset = with_releases(tmp_path / "rel", [[0, 64, 0.3], [65, 127, 3.0]])
    for ending in (off(60), cc(123, 0)):
        out = play(preset, [(0.0, on(60)), (0.5, ending)], 1.0)[:, 0]
        assert rms_db(out, 0.595, 0.605) - rms_db(out, 0.3, 0.5) == pytest.approx(-32, abs=1)
        assert np.all(out[int((0.5 + 0.3 * 60 / 96) * RATE) + 1:] == 0)
    out = play(preset, [(0.0, on(69)), (0.5, off(69))], 1.0)[:, 0]  # the other key range: 3 s
    assert rms_db(out, 0.74, 0.76) - rms_db(out, 0.3, 0.5) == pytest.approx(-8, abs=0.5)
    out = play(sines, [(0.0, on(60)), (0.5, off(60))], 1.0)[:, 0]  # none given: the engine's second to -60 dB
    assert rms_db(out, 0.74, 0.76) - rms_db(out, 0.3, 0.5) == pytest.approx(-15, abs=0.5)


def test_keys_the_source_does_not_play_are_silent(tmp_path):
    path = make_preset(tmp_path / "keys")
    meta = json.loads((path / "preset.json").read_text())
    meta["instruments"][0]["source_keys"] = [0, 108]
    (path / "preset.json").write_text(json.dumps(meta))
    preset = SinePreset.wrap(load_preset(path))
    out = play(preset, [(0.0, on(108)), (0.3, off(108)), (1.5, on(109))], 2.0)[:, 0]
    assert rms_db(out, 0.05, 0.25) > -20 and rms_db(out, 1.5, 2.0) < -200


def test_a_bad_release_field_is_one_clear_error(tmp_path):
    preset = with_releases(tmp_path / "bad", [[0, 64, -1]])
    with pytest.raises(PresetError, match="sf_flute.*release -1"):
        make_engine(preset)


def test_every_controller_here_sounds_alike_in_blocks_of_any_size(sines):
    outputs = [play(sines, gm_timeline(), 1.2, block=block, master_gain=0.2) for block in (4096, 1024, 256, 7)]
    assert np.abs(outputs[0]).max() > 0.01
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=1e-6)


def test_random_messages_of_every_kind_play_through_alike_in_any_block_size(sines):
    """Mono and legato switched on and off under held keys, glides from keys long gone, tuning, vibrato and resets
    in between: no error, and the same output whatever the blocks."""
    rng = np.random.default_rng(7)
    controls = [1, 5, 37, 65, 68, 84, 121, 123, 124, 125, 126, 127, 6, 38, 98, 99, 100, 101, 64, 7]
    timeline = []
    for _ in range(600):
        t, channel = float(rng.uniform(0, 1.5)), int(rng.integers(0, 4))
        kind = rng.integers(0, 10)
        if kind < 5:
            key = int(rng.integers(20, 120))
            timeline += [(t, on(key, int(rng.integers(1, 128)), channel)),
                         (t + float(rng.uniform(0.001, 0.3)), off(key, channel))]
        elif kind < 9:
            timeline.append((t, cc(int(rng.choice(controls)), int(rng.integers(0, 128)), channel)))
        elif rng.integers(0, 2):
            timeline.append((t, mido.Message("aftertouch", channel=channel, value=int(rng.integers(0, 128)))))
        else:
            timeline.append((t, sysex([GM_ON, GS_RESET, XG_ON, GM2_ON][int(rng.integers(0, 4))])))
    timeline.sort(key=lambda e: e[0])
    # polyphony enough that no voice is stolen or cut: resets fade every voice as all sound off does, and floods
    # of all sound off at a low polyphony make the output depend on the block size (CC120 alike)
    outputs = [play(sines, timeline, 2.0, block=block, instrument=None, master_gain=0.05) for block in (4096, 512, 61)]
    assert np.abs(outputs[0]).max() > 0.01
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=1e-6)
