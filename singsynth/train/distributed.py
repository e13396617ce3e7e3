"""Where a training process runs: alone, or as one rank of several under torchrun (NCCL on CUDA, else gloo)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn


@dataclass(frozen=True)
class Process:
    """Where this training process runs: its rank among `world` processes (torchrun) and its device."""
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module as this process trains it: shared with the other ranks through DDP where there are any."""
        if self.world > 1:
            return nn.parallel.DistributedDataParallel(
                module, device_ids=[self.device] if self.device.type == "cuda" else None)
        return module


@contextmanager
def training_process(device: str = "cpu") -> Iterator[Process]:
    """This process's place in the run: under torchrun it joins the process group (NCCL on CUDA, else gloo)
    and leaves it on the way out; alone it is rank 0 of 1. Yields a Process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    joined = False
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        joined = True
    if device.startswith("cuda") and world > 1:
        where = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(where)
    else:
        where = torch.device(device)
    try:
        yield Process(rank, world, where)
    finally:
        if joined:
            torch.distributed.destroy_process_group()
