"""One package logger and an MNE-style ``verbose`` switch (library code never prints)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

logger = logging.getLogger("emolab")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(levelname)s [emolab] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _to_level(verbose: bool | str | int | None) -> int:
    if verbose is None or verbose is True:
        return logging.INFO
    if verbose is False:
        return logging.WARNING
    if isinstance(verbose, str):
        level = logging.getLevelName(verbose.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown log level {verbose!r}; use DEBUG, INFO, WARNING or ERROR")
        return level
    return int(verbose)


def set_log_level(verbose: bool | str | int | None = "INFO") -> None:
    """Set emolab's log level (``True``/``"INFO"``, ``False``/``"WARNING"``, ``"DEBUG"`` …)."""
    logger.setLevel(_to_level(verbose))


@contextlib.contextmanager
def use_log_level(verbose: bool | str | int | None) -> Iterator[None]:
    """Temporarily change the log level inside a ``with`` block (``None`` keeps the current one)."""
    if verbose is None:
        yield
        return
    old = logger.level
    logger.setLevel(_to_level(verbose))
    try:
        yield
    finally:
        logger.setLevel(old)
