"""The one way emolab starts worker processes: the store build, the synthetic generator, the sweep.

Every parallel step of the package (:func:`emolab.store.build_store`'s subjects,
:func:`emolab.data.synthetic.generate_synthetic`'s participants, :func:`emolab.train.sweep.run_sweep`'s
cells) gets its processes from :func:`process_pool`, a `loky
<https://github.com/joblib/loky>`_ process pool (shipped inside joblib, which scikit-learn
requires).  Why loky and not :mod:`multiprocessing`'s ``spawn`` or ``forkserver``:

* Its workers start as fresh interpreters that do **not** import the caller's main module.
  ``spawn`` and ``forkserver`` re-run a script's top level in every worker, so a plain script that
  calls ``prepare_segments`` without an ``if __name__ == "__main__":`` guard dies with
  multiprocessing's bootstrapping ``RuntimeError`` (or a ``BrokenProcessPool``), and a script piped
  to ``python -`` cannot be re-run at all.  Loky sends functions defined in ``__main__`` by value
  (cloudpickle) instead.
* Nothing is forked from the caller, so OpenMP and OpenCV thread pools that already ran (a notebook
  that trained a model) cannot hang a child, as they can after ``fork``.
* The workers see the caller's ``sys.path``, so factories named by dotted path
  (``"test_sweep:toy_data"``) import in the workers as they do in the caller.

What a worker computes does not depend on how it was started, so results are identical whatever
the number of workers (the callers' tests check it).  Each worker may be given a number of torch
threads (``torch_threads``), set before any job runs.  When joblib is missing, :func:`process_pool`
logs why and returns a pool that runs each job in this process as it is submitted.

This module sits at the bottom of the package: it imports nothing of emolab but the logger.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from emolab._logging import logger

__all__ = ["InProcessPool", "default_threads", "pid_alive", "process_pool"]


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # Linux: a zombie is a dead sweep whose parent has not reaped it yet
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def default_threads(n_workers: int) -> int:
    """Torch threads per worker when ``n_workers`` share this machine: ``cpu_count // n_workers``,
    at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, int(n_workers)))


def _start_worker(torch_threads: int | None, log_level: int, initializer: Callable | None, initargs: tuple) -> None:
    """Runs once in each worker before its first job: log level, torch threads, the caller's set-up."""
    logger.setLevel(log_level)
    if torch_threads is not None:
        import torch

        torch.set_num_threads(int(torch_threads))
    if initializer is not None:
        initializer(*initargs)


class InProcessPool(Executor):
    """An :class:`~concurrent.futures.Executor` that runs each job in this process when it is
    submitted (the fallback of :func:`process_pool`); the initializer runs once, at creation."""

    def __init__(self, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> None:
        if initializer is not None:
            initializer(*initargs)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def process_pool(
    n_workers: int,
    *,
    torch_threads: int | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
    what: str = "jobs",
) -> Executor:
    """A pool of ``n_workers`` worker processes (or, when none can be started, of this process).

    Use it as a context manager (``with process_pool(2) as pool: pool.submit(...)``); leaving the
    block waits for the jobs and ends the workers.  The pool is a
    :class:`concurrent.futures.Executor` (``submit``, ``map``; its futures work with
    :func:`concurrent.futures.as_completed` and :func:`concurrent.futures.wait`).

    Parameters
    ----------
    n_workers : int
        Worker processes (at least 1).
    torch_threads : int or None
        Torch intra-op threads of each worker, set before its first job (``None``: torch's
        default; the workers import torch only when this is set or a job does).
    initializer, initargs
        ``initializer(*initargs)`` runs once in each worker after the thread setting (it and its
        arguments are pickled; module-level functions travel by name, others by value).
    what : str
        What the workers do, for the log line when the pool cannot be made.

    Returns
    -------
    Executor
        A loky process pool; an :class:`InProcessPool` when joblib (which provides loky) cannot
        be imported, with a log line saying so (the jobs then run one after the other here, with
        this process's torch threads).
    """
    n_workers = int(n_workers)
    if n_workers < 1:
        raise ValueError(f"n_workers must be a positive number of processes, got {n_workers}")
    try:
        from joblib.externals.loky.process_executor import ProcessPoolExecutor
    except ImportError as exc:
        logger.info("running the %s in this process, not in %d workers: emolab starts worker processes "
                    "with joblib's loky, which cannot be imported (%s; pip install joblib)",
                    what, n_workers, exc)  # fmt: skip
        return InProcessPool(initializer, tuple(initargs))
    return ProcessPoolExecutor(
        max_workers=n_workers, initializer=_start_worker,
        initargs=(torch_threads, logger.level, initializer, tuple(initargs)),
    )  # fmt: skip
