"""Without PortAudio or a MIDI library the package still imports, trains and renders; live commands say why not."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Run in a fresh interpreter where sounddevice, rtmidi and jack cannot be imported, as on a machine without
# those system libraries (there sounddevice raises OSError; here ImportError: both are handled the same).
PRELUDE = "import sys; sys.modules.update(sounddevice=None, rtmidi=None, jack=None); from singsynth.cli import main; "


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=120)


def test_import_and_info_work_without_audio_or_midi_libraries():
    result = run("import singsynth.train.solver, singsynth.synth.engine, singsynth.synth.live; sys.exit(main(['info', '--config', 'sing-tiny']))")
    assert result.returncode == 0, result.stderr
    assert "parameters:" in result.stdout


def test_ports_says_there_is_no_audio_output():
    result = run("sys.exit(main(['ports']))")
    assert result.returncode == 0, result.stderr
    assert "Audio outputs: none" in result.stdout and "singsynth render" in result.stdout


def test_listen_without_audio_exits_2_suggesting_render():
    result = run("sys.exit(main(['listen', '--virtual', 'x', '--quiet']))")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "render" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux") or Path("/dev/snd/seq").exists(),
                    reason="needs Linux without an ALSA sequencer (no /dev/snd/seq), as in a container")
def test_without_an_alsa_sequencer_midi_errors_are_one_line_with_the_jack_hint():
    """The real rtmidi and alsa-lib, on a machine without /dev/snd/seq: alsa-lib's own stderr line is silenced
    and what singsynth says points to the JACK backend."""
    code = "import sys; from singsynth.cli import main; sys.exit(main(['ports']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k != "MIDO_BACKEND"})
    assert result.returncode == 0, result.stderr
    assert "ALSA lib" not in result.stderr + result.stdout
    assert "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK" in result.stdout
