"""End to end in a real JACK server: MIDI into `singsynth listen`, its audio recorded, compared with render."""
from __future__ import annotations

import re
import signal
import subprocess
import time

import mido
import numpy as np
import pytest
from jack_helpers import (
    SINGSYNTH,
    JackServer,
    Rig,
    jackd_available,
    log_spectrum,
    make_tiny_preset,
    onsets,
    read_recording,
)

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd is not installed (Debian: jackd2)")

RATE = 48_000
# (seconds, pitch, velocity, GM program) of each note; a note is held HOLD seconds, then its 1 s
# release fades it out before the next one starts
NOTES = [(0.3, 60, 100, 73), (1.8, 67, 40, 40), (3.3, 55, 127, 0), (4.8, 72, 70, 73)]
HOLD = 0.3
RECORD_SECONDS = 6.0
SEGMENT = 0.2  # seconds of each note compared, from its onset


def note_messages() -> list[tuple[float, mido.Message]]:
    events = []
    for channel, (start, pitch, velocity, program) in enumerate(NOTES):
        events.append((start - 0.1, mido.Message("program_change", channel=channel, program=program)))
        events.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((start + HOLD, mido.Message("note_off", channel=channel, note=pitch)))
    return sorted(events, key=lambda e: e[0])


def write_midi(path, events: list[tuple[float, mido.Message]]) -> None:
    """Seconds -> a one-track file at 120 bpm and 480 ticks per beat (1 tick = 1/960 s)."""
    track = mido.MidiTrack()
    now = 0
    for seconds, message in events:
        tick = round(seconds * 960)
        track.append(message.copy(time=tick - now))
        now = tick
    mido.MidiFile(tracks=[track], ticks_per_beat=480).save(path)


@pytest.fixture(scope="module")
def jack():
    server = JackServer(rate=RATE).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return make_tiny_preset(tmp_path_factory.mktemp("preset") / "tiny")


def render_reference(preset, tmp_path, env) -> np.ndarray:
    midi_path = tmp_path / "notes.mid"
    write_midi(midi_path, note_messages())
    wav_path = tmp_path / "notes.wav"
    done = subprocess.run([*SINGSYNTH, "render", str(midi_path), "-o", str(wav_path),
                           "--preset", str(preset), "--rate", str(RATE), "--no-disk-cache", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    audio, rate = read_recording(wav_path)
    assert rate == RATE
    return audio


def test_listen_plays_each_note_once_in_order_as_render_does(jack, preset, tmp_path):
    env = {**jack.env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    listen = subprocess.Popen([*SINGSYNTH, "listen", "--virtual", "keys",
                               "--preset", str(preset), "--quiet"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rig = None
    try:
        rig = Rig(jack, RECORD_SECONDS)
        midi_in = rig.wait_for_ports("singsynth:keys", 60, listen, is_midi=True, is_input=True)[0]
        audio_out = rig.wait_for_ports("singsynth-out:", 60, listen, is_audio=True, is_output=True)
        rig.connect(midi_in, audio_out)
        sent = [(round(t * RATE), bytes(m.bytes())) for t, m in note_messages()]
        # the first time, notes are generated while they play (how fast depends on the machine's load);
        # the second time they come from the note cache, sample for sample what render makes
        cold = rig.play(sent, timeout=60)
        # the last note's release runs past the recording (later still when its note came late): let it end
        # before the second pass, whose first note would otherwise be heard over it
        time.sleep(2.0)
        recorded = rig.play(sent, timeout=60)
    finally:
        if rig is not None:
            rig.close()
        if listen.poll() is None:
            listen.send_signal(signal.SIGTERM)
        _, stderr = listen.communicate(timeout=30)
    assert listen.returncode == 0, stderr
    assert "underruns" in stderr, "the summary line is missing"
    assert "0 MIDI messages dropped" in stderr and "note cache" in stderr, "the flood report is missing"
    assert re.search(r"\d+ voices faded early to keep up \(voice limit down to \d+ of 256\)", stderr), \
        "the voice limit report is missing"

    starts = [round(n[0] * RATE) for n in NOTES] + [len(recorded)]
    for k in range(len(NOTES)):
        assert np.abs(cold[starts[k]:starts[k + 1]]).max() > 0, f"cold note {k} was never heard"

    reference = render_reference(preset, tmp_path, env)
    loudest = np.abs(reference).max()
    assert loudest > 1e-3, "the reference render is silent"
    threshold = 0.02 * loudest
    heard = onsets(recorded, RATE, threshold, min_gap=0.3)
    expected = onsets(reference, RATE, threshold, min_gap=0.3)
    assert len(expected) == len(NOTES), f"render: {expected}"
    assert len(heard) == len(NOTES), f"onsets at frames {heard} for notes sent at {[n[0] * RATE for n in NOTES]}"
    # in order, each after its own note-on and before the next one
    for k, frame in enumerate(heard):
        assert starts[k] <= frame < starts[k + 1], f"note {k} sounded at frame {frame}"

    n = int(SEGMENT * RATE)
    live = [log_spectrum(recorded[o:o + n].mean(axis=1)) for o in heard]
    offline = [log_spectrum(reference[o:o + n].mean(axis=1)) for o in expected]
    similarity = np.array([[a @ b for b in offline] for a in live])
    assert (similarity.argmax(axis=1) == np.arange(len(NOTES))).all(), np.round(similarity, 4)
    assert similarity.diagonal().min() > 0.9, np.round(similarity, 4)
    for o, e in zip(heard, expected):
        ratio = np.sqrt(np.mean(recorded[o:o + n] ** 2) / np.mean(reference[e:e + n] ** 2))
        assert 0.7 < ratio < 1.4, f"live level / render level = {ratio:.2f}"


def test_ports_lists_jack_midi_and_audio_and_a_wrong_port_exits_2(jack, preset):
    rig = Rig(jack, 0.1, name="keyboard")
    try:
        listed = subprocess.run([*SINGSYNTH, "ports"], env=jack.env,
                                capture_output=True, text=True, timeout=60)
        wrong = subprocess.run([*SINGSYNTH, "listen", "--port", "no-such-keyboard",
                                "--preset", str(preset), "--quiet"], env=jack.env, capture_output=True, text=True,
                               timeout=60)
    finally:
        rig.close()
    assert listed.returncode == 0, listed.stderr
    assert "keyboard:midi_out" in listed.stdout
    assert "JACK Audio Connection Kit" in listed.stdout
    assert wrong.returncode == 2
    message = wrong.stderr.strip().splitlines()[-1]
    assert "no-such-keyboard" in message and "keyboard:midi_out" in message, wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_play_sounds_each_note_of_a_file_in_order(jack, preset, tmp_path):
    # the first two notes, a second later: time to connect to play's ports once they appear
    events = [(t + 1.0, m) for t, m in note_messages() if t < 2.5]
    midi_path = tmp_path / "two.mid"
    write_midi(midi_path, events)
    rig = Rig(jack, 4.0, name="listener")
    env = {**jack.env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    try:
        play = subprocess.Popen([*SINGSYNTH, "play", str(midi_path), "--preset",
                                 str(preset), "--preload", "--quiet"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        audio_out = rig.wait_for_ports("singsynth-out:", 60, play, is_audio=True, is_output=True)
        for source, port in zip(audio_out, rig.inputs):
            rig.client.connect(source, port)
        recorded = rig.play([], timeout=60)
        _, stderr = play.communicate(timeout=60)
    finally:
        rig.close()
    assert play.returncode == 0, stderr
    assert "underruns" in stderr and "voices faded early to keep up" in stderr
    heard = onsets(recorded, RATE, 0.02 * np.abs(recorded).max(), min_gap=0.3)
    assert len(heard) == 2, heard
    gap = (NOTES[1][0] - NOTES[0][0]) * RATE
    assert heard[1] - heard[0] > gap / 2, "the second note came too soon after the first"


def test_play_rings_on_with_the_reverb_after_the_last_note(jack, preset, tmp_path):
    """The effects run live (in the mixer thread, kernels loaded before the audio starts): a channel sending to a
    long reverb still sounds a second after its note's release has ended, where the dry channel is silent."""
    events = [(1.0, mido.Message("control_change", channel=0, control=91, value=127))]
    events += [(1.0, mido.Message("note_on", channel=0, note=72, velocity=110)),
               (1.2, mido.Message("note_off", channel=0, note=72))]
    midi_path = tmp_path / "one.mid"
    write_midi(midi_path, events)
    tails = {}
    for name, extra in (("dry", ["--no-reverb"]), ("wet", ["--reverb-room", "0.9"])):
        rig = Rig(jack, 6.0, name=f"listener-{name}")
        env = {**jack.env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        try:
            play = subprocess.Popen([*SINGSYNTH, "play", str(midi_path), "--preset", str(preset), "--preload",
                                     "--quiet", *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            audio_out = rig.wait_for_ports("singsynth-out:", 60, play, is_audio=True, is_output=True)
            for source, port in zip(audio_out, rig.inputs):
                rig.client.connect(source, port)
            recorded = rig.play([], timeout=60)
            _, stderr = play.communicate(timeout=60)
        finally:
            rig.close()
        assert play.returncode == 0, stderr
        heard = onsets(recorded, RATE, 0.02 * np.abs(recorded).max(), min_gap=0.3)
        assert len(heard) == 1, (name, heard)
        # the note is released 0.2 s after its onset and its 1 s release ends by 1.3 s: look 0.5 s later
        start = heard[0] + int(1.8 * RATE)
        tails[name] = np.abs(recorded[start:start + RATE // 2]).max() / np.abs(recorded).max()
    assert tails["dry"] < 1e-3 < tails["wet"], tails
