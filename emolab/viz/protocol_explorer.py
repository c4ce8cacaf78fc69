"""Which segments of which trials each evaluation protocol puts in train, validation and test.

Chapter 02 (``notebooks/02_physiological_preprocessing.ipynb``) shows it on the segment store's
metadata; the protocols are :mod:`emolab.train.protocols`'.  One picture per (protocol, subject,
fold): one row per trial (grouped by subject), one column per one-second segment, each cell
coloured by the role of that segment.  Under the leaky segment protocols a trial's row is a
mixture of colours; under ``trial-kfold`` every row is one colour; under ``loso`` every row of a
subject is.

>>> from emolab.viz.protocol_explorer import protocol_explorer
>>> protocol_explorer(dataset.metadata, n_splits=5)          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from emolab._logging import use_log_level
from emolab.train.protocols import PROTOCOLS, get_protocol, leakage_report, make_folds, validation_split

#: Role codes of :func:`split_roles`, with their colours.
ROLES = {0: ("not used", "#e6e6e6"), 1: ("train", "#4c72b0"), 2: ("validation", "#ccb974"), 3: ("test", "#c44e52")}
#: Validation grouping that matches each protocol's test grouping (as the trainer's default).
VAL_GROUPING = {"trial": "trial", "subject": "subject", None: "segment"}


def trial_grid(metadata: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows ``(subject, trial)`` in order, and each metadata row's grid position.

    Returns ``(trials, row_of, col_of)``: ``trials`` has one row per trial (``subject``,
    ``trial``); ``row_of[i]`` and ``col_of[i]`` place metadata row ``i`` (its segment number is
    the column; the store numbers a trial's segments from 0).
    """
    meta = metadata.reset_index(drop=True)
    trials = meta[["subject", "trial"]].drop_duplicates().sort_values(["subject", "trial"]).reset_index(drop=True)
    index = pd.MultiIndex.from_frame(trials)
    row_of = index.get_indexer(pd.MultiIndex.from_frame(meta[["subject", "trial"]]))
    col_of = meta.groupby(["subject", "trial"]).cumcount().to_numpy() if "segment" not in meta else meta["segment"].to_numpy()
    return trials, row_of, np.asarray(col_of, dtype=int)


def split_roles(metadata: pd.DataFrame, protocol: str, *, subject: int | None = None, fold: int = 0,
                n_splits: int = 5, task: str = "valence", val_fraction: float = 0.1,
                seed: int = 0) -> tuple[np.ndarray, dict]:  # fmt: skip
    """The role of every segment (code of :data:`ROLES`) in one fold of one protocol.

    Parameters
    ----------
    metadata : DataFrame
        The segment store's metadata (``subject``, ``trial``, ``segment``, ratings).
    protocol : str
        A name of :data:`emolab.train.protocols.PROTOCOLS`.
    subject : int, optional
        The fold's subject for per-subject protocols, the held-out subject for ``loso``; ignored
        by ``pooled-segment-kfold``.  Default: the first subject.
    fold, n_splits, task, seed
        As :func:`~emolab.train.protocols.make_folds`; the validation split is carved from the
        training fold with the grouping of the protocol's test fold, as the trainer does.

    Returns
    -------
    (roles, info) : roles ``(n_rows,)`` int; info a dict with the fold and its leakage report row.
    """
    meta = metadata.reset_index(drop=True)
    proto = get_protocol(protocol)
    subjects = sorted(pd.unique(meta["subject"]).tolist())
    subject = subjects[0] if subject is None else subject
    wanted = None if proto.name == "pooled-segment-kfold" else [subject]
    folds = make_folds(meta, proto.name, task=task, n_splits=n_splits, seed=seed, subjects=wanted)
    if proto.name == "loso":
        chosen = folds[0]
    else:
        chosen = folds[min(fold, n_splits - 1)]
    with use_log_level("ERROR"):  # a small fold's coarse validation split is shown, not warned about
        fit, val = validation_split(meta, chosen.train_idx, grouping=VAL_GROUPING[proto.disjoint],
                                    val_fraction=val_fraction, seed=seed)  # fmt: skip
    roles = np.zeros(len(meta), dtype=int)
    roles[fit], roles[val], roles[chosen.test_idx] = 1, 2, 3
    report = leakage_report(meta, [chosen]).iloc[0].to_dict()
    return roles, {"fold": chosen, "report": report, "n_train": len(fit), "n_val": len(val)}


def plot_protocol_split(metadata: pd.DataFrame, protocol: str = "paper-segment-kfold", subject: int | None = None,
                        fold: int = 0, *, n_splits: int = 5, task: str = "valence", seed: int = 0):  # fmt: skip
    """The grid of :func:`split_roles` as a figure: rows = trials, columns = 1 s segments."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    roles, info = split_roles(metadata, protocol, subject=subject, fold=fold, n_splits=n_splits, task=task, seed=seed)
    trials, row_of, col_of = trial_grid(metadata)
    grid = np.full((len(trials), col_of.max() + 1), np.nan)
    grid[row_of, col_of] = roles
    fig, ax = plt.subplots(figsize=(10, 0.9 + 0.16 * len(trials)))
    ax.imshow(grid, aspect="auto", interpolation="nearest", vmin=-0.5, vmax=3.5,
              cmap=ListedColormap([c for _, c in ROLES.values()]))  # fmt: skip
    starts = np.flatnonzero(trials["subject"].ne(trials["subject"].shift()).to_numpy())
    for s in starts[1:]:
        ax.axhline(s - 0.5, color="k", lw=1)
    ax.set_yticks(starts, [f"s{int(trials['subject'][s]):02d}" for s in starts], fontsize=8)
    ax.set_xlabel("one-second segment of the trial")
    ax.set_ylabel("trials, by subject")
    rep = info["report"]
    where = "all subjects pooled" if protocol == "pooled-segment-kfold" else f"subject {info['fold'].subject}"
    ax.set_title(
        f"{protocol}, {where}, fold {info['fold'].fold}: {info['n_train']} train, {info['n_val']} validation, "
        f"{rep['n_test']} test segments\n{rep['shared_trials']} of {rep['test_trials']} test trials also have "
        f"segments in training ({rep['shared_trial_fraction']:.0%})", fontsize=10)  # fmt: skip
    handles = [Patch(color=c, label=name) for name, c in ROLES.values()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def protocol_explorer(metadata: pd.DataFrame, *, protocols: Sequence[str] = tuple(PROTOCOLS), n_splits: int = 5,
                      task: str = "valence", seed: int = 0):  # fmt: skip
    """Pick a protocol, a subject and a fold; see which segments go to train, validation, test.

    Returns an :class:`~emolab.viz.explorer.Explorer` (display it, or leave it last in a cell).
    Its default state is the papers' ``paper-segment-kfold``, first subject, fold 0.
    """
    import ipywidgets as widgets

    from emolab.viz.explorer import Explorer

    subjects = sorted(int(s) for s in pd.unique(metadata["subject"]))
    controls = {
        "protocol": widgets.Dropdown(options=list(protocols), value=list(protocols)[0], description="protocol"),
        "subject": widgets.Dropdown(options=subjects, value=subjects[0], description="subject"),
        "fold": widgets.IntSlider(value=0, min=0, max=n_splits - 1, description="fold"),
    }

    def draw(protocol, subject, fold):
        return plot_protocol_split(metadata, protocol, subject, fold, n_splits=n_splits, task=task, seed=seed)

    caption = ("Rows are trials, columns one-second segments; colours give each segment's role "
               "in this fold.")  # fmt: skip
    return Explorer("protocol split", controls, draw, caption=caption)
