"""What every chapter prints about itself: how long it took to run, on what."""

from __future__ import annotations

import os
import time

import torch

__all__ = ["ChapterClock"]


class ChapterClock:
    """Measures a chapter's run time: create it in the set-up cell, print it in the last cell.

    >>> clock = ChapterClock()
    >>> print(clock)                                   # doctest: +SKIP
    This chapter ran in 1 min 23 s on this machine (2 CPUs, no GPU).
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds since the clock was created."""
        return time.perf_counter() - self.start

    def __str__(self) -> str:
        s = self.seconds
        took = f"{int(s // 60)} min {s % 60:.0f} s" if s >= 60 else f"{s:.1f} s"
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        return f"This chapter ran in {took} on this machine ({os.cpu_count()} CPUs, {gpu})."
