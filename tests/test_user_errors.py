"""One user-error path: every module's error for what a user got wrong is a UsageError, turned into one line and
exit code 2 by cli.main() alone; one device check; the live options checked once."""
import ast
import importlib
from pathlib import Path

import pytest
from engine_fixtures import THIRD_PARTY_MIDI

import singsynth.commands
from singsynth.cli import main
from singsynth.errors import SettingError, UsageError

USER_ERRORS = [("singsynth.io.midi", "MidiError"), ("singsynth.io.wav", "AudioFileError"),
               ("singsynth.io.audio", "AudioDeviceError"), ("singsynth.io.midi_ports", "MidiPortError"),
               ("singsynth.io.sf2", "SoundFontError"), ("singsynth.preset", "PresetError"),
               ("singsynth.preset.sf2", "SoundFontError"), ("singsynth.synth.instruments", "InstrumentError"),
               ("singsynth.train.data", "DataError"), ("singsynth.train.checkpoint", "CheckpointError"),
               ("singsynth.train.warm_start", "WarmStartError")]


@pytest.mark.parametrize("module, name", USER_ERRORS, ids=lambda x: x)
def test_each_module_error_is_a_usage_error(module, name):
    assert issubclass(getattr(importlib.import_module(module), name), UsageError)


def test_the_commands_raise_the_one_type():
    assert singsynth.commands.UsageError is UsageError


def test_no_command_rewraps_an_error_itself():
    """`except XError as exc: raise UsageError(str(exc))` is cli.main()'s work; only a library ValueError that
    the command knows to be the user's (train/solver.py's data checks) is still reworded where it is caught."""
    rewraps = []
    for path in sorted(Path(singsynth.commands.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = ast.unparse(node.type)
                raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise) and n.exc is not None
                          and "UsageError" in ast.unparse(n.exc)]
                if raises and caught not in ("ValueError", "OSError", "ImportError"):
                    rewraps.append(f"{path.name}:{node.lineno} except {caught}")
    assert rewraps == []


def test_engine_and_effects_settings_are_setting_errors():
    from singsynth.synth.effects import ReverbSettings
    from singsynth.synth.engine import EngineConfig
    with pytest.raises(SettingError, match="reverb room"):
        ReverbSettings(room=2.0)
    with pytest.raises(SettingError, match="polyphony"):
        EngineConfig(polyphony=0)


@pytest.mark.parametrize("command", [["note", "--instrument", "flute", "-o", "x.wav"],
                                     ["render", str(THIRD_PARTY_MIDI[0]), "-o", "x.wav"]])
def test_cuda_without_a_device_is_one_line(command, capsys, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    monkeypatch.chdir(tmp_path)
    assert main(command + ["--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"singsynth {command[0]}: error: --device cuda: no CUDA device is available here; "
                   "use --device cpu"]


@pytest.mark.parametrize("command", ["eval", "train"])
def test_unknown_device_is_one_line(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = ["--out", "p"] if command == "train" else []
    assert main([command, "--data", str(tmp_path), "--device", "gpu", *out]) == 2
    assert capsys.readouterr().err.strip() == f"singsynth {command}: error: --device gpu: use cpu or cuda"


def test_listen_checks_its_options_once(monkeypatch, capsys):
    from singsynth.commands import _live
    calls = []
    original = _live.generation_threads
    monkeypatch.setattr(_live, "generation_threads", lambda threads: calls.append(threads) or original(threads))

    def no_audio(args):
        raise UsageError("no audio output here")
    monkeypatch.setattr("singsynth.commands.listen.output_device", no_audio)
    assert main(["listen", "--threads", "1"]) == 2
    assert calls == [1]
    assert capsys.readouterr().err.strip() == "singsynth listen: error: no audio output here"


def test_bad_live_option_is_told_before_any_device_is_opened(monkeypatch, capsys):
    opened = []
    monkeypatch.setattr("singsynth.commands.listen.output_device", lambda args: opened.append(1))
    assert main(["listen", "--reverb-room", "2"]) == 2
    assert opened == []
    assert "--reverb-room 2.0 is out of range" in capsys.readouterr().err
