"""Training on from a preset goes on through the training notes where the last run stopped (train/data_order.py):
every note is seen once before any is seen again, however the runs are split."""

import pytest
from test_warm_start import train_args

from singsynth.cli import main
from singsynth.preset import load_preset
from singsynth.train.data_order import DataPosition, recorded_position, where_to_go_on


@pytest.fixture(scope="module")
def fresh(synthetic_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("fresh")
    assert main(train_args(synthetic_data, root / "preset", root / "ck", epochs="0,0,1")) == 0
    return root / "preset"


def recording_steps(monkeypatch, stop_after=None):
    """Record the training notes of every end-to-end step; stop the run (as Ctrl-C would) after `stop_after`."""
    from singsynth.train.solver import Trainer
    step = Trainer._step_end_to_end
    seen = []

    def recorded(self, batch):
        if stop_after is not None and len(seen) == stop_after:
            raise KeyboardInterrupt
        seen.append(batch["index"].tolist())
        return step(self, batch)
    monkeypatch.setattr(Trainer, "_step_end_to_end", recorded)
    return seen


def test_a_preset_records_where_its_training_stopped(fresh):
    position = recorded_position(load_preset(fresh).meta["training"])
    assert position is not None and (position.seed, position.epoch, position.step, position.batch_size) == (0, 1, 0, 4)


def test_runs_carried_on_from_one_another_see_every_note_once_before_any_twice(
        synthetic_data, fresh, tmp_path, monkeypatch):
    # a run from the preset stopped after two steps of its pass, written as it stood
    first = recording_steps(monkeypatch, stop_after=2)
    stopped = train_args(synthetic_data, tmp_path / "a", tmp_path / "ck", "--init", str(fresh),
                         "--checkpoint-every", "0", epochs="0,0,1")
    assert main(stopped) == 130
    monkeypatch.undo()
    assert main(train_args(synthetic_data, tmp_path / "a", tmp_path / "ck", "--init", str(fresh),
                           epochs="0,0,0")) == 0
    position = recorded_position(load_preset(tmp_path / "a").meta["training"])
    assert (position.epoch, position.step) == (1, 2)

    # the next run, from that preset, picks the pass up at its third step and finishes it
    rest = recording_steps(monkeypatch)
    assert main(train_args(synthetic_data, tmp_path / "b", tmp_path / "ck2", "--init", str(tmp_path / "a"),
                           epochs="0,0,1")) == 0
    notes = [i for batch in first + rest for i in batch]
    assert len(first) == 2 and len(rest) >= 1
    assert sorted(notes) == sorted(set(notes)), "a note was seen twice within one pass"
    assert len(notes) == position.train_notes, "the pass left notes out"
    after = recorded_position(load_preset(tmp_path / "b").meta["training"])
    assert (after.epoch, after.step) == (2, 0)


def test_a_position_for_other_notes_seed_or_batch_starts_the_first_pass():
    here = DataPosition(seed=0, epoch=3, step=5, train_notes=100, batch_size=4)
    assert where_to_go_on(here, 0, 100, 4, batches=25) == (3, 5)
    assert where_to_go_on(here, 0, 100, 4, batches=5) == (4, 0)  # its pass was done
    assert where_to_go_on(here, 1, 100, 4, batches=25) == (0, 0)
    assert where_to_go_on(here, 0, 101, 4, batches=26) == (0, 0)
    assert where_to_go_on(here, 0, 100, 8, batches=13) == (0, 0)
    assert where_to_go_on(None, 0, 100, 4, batches=25) == (0, 0)


@pytest.mark.parametrize("raw", [None, "pass 3", {"seed": 0, "epoch": 1}, {"seed": 0, "epoch": -1, "step": 0,
                                 "train_notes": 4, "batch_size": 4}, {"seed": 0, "epoch": 1.5, "step": 0,
                                 "train_notes": 4, "batch_size": 4}, {"seed": True, "epoch": 1, "step": 0,
                                 "train_notes": 4, "batch_size": 4}])
def test_a_record_that_is_not_a_position_is_none(raw):
    assert recorded_position({"data_position": raw}) is None


def test_drum_repeats_visit_each_kit_note_that_many_times_a_pass():
    import torch

    from singsynth.train.data_order import pass_notes
    train = torch.arange(6)
    drums = torch.tensor([False, True, False, False, True, False])
    notes = pass_notes(train, drums, 3)
    assert sorted(notes.tolist()) == [0, 1, 1, 1, 2, 3, 4, 4, 4, 5]
    assert torch.equal(pass_notes(train, drums, 1), train)
    assert torch.equal(pass_notes(train, torch.zeros(6, dtype=torch.bool), 4), train)


def test_a_run_with_drum_repeats_visits_the_kit_more_and_records_its_pass(synthetic_data, tmp_path, monkeypatch):
    """The synthetic data has no kit: a kit made of its second instrument shows the repeats in a real run."""
    import dataclasses

    from singsynth.train import data as data_module
    real = data_module.NSynthData.__init__

    def second_is_a_kit(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self.instruments[1] = dataclasses.replace(self.instruments[1], drums=True)
    monkeypatch.setattr(data_module.NSynthData, "__init__", second_is_a_kit)
    seen = recording_steps(monkeypatch)
    assert main(train_args(synthetic_data, tmp_path / "p", tmp_path / "ck", "--drum-repeats", "3",
                           epochs="0,0,1")) == 0
    position = recorded_position(load_preset(tmp_path / "p").meta["training"])
    notes = [i for batch in seen for i in batch]
    assert len(notes) == position.train_notes and len(set(notes)) < len(notes)


def test_drum_repeats_below_one_are_refused_in_one_line(synthetic_data, tmp_path, capsys):
    assert main(train_args(synthetic_data, tmp_path / "p", tmp_path / "ck", "--drum-repeats", "0")) == 2
    assert "--drum-repeats must be at least 1" in capsys.readouterr().err
