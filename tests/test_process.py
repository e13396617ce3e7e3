"""Process settings in one place: what a command or a live session changes in the process is put back on exit."""
import gc
import signal
import sys
import threading

import pytest
from engine_fixtures import THIRD_PARTY_MIDI, make_preset

from singsynth import process
from singsynth.cli import main
from singsynth.process import ProcessSettings, settings

torch = pytest.importorskip("torch")


def test_every_setting_is_put_back_on_exit():
    threads, interval = torch.get_num_threads(), sys.getswitchinterval()
    handler = signal.getsignal(signal.SIGTERM)
    frozen = gc.get_freeze_count()
    stop = threading.Event()
    with ProcessSettings() as changed:
        assert settings() is changed
        changed.set_torch_threads(threads + 1)
        changed.set_torch_threads(threads + 2)  # a second change: the first value is still the one put back
        changed.hand_over_gil_often()
        changed.catch_signals(stop)
        changed.freeze_garbage()
        changed.keep_freed_memory()
        changed.quiet_alsa()
        assert torch.get_num_threads() == threads + 2
        assert sys.getswitchinterval() == min(interval, process.LIVE_SWITCH_INTERVAL)
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
        assert gc.get_freeze_count() > frozen
    assert settings() is not changed
    assert torch.get_num_threads() == threads and sys.getswitchinterval() == interval
    assert signal.getsignal(signal.SIGTERM) is handler
    assert gc.get_freeze_count() == 0


def test_a_nested_context_puts_back_only_its_own_changes():
    threads = torch.get_num_threads()
    with ProcessSettings() as outer:
        outer.set_torch_threads(threads + 1)
        with ProcessSettings() as inner:
            assert settings() is inner
            inner.set_torch_threads(threads + 3)
        assert torch.get_num_threads() == threads + 1 and settings() is outer
    assert torch.get_num_threads() == threads


def test_a_render_leaves_torch_threads_as_they_were(tmp_path):
    """render's GenerationThreads sets torch's threads before each batch; the command puts them back."""
    preset = make_preset(tmp_path / "tiny")
    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)
    try:
        assert main(["render", str(THIRD_PARTY_MIDI[0]), "-o", str(tmp_path / "o.wav"), "--preset", str(preset),
                     "--no-disk-cache", "--quiet", "--rate", "16000", "--threads", str(before + 2)]) == 0
        assert torch.get_num_threads() == before + 1
    finally:
        torch.set_num_threads(before)
