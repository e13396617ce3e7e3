"""Progress bars: tqdm's where one is shown; where none is, a stand-in, so that a quiet command does not import
tqdm (about 25 ms of its start-up)."""
from __future__ import annotations


class NoBar:
    """What a hidden bar is used for: a context that counts nothing."""

    def __enter__(self) -> "NoBar":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, n: float = 1) -> None:
        pass


def progress_bar(shown: bool, **settings):
    """tqdm(**settings) when `shown`, else a NoBar."""
    if not shown:
        return NoBar()
    from tqdm import tqdm
    return tqdm(**settings)
