"""A wheel built from the repository carries the shipped presets, and an installed singsynth finds them from any
folder (only an editable install can see the repository's presets/ itself)."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, timeout=300)
    return next(out.glob("singsynth-*.whl"))


def test_the_wheel_holds_every_shipped_preset(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p.name for p in (REPO / "presets").iterdir() if (p / "preset.json").is_file()]
    assert shipped
    for preset in shipped:
        for f in ("preset.json", "model.safetensors"):
            assert f"singsynth/presets/{preset}/{f}" in names


def test_installed_from_the_wheel_it_loads_the_default_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import singsynth, singsynth.preset as p; print(singsynth.__file__); "
            "print(p.load_preset('default').name, ','.join(p.list_presets()))")
    # -S leaves out site-packages, the editable install among them; torch and the rest come back through the path
    paths = [str(site)] + [p for p in sys.path if p.endswith("site-packages")]
    done = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {paths!r}; {code}"],
                          cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    where, listed = done.stdout.splitlines()
    assert where.startswith(str(site))
    assert listed.split()[0] == "default" and "default" in listed.split()[1].split(",")
