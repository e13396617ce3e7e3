"""Measuring a preset's levels again without training it (train/recalibrate.py): the instruments the data holds get
the corrections calibration measures now; every other field and instrument stays as it was."""
import json

import pytest
import torch

from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, load_preset, save_preset
from singsynth.train.calibration import calibration_notes, measure_levels
from singsynth.train.data import NSynthData
from singsynth.train.recalibrate import main


@pytest.fixture
def preset_with_an_extra_instrument(synthetic_data, tmp_path):
    data = NSynthData(synthetic_data)
    extra = Instrument(len(data.instruments), "Elsewhere", "elsewhere", 5)
    instruments = list(data.instruments) + [extra]
    torch.manual_seed(0)
    sing = SING(get_config("sing-unittest", n_instruments=len(instruments), decoder="harmonic")).eval()
    folder = save_preset(tmp_path / "p", sing, instruments, {"name": "p"})
    meta = json.loads((folder / "preset.json").read_text())
    for entry in meta["instruments"]:
        entry["level_db"] = {"100": 3.0}
        entry["release_seconds"] = [[0, 127, 0, 127, 0.25]]
    (folder / "preset.json").write_text(json.dumps(meta))
    return folder, data


def test_the_data_instruments_get_todays_levels_and_the_rest_is_kept(preset_with_an_extra_instrument, capsys):
    folder, data = preset_with_an_extra_instrument
    assert main([str(folder), str(data.root)]) == 0
    assert "2 instrument(s)" in capsys.readouterr().out
    after = json.loads((folder / "preset.json").read_text())["instruments"]
    expected = {i.id: i.levels.to_dict() for i in measure_levels(load_preset(folder), data, calibration_notes(data))
                if i.index < 2}
    for entry in after[:2]:
        assert {k: v for k, v in entry.items() if k.endswith("level_db")} == expected[entry["id"]]
        assert entry["release_seconds"] == [[0, 127, 0, 127, 0.25]]
    assert after[2]["level_db"] == {"100": 3.0} and after[2]["release_seconds"] == [[0, 127, 0, 127, 0.25]]


def test_a_missing_data_folder_is_one_line_and_changes_nothing(preset_with_an_extra_instrument, tmp_path, capsys):
    folder, _ = preset_with_an_extra_instrument
    before = (folder / "preset.json").read_text()
    assert main([str(folder), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert (folder / "preset.json").read_text() == before
