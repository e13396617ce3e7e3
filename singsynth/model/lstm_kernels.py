"""Which LSTM kernels a CPU call runs on: the quickest for its size and precision."""
from __future__ import annotations

import contextlib
import threading

import torch

# oneDNN's CPU LSTM costs about 10 ms a call whatever its size (it lays out all the weights again), and pays
# that back only on large calls: up to this many notes x steps, torch's own kernels are quicker (a cold note's
# first 14 steps: 5.6 ms against 12.6 on one core; a later 2-step chunk: 1.9 against 10.5).
SMALL_LSTM_WORK = 48
_onednn_switch = threading.Lock()


@contextlib.contextmanager
def lstm_kernels(batch: int, steps: int, device: torch.device, bfloat16: bool = False):
    """The LSTM kernels that are quickest for this call on the CPU: oneDNN's switched off while a small float32
    call runs, and on while a bfloat16 one does (torch's own bfloat16 kernels are 4 to 20 times slower past one
    note). The setting is the process's: such calls switch it under a lock, and a large float32 call in another
    thread meanwhile runs on the kernels set (slower or quicker, the same result)."""
    if device.type != "cpu" or (not bfloat16 and batch * steps > SMALL_LSTM_WORK):
        yield
        return
    with _onednn_switch:
        enabled = torch._C._get_mkldnn_enabled()
        torch._C._set_mkldnn_enabled(bfloat16)
        try:
            yield
        finally:
            torch._C._set_mkldnn_enabled(enabled)
