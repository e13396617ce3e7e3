"""Shared fixtures: a small NSynth-format data set rendered once per session with the real FluidSynth."""
from __future__ import annotations

from pathlib import Path

import pytest

SOUNDFONT = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")


@pytest.fixture(scope="session")
def soundfont() -> Path:
    pytest.importorskip("fluidsynth")
    if not SOUNDFONT.is_file():
        pytest.skip(f"{SOUNDFONT} not installed (Debian package fluid-soundfont-gm / fluidr3mono-gm-soundfont)")
    return SOUNDFONT


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
