"""Without PortAudio or a MIDI library the package still imports, trains and renders; live commands say why not."""
import subprocess
import sys

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
