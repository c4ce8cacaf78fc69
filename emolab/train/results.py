"""The tidy results table every chapter reads: one CSV row per model × modalities × task ×
protocol × subject × fold.

``subject`` is always the *test* subject of the row: per-subject protocols and ``loso`` have one
test subject per fold; a ``pooled-segment-kfold`` fold mixes subjects and yields one row per
subject present in its test fold (``n_test`` says how many segments each row scores).  The
``config`` column holds the full configuration of the cell as JSON (training settings, model
arguments, data source, label rule, split seed), so every number can be traced and reproduced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

#: Column order of the results CSV.
RESULT_COLUMNS = [
    "cell_id", "model", "modalities", "task", "protocol", "leaky", "disjoint", "subject", "fold",
    "accuracy", "balanced_accuracy", "f1", "roc_auc", "majority_baseline",
    "n_train", "n_val", "n_test", "n_pos", "best_epoch", "epochs_run", "train_seconds",
    "device", "config",
]


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
    """Append rows to the CSV at ``path`` (created with a header when missing)."""
    path = Path(path)
    df = rows_to_frame(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        df.to_csv(fh, header=new, index=False)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def load_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results CSV written by :func:`append_results` / :func:`~emolab.train.sweep.run_sweep`.

    Raises
    ------
    FileNotFoundError
        Naming the file and how to produce it.
    ValueError
        When the file is not a results table (wrong columns).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no results table at {path}; run the sweep that writes it "
            "(emolab.train.sweep.run_sweep, or the chapter notebook that calls it) first"
        )
    df = pd.read_csv(path, keep_default_na=True)
    if list(df.columns) != RESULT_COLUMNS:
        raise ValueError(f"{path} is not an emolab results table: columns {list(df.columns)}")
    df["leaky"] = df["leaky"].astype(bool)
    df["disjoint"] = df["disjoint"].fillna("none")
    return df


def finished_cells(path: str | os.PathLike) -> set[str]:
    """The ``cell_id`` values already in the results table (empty when it does not exist)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    return set(load_results(path)["cell_id"])


def config_of(row: pd.Series | dict) -> dict:
    """The full configuration of a results row, parsed from its JSON ``config`` column."""
    return json.loads(row["config"])
