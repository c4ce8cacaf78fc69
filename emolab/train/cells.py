"""A sweep's unit of work and what it leaves on disk: :class:`Cell`, :class:`CellOutput`, :class:`CellDir`.

* :class:`Cell` — one fold of one configuration (model × modalities × task × protocol × subject ×
  fold), plain data that pickles to worker processes and Ray tasks.
* :class:`CellOutput` — what running a cell returns: its result rows, predictions, history and
  timings.
* :class:`CellDir` — the one place that knows the layout of a cell's folder beside the results
  table, ``<results folder>/cells/<cell hash>/``::

      history.csv        one row per epoch (CellDir.history_path)
      predictions.csv    one row per test item (CellDir.predictions_path)
      timings.json       seconds per phase of the cell (CellDir.timings_path)
      checkpoint/last.pt the trainer's checkpoint, while the cell runs or when kept
      claim              present while a sweep runs the cell (CellDir.claim)

  The sweep writes it (:meth:`CellDir.save_outputs`), the result readers read it
  (:meth:`CellDir.load_outputs`), the gate analysis reloads the trained model
  (:meth:`CellDir.load_model`).

Claims
------
Two sweeps started on one results table share the work through the ``claim`` file: a sweep runs a
cell only after creating that file with ``O_CREAT | O_EXCL`` (atomic: exactly one creator wins),
and removes it once the cell's rows are in the table or the cell failed.  The file holds the
claimant's ``pid``, ``host``, ``time`` (seconds since the epoch) and ``cell_id`` as JSON.  A claim
whose process is dead on this host is stale (a sweep killed with ``SIGKILL``): :meth:`CellDir.claim`
takes it over and logs it.  A claim from another host cannot be checked; it is waited for, and the
log says which file to delete if that sweep is known to be dead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import shutil
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emolab._logging import logger
from emolab.train.checkpoints import load_checkpoint
from emolab.train.config import TrainConfig
from emolab.train.results import finished_cells
from emolab.train.trainer import CHECKPOINT_NAME
from emolab.workers import pid_alive

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["CELL_FORMAT", "Cell", "CellDir", "CellOutput", "ClaimQueue", "cell_dir", "load_cell_outputs", "resolve"]

#: What a finished cell leaves behind (its result rows, ``predictions.csv``, ``history.csv``).
#: It is part of every :attr:`Cell.key`, so bumping it makes results saved by older code count
#: as not yet run: a results table kept between runs (a cache folder, a CI machine's home) is then
#: retrained instead of handing chapters predictions without the columns they read.
#: 2: fused models with auxiliary heads save each branch's logits (``logits_face``, ``logits_bio``).
#: 3: fused models save their linear probes' losses per epoch (``probe_<m>_*``) and logits
#: (``probe_face``, ``probe_bio``; :class:`~emolab.train.balance.BranchProbes`).
#: 4: the probes' training measures are scored on training segments they were not fitted on.
CELL_FORMAT = 4


def resolve(dotted: str) -> Callable:
    """``"package.module:function"`` -> the function."""
    if ":" not in dotted:
        raise ValueError(f"factory {dotted!r} must look like 'package.module:function'")
    mod, name = dotted.split(":", 1)
    return getattr(importlib.import_module(mod), name)


@dataclass
class Cell:
    """One fold of one configuration — the unit of work, resumption and parallelism.

    Attributes
    ----------
    model, modalities, task, protocol, subject, fold
        The grid coordinates (``subject`` = -1 for ``pooled-segment-kfold`` folds).
    n_splits, split_seed
        Passed to :func:`~emolab.train.protocols.make_folds`.
    label_method, label_threshold
        Passed to :func:`~emolab.train.protocols.make_labels`.
    train : dict
        :meth:`TrainConfig.to_dict` (``task`` and ``modalities`` are overridden by the cell's).
    model_kwargs : dict
        Passed to the model factory (e.g. ``n_chans``, ``n_times``, ``n_frames``).
    data : dict
        ``{"factory": "module:function", "kwargs": {...}}``; the factory returns a dataset with a
        ``.metadata`` DataFrame (the segment store's ``SegmentDataset``).
    model_factory : str
        Dotted path of ``build_model(name, *, modalities, **model_kwargs)``.
    """

    model: str
    modalities: tuple[str, ...]
    task: str
    protocol: str
    subject: int
    fold: int
    n_splits: int = 10
    split_seed: int = 0
    label_method: str = "threshold"
    label_threshold: float = 5.0
    train: dict = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    model_factory: str = "emolab.models:build_model"

    def __post_init__(self) -> None:
        self.modalities = tuple(self.modalities)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @property
    def key(self) -> str:
        """Hash of the whole cell and of :data:`CELL_FORMAT` (any change of configuration, or of
        what a cell saves, gives a new cell)."""
        blob = json.dumps({**self.to_dict(), "cell_format": CELL_FORMAT}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    @property
    def cell_id(self) -> str:
        """Readable and unique: ``model|modalities|task|protocol|s<subject>|f<fold>|<hash>``."""
        return (f"{self.model}|{'+'.join(self.modalities)}|{self.task}|{self.protocol}|"
                f"s{self.subject}|f{self.fold}|{self.key}")

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict({**self.train, "task": self.task, "modalities": list(self.modalities)})

    def build_model(self):
        """A new, untrained model from the cell's factory and arguments (``torch.nn.Module``)."""
        return resolve(self.model_factory)(self.model, modalities=self.modalities, **self.model_kwargs)


@dataclass
class CellOutput:
    """A finished cell: result rows (one per test subject), predictions, history and timings
    (seconds per phase: ``open``, ``folds``, ``build``, ``gather``, ``fit``, ``test``)."""

    rows: list[dict]
    predictions: pd.DataFrame
    history: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CellDir:
    """The folder of one sweep cell, ``<results folder>/cells/<cell hash>/`` (see the module doc).

    Build it with :meth:`for_cell`; ``cell_id`` is kept for messages.
    """

    path: Path
    cell_id: str = ""

    HISTORY = "history.csv"
    PREDICTIONS = "predictions.csv"
    TIMINGS = "timings.json"
    CHECKPOINT = "checkpoint"
    CLAIM = "claim"

    @classmethod
    def for_cell(cls, results_path: str | os.PathLike, cell: Cell | str) -> CellDir:
        """The folder of ``cell`` (a :class:`Cell` or its ``cell_id``) for the results table at
        ``results_path``."""
        if isinstance(cell, Cell):
            key, cid = cell.key, cell.cell_id
        else:
            cid = str(cell)
            key = cid.rsplit("|", 1)[-1]
        return cls(Path(results_path).parent / "cells" / key, cid)

    # ------------------------------------------------------------------------------ layout
    @property
    def history_path(self) -> Path:
        return self.path / self.HISTORY

    @property
    def predictions_path(self) -> Path:
        return self.path / self.PREDICTIONS

    @property
    def timings_path(self) -> Path:
        return self.path / self.TIMINGS

    @property
    def checkpoint_dir(self) -> Path:
        """The trainer's ``checkpoint_dir`` for this cell."""
        return self.path / self.CHECKPOINT

    @property
    def checkpoint_path(self) -> Path:
        """The trainer's last checkpoint (:data:`emolab.train.trainer.CHECKPOINT_NAME`)."""
        return self.checkpoint_dir / CHECKPOINT_NAME

    @property
    def claim_path(self) -> Path:
        return self.path / self.CLAIM

    # ----------------------------------------------------------------------------- outputs
    def save_outputs(self, out: CellOutput) -> None:
        """Write a finished cell's history, predictions and timings into the folder."""
        self.path.mkdir(parents=True, exist_ok=True)
        # each file whole or not at all (a reader such as a late ensemble may look meanwhile);
        # timings.json last: its presence says the others are complete
        for path, write in ((self.history_path, lambda p: out.history.to_csv(p, index=False)),
                            (self.predictions_path, lambda p: out.predictions.to_csv(p, index=False)),
                            (self.timings_path, lambda p: p.write_text(json.dumps(out.timings)))):  # fmt: skip
            tmp = path.with_name(path.name + ".tmp")
            write(tmp)
            os.replace(tmp, path)

    def load_outputs(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(history, predictions)`` DataFrames the finished cell left in its folder."""
        for f in (self.history_path, self.predictions_path):
            if not f.is_file():
                raise FileNotFoundError(f"{f} is missing; re-run the sweep cell {self.cell_id}")
        return pd.read_csv(self.history_path), pd.read_csv(self.predictions_path)

    def drop_checkpoint(self) -> None:
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)

    def load_model(self, cell: Cell, *, map_location: Any = "cpu"):
        """The trained model of the finished ``cell`` from its kept checkpoint, in eval mode.

        The model is rebuilt with :meth:`Cell.build_model` and given the weights the trainer
        selected on the validation split (the last epoch's when there was none) — the weights
        that were scored on the test fold.  The checkpoint is read with
        :func:`~emolab.train.checkpoints.load_checkpoint` (weights only).

        Raises
        ------
        FileNotFoundError
            No checkpoint was kept (run the sweep with ``keep_checkpoints=True``).
        RuntimeError
            The checkpoint is of an unfinished run.
        """
        path = self.checkpoint_path
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the sweep did not keep the checkpoint of cell {cell.cell_id}; "
                "run the sweep with keep_checkpoints=True, or pass retrain=True to train the cell again"
            )
        state = load_checkpoint(path, map_location=map_location)
        if not state.get("done", False):
            raise RuntimeError(f"{path} holds an unfinished run of cell {cell.cell_id}; run the sweep to the end first")
        model = cell.build_model()
        model.load_state_dict(state["best_state"] if state.get("best_state") is not None else state["model"])
        return model.eval()

    # ------------------------------------------------------------------------------ claims
    def read_claim(self) -> dict | None:
        """The claim's content (``pid``, ``host``, ``time``, ``cell_id``), ``{}`` when unreadable
        (being written), ``None`` when the cell is not claimed."""
        try:
            return json.loads(self.claim_path.read_text() or "{}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def _create_claim(self) -> bool:
        try:
            fd = os.open(self.claim_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
                                     "cell_id": self.cell_id}).encode())  # fmt: skip
        finally:
            os.close(fd)
        return True

    def claim_is_stale(self, claim: dict | None = None) -> bool:
        """Whether the claim was left by a process that no longer runs on this host."""
        claim = self.read_claim() if claim is None else claim
        if not claim or claim.get("host") != socket.gethostname():
            return False
        try:
            return not pid_alive(int(claim["pid"]))
        except (KeyError, TypeError, ValueError):
            return False

    def claim(self) -> bool:
        """Claim the cell for this process; ``False`` when another live sweep holds it.

        A stale claim (:meth:`claim_is_stale`) is taken over, with a log line; the take-over runs
        under an exclusive lock on the folder, so of two sweeps finding the same stale claim only
        one gets the cell.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        if self._create_claim():
            return True
        old = self.read_claim()
        if not self.claim_is_stale(old):
            return False
        lock = os.open(self.path, os.O_RDONLY)
        try:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            if self.read_claim() != old:  # someone took it over or released it meanwhile
                return self._create_claim()
            logger.warning("cell %s: taking over the claim of process %s on %s from %s, which no longer "
                           "runs (a sweep that was killed)", self.cell_id, old.get("pid"), old.get("host"),
                           time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(old.get("time", 0))))  # fmt: skip
            self.claim_path.unlink(missing_ok=True)
            return self._create_claim()
        finally:
            os.close(lock)  # releases the lock

    def release(self) -> None:
        """Remove this process's claim (no-op when the claim is someone else's or absent)."""
        claim = self.read_claim()
        if claim and claim.get("pid") == os.getpid() and claim.get("host") == socket.gethostname():
            self.claim_path.unlink(missing_ok=True)

    def describe_claim(self) -> str:
        """Who holds the claim, for log lines."""
        c = self.read_claim()
        if not c:
            return "nobody" if c is None else "a claim being written"
        since = time.strftime("%H:%M:%S", time.localtime(c.get("time", 0)))
        return f"process {c.get('pid')} on {c.get('host')} since {since} ({self.claim_path})"


def cell_dir(results_path: str | os.PathLike, cell: Cell | str) -> Path:
    """Folder of a cell (a :class:`Cell` or its ``cell_id``): :attr:`CellDir.path`."""
    return CellDir.for_cell(results_path, cell).path


def load_cell_outputs(results_path: str | os.PathLike, cell_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(history, predictions)`` DataFrames a finished cell left beside the results table."""
    return CellDir.for_cell(results_path, cell_id).load_outputs()


class ClaimQueue:
    """The cells a sweep still has to run, handed out one at a time and claimed first.

    A backend asks :meth:`take` for its next cell when it has room for one; the queue claims a
    cell (:meth:`CellDir.claim`) before handing it out, after checking the results table: a cell
    whose rows another sweep appended meanwhile is dropped (:attr:`done_elsewhere` counts them),
    also when it is seen only after claiming it (the other sweep appends, then releases).  A cell
    another live sweep holds is put back and tried again later.  The recorder calls
    :meth:`release` once a cell's rows are in the table or it failed.

    Parameters
    ----------
    cells : iterable of Cell
        The cells not in the table when the sweep started.
    results_path : path
        The results table.
    poll_s : float
        Seconds between looks at cells other sweeps hold, while waiting for them.
    on_skip : callable
        Called with each cell dropped because another sweep finished it (the progress bar).
    """

    def __init__(self, cells: Iterable[Cell], results_path: str | os.PathLike, *, poll_s: float = 1.0,
                 on_skip: Callable[[Cell], None] = lambda cell: None) -> None:  # fmt: skip
        self.results_path = Path(results_path)
        self.pending: deque[Cell] = deque(cells)
        self.held: dict[str, CellDir] = {}
        self.done_elsewhere: list[Cell] = []
        self.poll_s = float(poll_s)
        self.on_skip = on_skip
        self._table_state: tuple | None = None
        self._finished: set[str] = set()
        self._last_wait_log = 0.0

    def folder(self, cell: Cell) -> CellDir:
        return CellDir.for_cell(self.results_path, cell)

    def finished(self) -> set[str]:
        """The cell ids in the results table (re-read only when the file changed)."""
        try:
            st = self.results_path.stat()
            state = (st.st_size, st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            state = None
        if state != self._table_state:
            self._finished = finished_cells(self.results_path)
            self._table_state = state
        return self._finished

    def _skip(self, cell: Cell) -> None:
        self.done_elsewhere.append(cell)
        logger.debug("cell %s: finished by another sweep on %s", cell.cell_id, self.results_path)
        self.on_skip(cell)

    def take(self, *, wait: bool) -> Cell | None:
        """The next cell for this sweep, claimed.

        ``None`` means no cell is left (with ``wait=True``: only then), or, with ``wait=False``,
        that every cell left is held by another sweep for now.  With ``wait=True`` the queue waits
        for those cells, taking each one that is released without its rows (that sweep failed on
        it) and dropping each one whose rows appear.
        """
        while self.pending:
            for _ in range(len(self.pending)):
                cell = self.pending.popleft()
                if cell.cell_id in self.finished():
                    self._skip(cell)
                    continue
                d = self.folder(cell)
                if not d.claim():
                    self.pending.append(cell)  # another sweep runs it: look again later
                    continue
                self.held[cell.cell_id] = d  # held from the moment it is claimed: release_all frees it
                if cell.cell_id in self.finished():  # appended just before its claim was released
                    self.release(cell)
                    self._skip(cell)
                    continue
                return cell
            if not self.pending or not wait:
                return None
            now = time.monotonic()
            if now - self._last_wait_log > 60:
                self._last_wait_log = now
                logger.info("sweep: waiting for %d cell(s) another sweep on %s is running (%s holds %s; delete "
                            "that claim file if that sweep is dead)", len(self.pending), self.results_path,
                            self.folder(self.pending[0]).describe_claim(), self.pending[0].cell_id)  # fmt: skip
            time.sleep(self.poll_s)
        return None

    def release(self, cell: Cell) -> None:
        """Give up this sweep's claim on ``cell`` (its rows are written, or it failed)."""
        d = self.held.pop(cell.cell_id, None)
        if d is not None:
            d.release()

    def release_all(self) -> None:
        """Give up every claim still held (the sweep was interrupted)."""
        for d in self.held.values():
            d.release()
        self.held.clear()
