"""One package logger and an MNE-style ``verbose`` switch (library code never prints).

Log lines go to stderr, except in a Jupyter kernel: there JupyterLab draws every stderr line in a
pink box, which a student reads as an error, so lines below WARNING (the chapters' ``INFO``
progress) go to stdout and show as plain text; warnings and errors stay on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator


def _in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel (ipykernel's shell), False in a terminal, IPython or a script."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _ConsoleHandler(logging.StreamHandler):
    """stderr, as :class:`logging.StreamHandler`; in a notebook kernel, INFO and DEBUG to stdout."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or not _in_notebook_kernel():
            super().emit(record)
            return
        try:
            sys.stdout.write(self.format(record) + self.terminator)
            sys.stdout.flush()
        except Exception:  # as StreamHandler does: report, never raise from logging
            self.handleError(record)


logger = logging.getLogger("emolab")
if not logger.handlers:
    _handler = _ConsoleHandler()
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
