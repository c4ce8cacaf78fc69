"""The Ray backend of :func:`~emolab.train.sweep.run_sweep`: every cell a Ray task.

``run_sweep(cells, path, backend="ray", address=...)`` hands each cell to a `Ray
<https://docs.ray.io>`_ cluster as one task that asks for the cell's CPUs and GPUs
(:func:`cell_resources`; fractional GPUs let several small per-subject models share one device).
Ray schedules the tasks and retries a task whose worker process died (``max_retries``); an
exception raised by the cell itself is not retried and is reported with its cell.

The driver — the process that called :func:`run_sweep` — stays the only writer: a task returns
its :class:`~emolab.train.cells.CellOutput`, :func:`run_on_ray` yields it, and the sweep's recorder
writes the cell's folder and appends its rows to the results table, exactly as for the local
backend.  This module knows the cells only through :mod:`emolab.train.cells`; it does not import
the sweep.  Cells are submitted as the cluster has room for them (:func:`cluster_slots`), each
claimed just before, so a second sweep on the same table takes the cells not started yet.  A
killed driver resumes like a killed local sweep: the cells already in the table are skipped, its
claims are taken over (its process is gone); the tasks it owned are ended by Ray with it.

Data reach: a task opens the segment store by the path its cell names (the cells of
:func:`emolab.experiments.grid_cells` hold the store's absolute path), and a Ray worker process
keeps the opened store between the cells it runs.  The store is memory-mapped, so opening it costs
milliseconds and no array travels through Ray's object store (``benchmarks/bench_ray.py`` measures
both).  On a cluster of several machines the store must therefore sit on storage every node
mounts at the same path (NFS, a cluster file system); so should the results folder, where the
tasks keep their checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from emolab._logging import logger
from emolab.train.cells import Cell, CellOutput, ClaimQueue

#: What ``resources`` may set for a cell's task (Ray's task options of the same names).
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


def require_ray():
    """The ``ray`` module, or an ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"the sweep's Ray backend needs Ray ({exc}); install it with "
            "pip install 'emolab[ray]' (or pip install ray), or use backend='local'"
        ) from None
    return ray


def cell_resources(cell: Cell, resources: Mapping[str, float] | None = None) -> dict[str, float]:
    """The Ray resources one cell's task requests.

    Default: one CPU, and one whole GPU when the cell trains with ``device="cuda"`` (none
    otherwise); ``resources`` overrides, e.g. ``{"num_gpus": 0.25}`` puts four cells on each GPU.
    A task given no GPU sees none (Ray hides them), so a cell with ``device="auto"`` then trains
    on the CPU.  ``memory`` is in bytes.

    Raises
    ------
    ValueError
        For an unknown key, a negative or zero CPU count, a GPU count above 1 that is not whole
        (Ray's rule), or a ``device="cuda"`` cell given no GPU.
    """
    device = str(cell.train.get("device", "auto"))
    res: dict[str, float] = {"num_cpus": 1.0, "num_gpus": 1.0 if device.startswith("cuda") else 0.0}
    unknown = set(resources or {}) - set(RESOURCE_KEYS)
    if unknown:
        raise ValueError(f"unknown Ray resource(s) {sorted(unknown)} for the sweep's cells; "
                         f"known: {list(RESOURCE_KEYS)}")  # fmt: skip
    res.update({k: float(v) for k, v in (resources or {}).items()})
    if not res["num_cpus"] > 0 or res["num_gpus"] < 0 or res.get("memory", 1) <= 0:
        raise ValueError(f"cell resources {res}: num_cpus must be > 0, num_gpus >= 0, memory > 0")
    if res["num_gpus"] > 1 and not float(res["num_gpus"]).is_integer():
        raise ValueError(f"num_gpus={res['num_gpus']}: Ray allows a fraction only below 1 GPU")
    if device.startswith("cuda") and res["num_gpus"] == 0:
        raise ValueError(f"{cell.cell_id} trains with device={device!r} but its task gets no GPU; "
                         "give the cells a GPU share (resources={'num_gpus': 0.25}, or "
                         "emolab sweep --gpus-per-cell 0.25) or train with device='auto'")  # fmt: skip
    return res


def task_threads(resources: Mapping[str, float]) -> int:
    """Torch CPU threads of a task: its whole CPUs, at least one."""
    return max(1, math.floor(resources["num_cpus"]))


def _run_in_worker(cell_fn: Callable, cell: Cell, workdir: str, n_threads: int) -> CellOutput:
    """What a Ray task runs: the cell, with as many torch threads as the task holds CPUs."""
    import torch

    torch.set_num_threads(n_threads)
    return cell_fn(cell, Path(workdir))


@contextlib.contextmanager
def connect(address: str | None = None) -> Iterator[Any]:
    """Yield the ``ray`` module connected to a cluster.

    When this process is already connected (``ray.init`` was called), that connection is used and
    left open.  Otherwise ``ray.init(address=address)`` connects — ``"auto"``: the cluster that
    ``ray start`` started on this machine; ``"ray://host:10001"`` or ``"host:6379"``: a remote
    head; ``None``: a new local instance, shut down afterwards — and disconnects at the end.
    """
    ray = require_ray()
    if ray.is_initialized():
        if address is not None:
            logger.info("ray: already connected, address=%r ignored", address)
        yield ray
        return
    quiet = not logger.isEnabledFor(logging.DEBUG)
    ray.init(address=address, log_to_driver=not quiet, logging_level=logging.WARNING if quiet else logging.INFO)
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_capacity(ray, requests: Sequence[dict[str, float]]) -> None:
    """Refuse requests no node could ever meet (Ray would otherwise wait for them forever)."""
    total = ray.cluster_resources()
    for key, name in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        need = max((r[key] for r in requests), default=0.0)
        if need > total.get(name, 0.0):
            raise ValueError(
                f"a cell asks for {need:g} {name}(s) but the Ray cluster has {total.get(name, 0.0):g}; "
                f"start the workers with that resource (ray start --num-gpus=...), or ask for less "
                f"(resources={{'{key}': ...}}, emolab sweep --{'gpus' if name == 'GPU' else 'cpus'}-per-cell)"
            )


def cluster_slots(ray, requests: Sequence[dict[str, float]]) -> int:
    """How many cell tasks the cluster can run at once, from its CPUs and GPUs and the largest
    request (at least one)."""
    total = ray.cluster_resources()
    slots = []
    for key, name in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        need = max((r[key] for r in requests), default=0.0)
        if need > 0:
            slots.append(int(total.get(name, 0.0) // need))
    return max(1, min(slots, default=1))


def run_on_ray(
    queue: ClaimQueue,
    cell_fn: Callable[[Cell, Path], CellOutput],
    *,
    address: str | None = None,
    resources: Mapping[str, float] | None = None,
    max_retries: int = 2,
) -> Iterator[tuple[Cell, CellOutput | BaseException]]:
    """Run the cells ``queue`` hands out as Ray tasks; yield ``(cell, output or exception)`` in
    this process as each task ends.

    Parameters
    ----------
    queue : ClaimQueue
        The cells to run (those not yet in the results table); a cell is taken, and so claimed,
        when the cluster has room for its task.
    cell_fn : callable
        ``cell_fn(cell, workdir) -> CellOutput``, run inside the task; pickled by Ray
        (cloudpickle), so what it imports must be importable on every node.
    address : str or None
        See :func:`connect`.
    resources : mapping or None
        Per-cell overrides of :func:`cell_resources`.
    max_retries : int
        Ray's retries of a task whose worker process died (not of a cell that raised).

    Yields
    ------
    (Cell, CellOutput or BaseException)
        The task's output; or the cell's exception (the original one, unwrapped from Ray's
        ``RayTaskError``), or Ray's error when the worker died ``max_retries + 1`` times.
        Closing the generator cancels the tasks still running.
    """
    if not queue.pending:
        return
    requests = {c.cell_id: cell_resources(c, resources) for c in queue.pending}  # errors before connecting
    with connect(address) as ray:
        _check_capacity(ray, list(requests.values()))
        slots = cluster_slots(ray, list(requests.values()))
        remote = ray.remote(_run_in_worker)
        fn_ref = ray.put(cell_fn)
        running: dict[Any, Cell] = {}
        logger.info("ray: %d cell tasks, up to %d at once on a cluster with %s", len(requests), slots,
                    {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")})  # fmt: skip
        try:
            while True:
                while len(running) < slots and (cell := queue.take(wait=not running)) is not None:
                    res = requests[cell.cell_id]
                    opts = {k: v for k, v in res.items() if k != "memory" or v}
                    ref = remote.options(**opts, max_retries=max_retries, retry_exceptions=False,
                                         name=f"emolab cell {cell.cell_id}").remote(
                        fn_ref, cell, str(queue.folder(cell).path), task_threads(res))  # fmt: skip
                    running[ref] = cell
                if not running:
                    return
                ready, _ = ray.wait(list(running), num_returns=1,
                                    timeout=queue.poll_s if queue.pending else None)  # fmt: skip
                for ref in ready:
                    cell = running.pop(ref)
                    try:
                        out = ray.get(ref)
                    except ray.exceptions.RayTaskError as err:  # the cell raised
                        yield cell, err.cause if isinstance(err.cause, BaseException) else err
                    except ray.exceptions.RayError as err:  # the worker died, retries used up
                        yield cell, err
                    else:
                        yield cell, out
        finally:
            for ref in running:  # interrupted: end the tasks whose results nobody will write
                ray.cancel(ref)
