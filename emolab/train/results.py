"""The tidy results table every chapter reads: one CSV row per model × modalities × task ×
protocol × subject × fold.

``subject`` is always the *test* subject of the row: per-subject protocols and ``loso`` have one
test subject per fold; a ``pooled-segment-kfold`` fold mixes subjects and yields one row per
subject present in its test fold (``n_test`` says how many segments each row scores).  The
``config`` column holds the full configuration of the cell as JSON (training settings, model
arguments, data source, label rule, split seed), so every number can be traced and reproduced.

A crash must never leave a row that counts as a finished cell.  :func:`append_results` writes all
the rows of one call with a single ``write`` on a file opened for appending (under an exclusive
``flock`` where the platform has one) and truncates the file back to its old length if that write
fails; :func:`load_results` (and so :func:`finished_cells`) drops a torn tail — a last line
without its newline, or trailing NUL bytes — with a warning, together with the rows of the same
cell just before it, and refuses a malformed row anywhere else with an error naming the line.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from emolab._logging import logger

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

#: Column order of the results CSV.
RESULT_COLUMNS = [
    "cell_id", "model", "modalities", "task", "protocol", "leaky", "disjoint", "subject", "fold",
    "accuracy", "balanced_accuracy", "f1", "roc_auc", "majority_baseline",
    "n_train", "n_val", "n_test", "n_pos", "best_epoch", "epochs_run", "train_seconds",
    "device", "config",
]
#: Columns that hold numbers (empty allowed: NaN).
NUMERIC_COLUMNS = [
    "subject", "fold", "accuracy", "balanced_accuracy", "f1", "roc_auc", "majority_baseline",
    "n_train", "n_val", "n_test", "n_pos", "best_epoch", "epochs_run", "train_seconds",
]  # fmt: skip


def rows_to_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """Rows (dicts) as a DataFrame in :data:`RESULT_COLUMNS` order; missing or extra keys raise."""
    rows = list(rows)
    for r in rows:
        missing = [c for c in RESULT_COLUMNS if c not in r]
        extra = [c for c in r if c not in RESULT_COLUMNS]
        if missing or extra:
            raise KeyError(f"result row {r.get('cell_id')!r}: missing {missing}, unexpected {extra}")
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    df["config"] = [c if isinstance(c, str) else json.dumps(c, sort_keys=True) for c in df["config"]]
    return df


def append_results(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    """Append rows to the CSV at ``path`` (created with a header when missing), all or nothing.

    The rows go out in one ``os.write`` (a signal cannot split it); a failed or short write is
    undone by truncating to the previous length; a torn tail left by an earlier crash is cut off
    first (with a warning) so that the new rows start on a line of their own.  Rows are appended
    whatever the table holds; :func:`append_new_results` skips cells already there.
    """
    path = Path(path)
    _append(path, rows_to_frame(rows), skip_present=False)
    return path


def append_new_results(path: str | os.PathLike, rows: Iterable[dict]) -> list[dict]:
    """:func:`append_results` for the rows whose ``cell_id`` is not yet in the table.

    The table is read and written under one exclusive lock, so two processes appending the same
    cell leave its rows once.  Returns the rows written (empty when every cell was there).
    """
    rows = list(rows)
    kept = _append(Path(path), rows_to_frame(rows), skip_present=True)
    return [r for r in rows if r["cell_id"] in kept]


def _append(path: Path, df: pd.DataFrame, *, skip_present: bool) -> set[str]:
    """Append the rows of ``df`` (those of cells not in the table when ``skip_present``); return
    the cell ids written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            raw = _read_all(fd, size)
            keep, note = _intact_length(raw, path)
            if keep != size:
                logger.warning("%s", note)
                os.ftruncate(fd, keep)
                size = keep
            if skip_present:
                present = _cell_ids(raw[:keep])
                df = df[~df["cell_id"].isin(present)]
                if df.empty:
                    return set()
        data = df.to_csv(header=size == 0, index=False, lineterminator="\n").encode("utf-8")
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"{path}: short write ({written} of {len(data)} bytes; disk full?)")
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, size)  # nothing of this call stays
            raise
    finally:
        os.close(fd)  # releases the lock
    return set(df["cell_id"])


def _cell_ids(raw: bytes) -> set[str]:
    """The ``cell_id`` of every data row of an intact table's bytes."""
    records = csv.reader(io.StringIO(raw.decode("utf-8", errors="replace")))
    next(records, None)  # the header
    return {rec[0] for rec in records if rec}


def _read_all(fd: int, size: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _first_field(line: bytes) -> str | None:
    try:
        fields = next(csv.reader([line.decode("utf-8", errors="replace")]))
    except (csv.Error, StopIteration):
        return None
    return fields[0] if fields else None


def _intact_length(raw: bytes, path: Path) -> tuple[int, str]:
    """Bytes of ``raw`` before a torn tail (``len(raw)`` when there is none), and a warning.

    A tail is torn when the file ends in NUL bytes (blocks allocated but never written) or in a
    line without its newline.  The rows of the torn row's cell just before it go too: one append
    writes all the rows of a cell, so they are not a finished cell either.
    """
    body = raw.rstrip(b"\0")
    if body.endswith(b"\n") and len(body) == len(raw):
        return len(raw), ""
    cut = body.rfind(b"\n") + 1  # 0 when not even the header is complete
    torn = body[cut:]
    cell = _first_field(torn) if torn else None
    dropped = 1 if torn else 0
    if cell:
        while cut > 0:
            start = body.rfind(b"\n", 0, cut - 1) + 1
            if start == 0 or _first_field(body[start:cut]) != cell:  # never the header
                break
            cut, dropped = start, dropped + 1
    what = f"{dropped} torn row(s) of cell {cell!r}" if cell else "a torn tail"
    return cut, (f"{path}: dropped {what} at the end of the file (a write was interrupted, "
                 f"{len(raw) - cut} bytes); that cell counts as not run and will run again")  # fmt: skip


def load_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results CSV written by :func:`append_results` / :func:`~emolab.train.sweep.run_sweep`.

    Checked: the header is :data:`RESULT_COLUMNS`; every row has all the fields, a cell id, numbers
    in :data:`NUMERIC_COLUMNS`, ``leaky`` True/False and JSON in ``config``.  A torn
    tail is dropped with a warning (see the module doc).

    Raises
    ------
    FileNotFoundError
        Naming the file and how to produce it.
    ValueError
        When the file is not a results table (wrong columns) or a row other than a torn tail is
        malformed (the message names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no results table at {path}; run the sweep that writes it "
            "(emolab.train.sweep.run_sweep, or the chapter notebook that calls it) first"
        )
    raw = path.read_bytes()
    keep, note = _intact_length(raw, path)
    if keep != len(raw):
        logger.warning("%s", note)
    try:
        text = raw[:keep].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc}); the table is damaged - delete it "
                         "and run the sweep again") from None  # fmt: skip
    records = list(csv.reader(io.StringIO(text)))
    if not records:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    if records[0] != RESULT_COLUMNS:
        raise ValueError(f"{path} is not an emolab results table: columns {records[0]}")
    for i, rec in enumerate(records[1:], start=2):
        problem = _row_problem(rec)
        if problem:
            raise ValueError(f"{path}: line {i}: {problem}; the table is damaged - delete that "
                             "line (its cell will run again) or the whole file")  # fmt: skip
    df = pd.read_csv(io.StringIO(text), keep_default_na=True)
    df["leaky"] = df["leaky"].astype(bool)
    df["disjoint"] = df["disjoint"].fillna("none")
    return df


def _row_problem(fields: list[str]) -> str | None:
    """What is wrong with one data row of the table (``None``: nothing)."""
    if len(fields) != len(RESULT_COLUMNS):
        return f"{len(fields)} fields, expected {len(RESULT_COLUMNS)}"
    row = dict(zip(RESULT_COLUMNS, fields))
    if not row["cell_id"]:
        return "empty cell_id"
    for c in NUMERIC_COLUMNS:
        if row[c] != "":
            try:
                float(row[c])
            except ValueError:
                return f"column {c} = {row[c]!r} is not a number"
    if row["leaky"] not in ("True", "False"):
        return f"column leaky = {row['leaky']!r}, expected True or False"
    try:
        json.loads(row["config"])
    except json.JSONDecodeError as exc:
        return f"column config is not JSON ({exc})"
    return None


def finished_cells(path: str | os.PathLike) -> set[str]:
    """The ``cell_id`` values already in the results table (empty when it does not exist)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    return set(load_results(path)["cell_id"])


def config_of(row: pd.Series | dict) -> dict:
    """The full configuration of a results row, parsed from its JSON ``config`` column."""
    return json.loads(row["config"])
