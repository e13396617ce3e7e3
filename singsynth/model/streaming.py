"""Notes generated chunk by chunk, at a preset's loudness: one batch of the model's stream (SING.stream_chunk).

Streams at the same step of their notes can merge into one batch, so that notes started at different moments
share the LSTM's steps from then on; a batch splits into one stream a note (a note's start made ahead).
"""
from __future__ import annotations

import numpy as np
import torch

from .sing import SING, StreamState, split_state, stack_states


class NoteStream:
    def __init__(self, model: SING, state: StreamState, gains: torch.Tensor):
        """gains: each note's loudness [B, 1] (Preset.gains)."""
        self.model = model
        self.state = state
        self.gains = gains

    def __len__(self) -> int:
        return self.state.conditioning.shape[0]

    @property
    def step(self) -> int:
        """LSTM steps made so far: streams at the same step can merge."""
        return self.state.step

    @property
    def done(self) -> bool:
        return self.model.stream_done(self.state)

    def first_chunk_steps(self, frames: int) -> int:
        """The steps of a first chunk holding `frames` frames of the note (SING.first_chunk_steps)."""
        return self.model.first_chunk_steps(frames)

    def chunk(self, steps: int) -> np.ndarray:
        """The next `steps` steps: float32 [B, n], the note samples now final (n may be 0)."""
        with torch.inference_mode():
            out = self.model.stream_chunk(self.state, steps)
            return (out * self.gains).float().cpu().numpy()

    def split(self) -> list[NoteStream]:
        return [NoteStream(self.model, state, self.gains[i:i + 1].clone())
                for i, state in enumerate(split_state(self.state))]

    @staticmethod
    def merge(streams: list[NoteStream]) -> NoteStream:
        """One batch of streams at the same step (ValueError otherwise)."""
        if len(streams) == 1:
            return streams[0]
        return NoteStream(streams[0].model, stack_states([s.state for s in streams]),
                          torch.cat([s.gains for s in streams]))
