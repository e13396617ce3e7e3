"""The playing engine: loop, held decay, release, pedal, controllers, bend, programs, drums, stealing, limiter,
batching.

Most checks use SinePreset (tests/engine_fixtures.py), a test double whose notes are sines at the
note's pitch: the voice logic is then measurable. Batching, streaming and clipping also run the real
(random-weight) tiny SING model.
"""
import logging
import time

import mido
import numpy as np
import pytest
from engine_fixtures import INSTRUMENTS, SinePreset, cc, midi_hz, off, on, sine_preset

from singsynth.synth.cache import NoteCache
from singsynth.synth.cpu_load import WINDOW, VoiceBudget
from singsynth.synth.engine import Engine, EngineConfig, InstrumentError, make_engine, make_live_engine
from singsynth.synth.live_supply import LiveSupply
from singsynth.synth.planner import NotePlanner
from singsynth.synth.schedule import Schedule, play_through

RATE = 48000


@pytest.fixture(scope="module")
def sines(tmp_path_factory):
    return sine_preset(tmp_path_factory.mktemp("sine"))


@pytest.fixture(scope="module")
def real(tiny_preset):
    # float32 throughout: the tests compare whole notes with streamed ones, which are float32 (model/precision.py)
    preset = tiny_preset
    preset.full_precision = True
    return preset


def engine(preset, **kwargs) -> Engine:
    kwargs.setdefault("cache", NoteCache())
    return make_engine(preset, sample_rate=kwargs.pop("sample_rate", RATE), **kwargs)


def live_engine(preset, **kwargs) -> Engine:
    """A live engine generating in a thread of this process."""
    kwargs.setdefault("cache", NoteCache())
    return make_live_engine(preset, sample_rate=kwargs.pop("sample_rate", RATE), **kwargs)


def play(eng: Engine, timeline, seconds: float, block: int = 1024) -> np.ndarray:
    """Timed events [(seconds, msg)] -> the engine's output over `seconds`."""
    out, total = [], int(seconds * eng.sample_rate)
    play_through(eng, Schedule(timeline, eng.sample_rate, block, frames=total), out.append)
    return np.concatenate(out)[:total]


def rms(x: np.ndarray, t0: float, t1: float, rate: int = RATE) -> float:
    seg = x[int(t0 * rate):int(t1 * rate)]
    return float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))


def max_step(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=0)).max())


def sine_step_bound(x: np.ndarray, pitch: int, t0: float = 0.5, t1: float = 1.0) -> float:
    """The largest sample-to-sample change a clean sine at the level measured in [t0, t1) has, with the
    room an equal-power crossfade needs (up to sqrt(2) louder)."""
    peak = float(np.abs(x[int(t0 * RATE):int(t1 * RATE)]).max())
    return 1.5 * 2 * np.pi * midi_hz(pitch) / RATE * peak


def f0(x: np.ndarray, t0: float, t1: float, rate: int = RATE) -> float:
    seg = x[int(t0 * rate):int(t1 * rate)].astype(np.float64)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 8 * len(seg)))
    k = int(spec.argmax())
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / (8 * len(seg))


def test_held_note_loops_past_the_model_note_without_discontinuity(sines):
    # 466 Hz: the 1.4 s loop is not a whole number of periods, so a plain jump would click
    out = play(engine(sines, instrument="flute"), [(0.0, on(70)), (8.0, off(70))], 8.0)[:, 0]
    steady = rms(out, 0.5, 1.0)
    assert steady > 0.05
    for t in np.arange(0.5, 7.8, 0.2):  # a 4 s note would be silent after 4 s
        assert rms(out, t, t + 0.2) > 0.5 * steady, f"level drops at {t:.1f} s"
    assert max_step(out[int(0.02 * RATE):]) < sine_step_bound(out, 70)
    assert f0(out, 4.4, 5.6) == pytest.approx(midi_hz(70), rel=1e-3)  # between two loop splices


class FadingSines(SinePreset):
    """Notes whose level changes steadily by `db_per_second` (a piano's falls about 12 dB a second),
    made of three partials, each nudged (by under 0.4 Hz) to a whole number of periods plus a quarter
    over the engine's 1.4 s loop: the equal-power crossfade then neither swells nor dips, so any change
    of level at the loop is the decay's doing. SING's 10 ms attack and 1 s release."""

    db_per_second = -12.0
    loop_seconds = 1.4

    def _notes(self, weights, pitch, velocity) -> np.ndarray:
        t = np.arange(self.model.config.note_samples) / self.sample_rate
        env = np.clip(t / 0.01, 0, 1) * np.clip((4.0 - t) / 1.0, 0, 1) * 10 ** (self.db_per_second * t / 20)
        notes = []
        for p, v in zip(np.asarray(pitch, dtype=np.float64), np.asarray(velocity, dtype=np.float64)):
            periods = [np.floor(k * midi_hz(p) * self.loop_seconds) + 0.25 for k in (1, 2, 3)]
            tone = sum(np.sin(2 * np.pi * m / self.loop_seconds * t) / k for k, m in enumerate(periods, 1))
            notes.append(0.3 * v / 127 * env * tone)
        return np.array(notes, dtype=np.float32)


def levels(x: np.ndarray, t0: float, t1: float, window: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The level in dB of each `window` from t0 to t1, and the windows' centres in seconds."""
    width, first = round(window * RATE), round(t0 * RATE)
    count = (round(t1 * RATE) - first) // width
    windows = x[first:first + count * width].astype(np.float64).reshape(count, width)
    return 10 * np.log10(np.mean(windows ** 2, axis=1)), t0 + (np.arange(count) + 0.5) * window


@pytest.mark.parametrize("bend", [0, 3000])  # bent: read between samples, alone and in a bank
def test_a_decaying_note_held_past_its_end_decays_on_without_pulsing(sines, bend):
    rate = 2 ** (2 * bend / 8192 / 12)
    timeline = [(0.0, mido.Message("pitchwheel", pitch=bend)), (0.0, on(60)), (10.0, off(60))]
    out = play(engine(FadingSines.wrap(sines), instrument="flute"), timeline, 10.0)[:, 0]
    level, _ = levels(out, 1.0, 10.0)
    assert np.diff(level).max() < 0.5  # no swell back up at each pass of the loop
    before, centres = levels(out, 0.5, 2.9 / rate)  # the note as generated, before any loop
    slope, offset = np.polyfit(centres, before, 1)
    assert slope == pytest.approx(-12.0 * rate, rel=0.05)
    at8, _ = levels(out, 8.0, 8.05)
    assert at8[0] == pytest.approx(slope * 8.025 + offset, abs=2.0)  # the decay goes on as it began


@pytest.mark.parametrize("bend", [0, 3000])
def test_a_steady_note_held_past_its_end_holds_its_level(sines, bend):
    steady = FadingSines.wrap(sines)
    steady.db_per_second = 0.0
    timeline = [(0.0, mido.Message("pitchwheel", pitch=bend)), (0.0, on(60)), (10.0, off(60))]
    out = play(engine(steady, instrument="flute"), timeline, 10.0)[:, 0]
    level, _ = levels(out, 1.0, 10.0)
    at2, _ = levels(out, 2.0, 2.05)
    assert np.abs(level - at2[0]).max() < 0.5


def test_early_note_off_fades_over_the_release_without_a_click(sines):
    eng = engine(sines, instrument="flute", release=0.5)
    out = play(eng, [(0.0, on(69)), (1.0, off(69))], 2.0)[:, 0]
    before, after = rms(out, 0.98, 1.0), rms(out, 1.0, 1.02)
    assert after == pytest.approx(before, rel=0.2)  # no step down at the note-off
    assert rms(out, 1.2, 1.3) < 0.5 * before  # but it is fading
    assert np.all(out[int(1.51 * RATE):] == 0)
    assert max_step(out[int(0.02 * RATE):]) < sine_step_bound(out, 69)
    assert eng.idle


def test_note_on_with_velocity_zero_is_a_note_off(sines):
    eng = engine(sines, instrument="flute", release=0.2)
    out = play(eng, [(0.0, on(69)), (0.5, on(69, velocity=0))], 1.0)[:, 0]
    assert rms(out, 0.3, 0.5) > 0.05 and np.all(out[int(0.75 * RATE):] == 0)


def test_sustain_pedal_holds_released_keys_until_lifted(sines):
    eng = engine(sines, instrument="flute", release=0.2)
    out = play(eng, [(0.0, cc(64, 127)), (0.0, on(69)), (0.3, off(69)), (2.0, cc(64, 0))], 3.0)[:, 0]
    assert rms(out, 1.8, 2.0) == pytest.approx(rms(out, 0.1, 0.3), rel=0.05)
    assert np.all(out[int(2.25 * RATE):] == 0)


def test_all_notes_off_releases_keys_but_pedal_held_notes_wait_for_the_pedal(sines):
    eng = engine(sines, instrument="flute", release=0.2)
    # channel 1 hard left with the pedal down, channel 2 hard right without
    timeline = [(0.0, cc(10, 0, 0)), (0.0, cc(10, 127, 1)), (0.0, cc(64, 127, 0)),
                (0.0, on(69, channel=0)), (0.0, on(72, channel=1)),
                (0.5, cc(123, 0, 0)), (0.5, cc(123, 0, 1)), (2.0, cc(64, 0, 0))]
    out = play(eng, timeline, 3.0)
    left, right = out[:, 0], out[:, 1]
    assert rms(right, 0.2, 0.4) > 0.05 and np.all(right[int(0.75 * RATE):] == 0)
    assert rms(left, 1.5, 2.0) == pytest.approx(rms(left, 0.2, 0.4), rel=0.05)
    assert np.all(left[int(2.25 * RATE):] == 0)


def test_all_sound_off_silences_within_ten_milliseconds_without_a_click(sines):
    eng = engine(sines, instrument="flute")
    out = play(eng, [(0.0, cc(64, 127)), (0.0, on(69)), (0.0, on(36, channel=9)), (0.5, cc(120, 0)),
                     (0.5, cc(120, 0, channel=9))], 1.0)
    assert rms(out[:, 0], 0.3, 0.5) > 0.05
    assert np.all(out[int(0.51 * RATE):] == 0)
    assert max_step(out[int(0.02 * RATE):, 0]) < 0.05
    assert eng.idle


def test_engine_level_all_sound_off_and_all_notes_off(sines):
    eng = engine(sines, instrument="flute", release=0.1)
    play(eng, [(0.0, on(69)), (0.0, on(72, channel=3))], 0.2)
    eng.all_notes_off()
    assert not np.all(eng.process([], 1024) == 0)
    play(eng, [], 0.2)
    assert eng.idle
    play(eng, [(0.0, on(69))], 0.2)
    eng.all_sound_off()
    play(eng, [], 0.02)
    assert eng.idle


def test_pitch_bend_tuning_and_rpn_bend_range_shift_f0(sines):
    out = play(engine(sines, instrument="flute"),
               [(0.0, on(69)), (1.0, mido.Message("pitchwheel", pitch=8191))], 2.0)[:, 0]
    assert f0(out, 0.2, 0.9) == pytest.approx(440.0, rel=1e-3)
    assert f0(out, 1.1, 1.9) == pytest.approx(midi_hz(69 + 2 * 8191 / 8192), rel=1e-3)
    # RPN 0 sets the range to 12 semitones: half a bend up is a tritone
    rpn = [cc(101, 0), cc(100, 0), cc(6, 12), cc(38, 0)]
    out = play(engine(sines, instrument="flute"),
               [(0.0, m) for m in rpn] + [(0.0, mido.Message("pitchwheel", pitch=4096)), (0.0, on(69))], 1.0)[:, 0]
    assert f0(out, 0.2, 0.9) == pytest.approx(midi_hz(75), rel=1e-3)
    out = play(engine(sines, instrument="flute", tuning_a4=432.0), [(0.0, on(69))], 1.0)[:, 0]
    assert f0(out, 0.2, 0.9) == pytest.approx(432.0, rel=1e-3)


def test_volume_expression_and_pan_are_smooth_and_equal_power(sines):
    eng = engine(sines, instrument="flute")
    out = play(eng, [(0.0, on(69)), (0.5, cc(7, 127)), (0.7, cc(11, 40)), (0.9, cc(10, 127))], 1.2)
    assert max_step(out[int(0.02 * RATE):, 0]) < sine_step_bound(out[:, 0], 69, 0.55, 0.65)
    centre = rms(out[:, 0], 0.2, 0.4)
    assert rms(out[:, 1], 0.2, 0.4) == pytest.approx(centre, rel=1e-3)
    assert rms(out[:, 0], 0.55, 0.65) / centre == pytest.approx((127 / 100) ** 2, rel=0.01)
    assert rms(out[:, 0], 1.0, 1.2) < 1e-6  # panned hard right
    assert rms(out[:, 1], 1.0, 1.2) == pytest.approx(rms(out[:, 0], 0.75, 0.85) * np.sqrt(2), rel=0.01)


def test_program_change_picks_gm_program_else_family_else_nearest_with_one_warning(sines, caplog):
    eng = engine(sines)
    caplog.set_level(logging.WARNING)
    timeline = [(0.0, mido.Message("program_change", channel=0, program=73)), (0.0, on(72, channel=0)),
                (0.0, mido.Message("program_change", channel=1, program=41)), (0.0, on(72, channel=1)),
                (0.1, on(74, channel=1)), (0.2, on(76, channel=1)),
                (0.0, mido.Message("program_change", channel=2, program=75)), (0.0, on(72, channel=2)),
                (0.0, mido.Message("program_change", channel=3, program=60)), (0.0, on(72, channel=3))]
    sines.calls.clear()
    play(eng, timeline, 0.3)
    generated = {(int(w.argmax()), p) for weights, pitches, _ in sines.calls for w, p in zip(weights, pitches)}
    # 73 Flute exact; 41 Viola -> Violin (strings); 75 Pan Flute -> Flute (pipe); 60 French Horn -> nearest (Flute)
    assert generated == {(0, 72), (1, 72), (1, 74), (1, 76)}
    warnings = [r.getMessage() for r in caplog.records if "GM program" in r.getMessage()]
    assert len(warnings) == 3 and sum("program 41" in w for w in warnings) == 1


def test_drums_are_one_shot_and_channel_10_ignores_the_instrument_override(sines, caplog):
    eng = engine(sines, instrument="flute")
    sines.calls.clear()
    caplog.set_level(logging.WARNING)
    out = play(eng, [(0.0, on(36, channel=9)), (0.1, off(36, channel=9)), (0.2, on(20, channel=9)),
                     (0.3, on(20, channel=9))], 4.5)[:, 0]
    weights = [w for ws, _, _ in sines.calls for w in ws]
    assert len(weights) == 1 and int(weights[0].argmax()) == 2  # the kit, not the flute; key 20 never generated
    assert rms(out, 1.0, 2.0) > 0.05  # the note-off at 0.1 s did not cut it
    assert np.all(out[int(4.05 * RATE):] == 0) and eng.idle  # it ends with the note
    assert sum("outside the kit" in r.getMessage() for r in caplog.records) == 1


def test_no_drum_kit_makes_channel_10_silent_with_one_warning(sines, caplog):
    eng = engine(type(sines).wrap(sines, INSTRUMENTS[:2]))
    caplog.set_level(logging.WARNING)
    out = play(eng, [(0.0, on(36, channel=9)), (0.1, on(38, channel=9))], 0.3)
    assert np.all(out == 0)
    assert sum("no drum kit" in r.getMessage() for r in caplog.records) == 1


def test_notes_outside_the_range_play_at_their_own_pitch_from_the_nearest_learnt_note(sines, caplog):
    eng = engine(sines, instrument="flute")  # flute learnt 60..96
    sines.calls.clear()
    caplog.set_level(logging.WARNING)
    out = play(eng, [(0.0, on(45)), (0.2, off(45)), (0.3, on(45)), (1.5, off(45)), (1.6, on(108))], 2.6)[:, 0]
    assert sorted({p for _, pitches, _ in sines.calls for p in pitches}) == [60, 96]
    assert f0(out, 0.05, 0.2) == pytest.approx(midi_hz(45), rel=1e-3)  # not an octave away
    assert f0(out, 0.5, 1.4) == pytest.approx(midi_hz(45), rel=1e-3)
    assert f0(out, 1.8, 2.5) == pytest.approx(midi_hz(108), rel=1e-3)
    assert sum("note 45 played from note 60" in r.getMessage() for r in caplog.records) == 1


def test_voice_stealing_takes_released_voices_first_then_the_oldest(sines):
    eng = engine(sines, instrument="flute", polyphony=3)
    play(eng, [(0.0, on(60)), (0.01, on(62)), (0.02, on(64)), (0.03, off(62)), (0.04, on(65))], 0.1)
    assert sorted(v.key for v in eng.voices) == [60, 64, 65]
    play(eng, [(0.0, on(67))], 0.1)
    assert sorted(v.key for v in eng.voices) == [64, 65, 67]
    # one voice: the stolen note fades out over 5 ms instead of stopping dead mid-cycle
    eng = engine(sines, instrument="flute", polyphony=1)
    out = play(eng, [(0.0, on(60)), (0.1, on(67))], 0.2)[:, 0]
    assert [v.key for v in eng.voices] == [67]
    assert max_step(out[int(0.02 * RATE):]) < sine_step_bound(out, 60, 0.05, 0.1) * midi_hz(67) / midi_hz(60)


def test_morph_sweeps_between_two_instruments_in_quantised_steps(sines):
    eng = engine(sines, morph="flute,violin")
    sines.calls.clear()
    play(eng, [(0.0, on(70)), (0.1, cc(1, 64)), (0.1, on(72)), (0.2, cc(1, 127)), (0.2, on(74))], 0.3)
    weights = {p: tuple(np.round(w, 3)) for ws, ps, _ in sines.calls for w, p in zip(ws, ps)}
    assert weights == {70: (1.0, 0.0, 0.0), 72: (0.5, 0.5, 0.0), 74: (0.0, 1.0, 0.0)}


def test_bad_instrument_specs_are_refused(sines):
    with pytest.raises(InstrumentError, match="no instrument 'tuba'"):
        engine(sines, instrument="tuba")
    with pytest.raises(InstrumentError):
        engine(sines, instrument="flute", morph="flute,violin")


def test_a_loud_chord_of_the_real_model_never_clips(real):
    eng = engine(real, instrument="violin", master_gain=1000.0)
    out = play(eng, [(0.0, on(p, 127)) for p in range(60, 84)], 1.0)
    assert np.abs(out).max() < 1.0
    assert np.abs(out).max() > 0.9  # the limiter leaves it loud, only never over


def test_every_note_of_a_block_is_generated_in_one_batch(sines):
    eng = engine(sines, instrument="flute")
    sines.calls.clear()
    eng.process([(i * 10, on(60 + i)) for i in range(6)], 1024)
    assert len(sines.calls) == 1 and len(sines.calls[0][1]) == 6
    assert eng.stats["generated"] == 6 and eng.stats["voices"] == 6


def test_live_mode_streams_cold_notes_from_a_worker_thread(real):
    reference = engine(real, instrument="violin")
    reference.preload([(0, on(67, 90)), (0, on(71, 90))])
    live = live_engine(real, instrument="violin")
    try:
        live.process([(0, on(67, 90)), (0, on(71, 90))], 256)
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while live.stats["pending"] and time.monotonic() < deadline:
            live.process([], 256)
            time.sleep(0.01)
        assert live.stats["pending"] == 0 and live.stats["generated"] == 2
        for key in list(reference.cache._notes):
            streamed, generated = live.cache.get(key), reference.cache.get(key)
            assert streamed is not None and streamed.done
            np.testing.assert_allclose(streamed.data, generated.data, atol=1e-3 * np.abs(generated.data).max())
        assert np.abs(live.process([], 4096)).max() > 0
    finally:
        live.close()


def test_a_flood_of_note_ons_in_one_block_keeps_voices_and_the_batch_bounded(sines):
    eng = engine(sines, instrument="flute", polyphony=4)
    sines.calls.clear()
    flood = [(0, on(60 + i % 37, 1 + (i * 7) % 127)) for i in range(300)]
    eng.process(flood, 16)  # 16 frames: the stolen voices are still fading out after the block
    assert len(eng.voices) <= 8
    assert len([v for v in eng.voices if not v.killed]) == 4
    assert len(sines.calls[0][1]) <= 4  # the block's batch holds only notes that can still sound
    for _ in range(1000):  # all-notes-off from another thread, again and again: it counts once
        eng.all_notes_off()
    assert eng.requests == ("notes",)
    play(eng, [], 1.5)
    assert eng.idle  # nothing left hanging


def test_the_wait_for_first_chunks_plans_a_block_once_however_often_it_asks(sines):
    """The producer asks again and again, while a block waits, whether its cold notes have their first chunk: the
    block's events are planned once, and the check then turns true when the note arrives."""
    cache = NoteCache()
    live = Engine(sines, EngineConfig(RATE), NotePlanner(sines, "flute", None, 1, cache.velocity_steps),
                  LiveSupply(sines, cache, RATE, process=False))
    try:
        planned = []
        keys = live._keys
        live._keys = lambda events: planned.append(len(events)) or keys(events)
        events = [(0, on(64)), (0, cc(7, 90)), (3, on(65))]
        live.prefetch(on(64))
        live.prefetch(on(65))
        ready = live.first_chunks(events)
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.002)
        assert ready() and planned == [3] and live.notes_ready(events)
    finally:
        live.close()


def test_a_live_cold_note_is_planned_once(sines):
    """The MIDI thread plans a note-on when it arrives (prefetch), the producer when it waits for its first
    chunk (notes_ready) and the block when it starts the voice: the plan is made once and looked up after."""
    cache = NoteCache()
    planner = NotePlanner(sines, "flute", None, 1, cache.velocity_steps)
    made = []
    plan = planner._plan
    planner._plan = lambda *args: made.append(args) or plan(*args)
    live = Engine(sines, EngineConfig(RATE), planner,
                  LiveSupply(sines, cache, RATE, process=False))
    try:
        live.prefetch(on(64))
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while not live.notes_ready([(0, on(64))]) and time.monotonic() < deadline:
            time.sleep(0.01)
        live.process([(0, on(64))], 256)
        assert len(live.voices) == 1 and len(made) == 1
    finally:
        live.close()


def test_live_generation_waits_for_a_bounded_number_of_notes_and_drops_the_rest(sines, monkeypatch, caplog):
    import threading

    from singsynth.synth import generator
    monkeypatch.setattr(generator, "MAX_PENDING", 8)
    gate = threading.Event()
    gated = type(sines).wrap(sines)
    real_stream = gated.stream

    def stream(*args, **kwargs):
        gate.wait(60)  # the model is busy: nothing arrives until the gate opens
        yield from real_stream(*args, **kwargs)
    gated.stream = stream
    caplog.set_level(logging.WARNING)
    live = live_engine(gated, instrument="flute")
    try:
        for block in range(10):
            live.process([(0, on(60 + i, 20 + 10 * block)) for i in range(30)], 64)
            assert live.stats["pending"] <= 8
        assert live.stats["dropped"] > 0
        assert sum("cannot keep up" in r.getMessage() for r in caplog.records) == 1
        gate.set()
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while live.stats["pending"] and time.monotonic() < deadline:
            live.process([], 256)
            time.sleep(0.01)
        assert live.stats["pending"] == 0
        live.process([(0, cc(123, 0))], 64)
        play(live, [], 1.5)
        assert live.idle
    finally:
        gate.set()
        live.close()


def test_channels_mix_as_the_sum_of_each_played_alone(sines):
    """Each channel keeps its own place in the stereo field: played together, channels with steady gains (mixed
    in one product) and one whose volume ramps meanwhile sound as the sum of each played alone."""
    parts = {0: [(0.0, cc(10, 0, 0)), (0.0, on(60, 100, 0))],
             3: [(0.0, cc(10, 127, 3)), (0.0, cc(7, 50, 3)), (0.1, on(67, 90, 3))],
             5: [(0.0, cc(10, 90, 5)), (0.05, on(64, 110, 5)), (0.4, cc(7, 20, 5)), (0.6, cc(11, 90, 5))]}
    alone = [play(engine(sines, master_gain=0.1), timeline, 1.0) for timeline in parts.values()]
    together = play(engine(sines, master_gain=0.1), [e for timeline in parts.values() for e in timeline], 1.0)
    assert all(np.abs(x[:, 0] - x[:, 1]).max() > 0.2 * np.abs(x).max() > 0 for x in alone)  # each off centre
    np.testing.assert_allclose(together, sum(alone), atol=1e-6)


def test_output_does_not_depend_on_the_block_size_with_events_on_many_channels(sines):
    """Events reach each voice at its own offset: the result must not depend on how blocks split them."""
    rng = np.random.default_rng(3)
    timeline = []
    for i in range(120):
        t, channel, key = float(rng.uniform(0, 1.2)), int(rng.integers(0, 16)), int(rng.integers(48, 72))
        timeline += [(t, on(key, int(rng.integers(30, 127)), channel)),
                     (t + float(rng.uniform(0.01, 0.4)), off(key, channel))]
    timeline += [(0.3, cc(7, 60, 2)), (0.5, cc(10, 20, 4)), (0.6, cc(64, 127, 5)), (0.9, cc(64, 0, 5)),
                 (0.4, mido.Message("pitchwheel", channel=6, pitch=3000)), (1.0, cc(123, 0, 7))]
    outputs = [play(engine(sines, polyphony=24, master_gain=0.05), timeline, 2.0, block=block)
               for block in (4096, 256, 7)]
    assert np.abs(outputs[0]).max() > 0.01
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=1e-6)


def test_dense_bends_gain_changes_and_notes_on_one_channel_do_not_depend_on_the_block_size(sines):
    """Events reach each voice at its own offset and bends and gains are per-sample curves: a block
    holding many of them must sound as the same events spread one per tiny block."""
    rng = np.random.default_rng(5)
    timeline = []
    for i in range(80):
        t, key = float(rng.uniform(0, 0.8)), int(rng.integers(48, 72))
        timeline += [(t, on(key, int(rng.integers(30, 127)))), (t + float(rng.uniform(0.002, 0.3)), off(key))]
    timeline += [(float(t), mido.Message("pitchwheel", pitch=int(rng.integers(-8192, 8192))))
                 for t in rng.uniform(0, 1.2, 300)]
    timeline += [(float(t), cc(int(rng.choice([7, 10, 11])), int(rng.integers(0, 128)))) for t in rng.uniform(0, 1.2, 200)]
    timeline += [(0.5, cc(64, 127)), (0.7, cc(64, 0)), (0.9, cc(120, 0))]
    outputs = [play(engine(sines, instrument="flute", polyphony=12, master_gain=0.05), timeline, 1.5, block=block)
               for block in (4096, 256, 7)]
    assert np.abs(outputs[0]).max() > 0.01
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=1e-6)


def test_a_flood_of_random_events_at_a_low_polyphony_plays_through(sines):
    """Stealing and cutting voices in blocks dense with events on every channel (this once raised
    from the cut of a voice that had just ended)."""
    rng = np.random.default_rng(1)
    eng = engine(sines, polyphony=16, master_gain=0.05)
    kinds = [lambda c: on(int(rng.integers(40, 90)), int(rng.integers(1, 128)), c),
             lambda c: off(int(rng.integers(40, 90)), c),
             lambda c: cc(int(rng.choice([7, 10, 11, 64, 120, 121, 123])), int(rng.integers(0, 128)), c),
             lambda c: mido.Message("pitchwheel", channel=c, pitch=int(rng.integers(-8192, 8192)))]
    for _ in range(300):
        events = [(int(o), kinds[int(rng.choice(4, p=[.4, .25, .2, .15]))](int(rng.integers(0, 16))))
                  for o in sorted(rng.integers(0, 256, int(rng.integers(0, 40))))]
        out = eng.process(events, 256)
        assert np.isfinite(out).all() and np.abs(out).max() < 1
        assert len([v for v in eng.voices if not v.killed]) <= 16 and len(eng.voices) <= 32
    eng.process([(0, cc(123, 0, c)) for c in range(16)] + [(0, cc(64, 0, c)) for c in range(16)], 256)
    play(eng, [], 1.5)
    assert eng.idle


def test_live_prefetch_starts_a_cold_note_before_its_block(sines):
    live = live_engine(sines, instrument="flute")
    try:
        live.prefetch(on(62, 90))
        live.prefetch(on(62, 0))  # a note-off: nothing to fetch
        assert live.stats["pending"] == 1 and live.stats["voices"] == 0
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while live.stats["pending"] and time.monotonic() < deadline:
            time.sleep(0.01)
        live.process([(0, on(62, 90))], 256)
        assert live.stats["cache_hits"] == 1 and live.stats["generated"] == 1
        assert np.abs(live.process([], 4096)).max() > 0
    finally:
        live.close()
    render = engine(sines, instrument="flute")
    render.prefetch(on(62, 90))
    assert render.stats["pending"] == 0 and render.stats["generated"] == 0


def test_all_notes_off_fades_drum_hits_and_notes_released_while_still_generating(sines):
    import threading
    gate = threading.Event()
    gated = type(sines).wrap(sines)
    real_stream = gated.stream

    def stream(*args, **kwargs):
        gate.wait(60)  # the model is busy: the notes arrive only after the keys are let go
        yield from real_stream(*args, **kwargs)
    gated.stream = stream
    live = live_engine(gated, instrument="flute", release=0.5)
    try:
        live.process([(0, on(60 + i)) for i in range(6)] + [(0, on(36, channel=9))], 256)
        live.process([(0, cc(123, 0)), (0, cc(123, 0, channel=9))], 256)
        play(live, [], 0.7)  # longer than the release while nothing has arrived
        gate.set()
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while live.stats["pending"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert live.stats["pending"] == 0
        assert np.abs(play(live, [], 0.5)).max() == 0 and live.idle  # released in the wait: never heard
    finally:
        gate.set()
        live.close()
    drums = engine(sines)
    out = play(drums, [(0.0, on(36, channel=9)), (0.5, off(36, channel=9)), (1.0, cc(123, 0, channel=9))], 3.0)
    assert rms(out, 0.6, 0.9) > 0.05  # a note-off leaves the hit alone
    assert np.all(out[int(2.05 * RATE):] == 0) and drums.idle  # all notes off fades it over the release (1 s)


def test_live_voices_over_the_load_limit_fade_out_as_stolen_ones(sines):
    budget = VoiceBudget(64, share=0.0, floor=8)  # every block takes longer than its budget
    config = EngineConfig(RATE, polyphony=64)
    cache = NoteCache()
    live = Engine(sines, config, NotePlanner(sines, "violin", None, 1, cache.velocity_steps),
                  LiveSupply(sines, cache, RATE, process=False), budget)
    try:
        chord = [on(key, 100) for key in range(55, 85)]
        for message in chord:
            live.prefetch(message)
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while live.stats["pending"] and time.monotonic() < deadline:
            time.sleep(0.01)
        live.process([(0, m) for m in chord], 256)
        for _ in range(WINDOW - 1):  # the limit is judged on a window of blocks
            live.process([], 256)
        assert live.voice_limit == int(30 * 0.75) and live.shed == 0
        live.process([], 128)  # the 8 voices over the limit fade out over 5 ms (240 samples), as stolen ones do
        assert live.shed == 8 and sum(v.killed for v in live.voices) == 8 and len(live.voices) == 30
        for _ in range(100):
            live.process([], 256)
        assert live.voice_limit == 8 and live.stats["voices"] == 8 and live.shed == 22
        assert live.stats["lowest_voice_limit"] == 8
        # quick blocks again: the limit climbs back to the polyphony
        budget.share, budget.calm = 1e9, 1e9
        for _ in range(100):
            live.process([], 256)
        assert live.voice_limit == 64 and live.shed == 22
    finally:
        live.close()
