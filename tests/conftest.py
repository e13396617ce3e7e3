"""Shared fixtures: the General MIDI SoundFont, a tiny real preset (on disk and loaded), and a small NSynth-format
data set rendered once per session with the real FluidSynth."""
from __future__ import annotations

from pathlib import Path

import pytest

SOUNDFONT = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")


@pytest.fixture(scope="session")
def soundfont_file() -> Path:
    """FluidR3 Mono, the General MIDI SoundFont the shipped presets learnt from, as a file to read."""
    if not SOUNDFONT.is_file():
        pytest.skip(f"{SOUNDFONT} not installed (Debian package fluid-soundfont-gm / fluidr3mono-gm-soundfont)")
    return SOUNDFONT


@pytest.fixture(scope="session")
def soundfont(soundfont_file: Path) -> Path:
    """The SoundFont, with FluidSynth's Python binding to render it."""
    pytest.importorskip("fluidsynth")
    return soundfont_file


@pytest.fixture(scope="session")
def tiny_preset_dir(tmp_path_factory) -> Path:
    """A real preset folder (safetensors + JSON) with random sing-unittest weights: flute, violin and a drum kit
    (engine_fixtures.make_preset). Shared: tests only read it."""
    from engine_fixtures import make_preset
    return make_preset(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="module")
def tiny_preset(tiny_preset_dir: Path):
    """tiny_preset_dir loaded, once a test module: a module may set its flags or wrap it."""
    from singsynth.preset import load_preset
    return load_preset(tiny_preset_dir)


@pytest.fixture(scope="session")
def rendered_dataset(soundfont: Path, tmp_path_factory) -> Path:
    """Piano and violin at pitches 58..62 plus drum keys 58..62, velocities 25 and 127: 30 notes."""
    from singsynth.train.soundfont import render_dataset
    out = tmp_path_factory.mktemp("rendered")
    render_dataset([soundfont], out, programs=[0, 40], drums=True, pitches=(58, 62), velocities=(25, 127),
                   jobs=1, progress=False)
    return out


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """Two synthetic harmonic instruments, pitches 55..62, velocities 50 and 100 (tests/synthetic.py): no
    FluidSynth needed. Shared: tests only read it."""
    from synthetic import make_nsynth
    return make_nsynth(tmp_path_factory.mktemp("nsynth"))
