"""How far end-to-end training has gone through its notes, carried from a preset into the run that goes on from it.

Pass e over the training notes visits them in one fixed permutation (seeded by the run's seed and e). A run started
from a preset (--init) that records where the last run stopped in that permutation, for the same notes, seed and
batch size, starts there: every note is seen once before any is seen again. Without the record, each run from a
preset began pass 0 again and saw the same first notes of it every time, however many runs were carried on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

POSITION_KEY = "data_position"  # in a preset's training record


@dataclass(frozen=True)
class DataPosition:
    seed: int
    epoch: int  # the end-to-end pass, counted over every run carried on from one another
    step: int  # batches of that pass done (per process)
    train_notes: int  # notes a pass visits (a drum kit's repeated ones counted each time)
    batch_size: int  # per process

    def to_dict(self) -> dict:
        return asdict(self)

    def normalised(self, batches: int) -> DataPosition:
        """A pass whose every batch is done is the next pass, at its start."""
        if self.step < batches:
            return self
        return DataPosition(self.seed, self.epoch + 1, 0, self.train_notes, self.batch_size)


def recorded_position(training: dict | None) -> DataPosition | None:
    """The position a preset's training record holds; None when it holds none or one that is not whole numbers."""
    raw = (training or {}).get(POSITION_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        values = {name: raw[name] for name in DataPosition.__dataclass_fields__}
    except KeyError:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values.values()):
        return None
    return DataPosition(**values)


def where_to_go_on(position: DataPosition | None, seed: int, train_notes: int, batch_size: int,
                   batches: int) -> tuple[int, int]:
    """(pass, step) where a run from a preset starts: where the last run stopped, when it went through the same
    notes with the same seed and batch size; else (0, 0), the first pass from its start."""
    if position is None or (position.seed, position.train_notes, position.batch_size) != (seed, train_notes,
                                                                                             batch_size):
        return 0, 0
    position = position.normalised(batches)
    return position.epoch, position.step


def pass_notes(train_index: torch.Tensor, drums: torch.Tensor, repeats: int) -> torch.Tensor:
    """The training notes one end-to-end pass visits: every note once, a drum kit's `repeats` times. Each key of a
    kit is a sound of its own with a handful of notes (FluidR3's kit: 5 per key, where a piano's neighbouring keys
    all teach it the piano), so a pass that visits each note once teaches the kit's sounds least of all."""
    if repeats <= 1 or not bool(drums.any()):
        return train_index
    return torch.cat([train_index] + [train_index[drums]] * (repeats - 1))
