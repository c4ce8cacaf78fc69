"""Evaluation protocols: the papers' (leaky) ones and leak-free ones, on a metadata table.

Every protocol works on the segment store's ``.metadata`` DataFrame (one row per 1 s segment,
columns ``subject``, ``trial``, ``experiment_id``, ``segment`` and the ratings/labels) and returns
:class:`Fold` objects holding *positional* row indices, so ``Subset(dataset, fold.train_idx)`` is
the training fold.

=========================  ================================  ====================  =========
name                       splits                            keeps disjoint        leaky
=========================  ================================  ====================  =========
``paper-segment-kfold``    per subject, k-fold over shuffled  nothing               yes
                           1 s segments (Safavi et al.;
                           DeepVANet)
``pooled-segment-kfold``   k-fold over all subjects'         nothing               yes
                           segments (GBV-Net)
``trial-kfold``            per subject, stratified group     trials                no
                           k-fold over whole trials
``loso``                   leave one subject out             subjects              no
=========================  ================================  ====================  =========

Why the segment protocols leak: the 60 one-second segments of a trial share the subject, the
video, the label and slowly varying signal properties, so a model can recognise *the trial* rather
than the emotion — see :cite:`deap_review_2025` and :cite:`trial_leakage_2025`.  A trial is
identified by ``(subject, trial)``; :func:`check_folds` verifies the declared disjointness on the
actual folds, and a test shows that the paper protocol does share trials.

A milder leak concerns the *stimuli*: every DEAP participant watched the same 40 videos.
``trial-kfold`` is free of it — within one subject every trial is a different video, so keeping
trials apart keeps videos apart.  The cross-subject protocols are not: ``loso`` trains on the
other subjects' responses to the very videos it tests on (``tests/test_protocols.py`` shows all
40 shared), and ``pooled-segment-kfold`` shares trials and videos alike.  A model can learn what
a video evokes in people in general, which is part of the task, but also the video's own
signature (its faces' lighting, the timing of its scenes), which is not;
:func:`leakage_report` counts the shared stimuli of each fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupShuffleSplit,
    KFold,
    LeaveOneGroupOut,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)

from emolab._logging import logger
from emolab.train.config import TASK_INDEX

LABEL_METHODS = ("threshold", "mean", "median")


@dataclass(frozen=True)
class Protocol:
    """A cross-validation protocol.

    Attributes
    ----------
    name : str
        Registry key.
    per_subject : bool
        Folds are built inside each subject (subject-dependent models).
    disjoint : str or None
        The grouping train and test never share: ``"trial"``, ``"subject"``, or ``None`` for the
        leaky segment protocols.
    description : str
        One line for tables and the book.
    """

    name: str
    per_subject: bool
    disjoint: str | None
    description: str

    @property
    def leaky(self) -> bool:
        """True when segments of one trial can fall into both train and test."""
        return self.disjoint is None


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("paper-segment-kfold", True, None,
                 "per subject, k-fold over shuffled 1 s segments (Safavi et al., DeepVANet)"),
        Protocol("pooled-segment-kfold", False, None,
                 "k-fold over all subjects' 1 s segments (GBV-Net)"),
        Protocol("trial-kfold", True, "trial",
                 "per subject, stratified k-fold over whole trials (leak-free)"),
        Protocol("loso", False, "subject", "leave one subject out (leak-free, cross-subject)"),
    )
}


def get_protocol(name: str | Protocol) -> Protocol:
    """Look a protocol up by name (raises ``KeyError`` listing the known names)."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}") from None


@dataclass
class Fold:
    """One train/test split.

    ``subject`` is the subject the fold belongs to for per-subject protocols and the held-out
    subject for ``loso``; ``-1`` for ``pooled-segment-kfold`` (its test folds mix subjects).
    ``train_idx`` and ``test_idx`` are sorted positional indices into the metadata rows.
    """

    protocol: str
    subject: int
    fold: int
    train_idx: np.ndarray = field(repr=False)
    test_idx: np.ndarray = field(repr=False)

    def __repr__(self) -> str:
        return (f"Fold({self.protocol!r}, subject={self.subject}, fold={self.fold}, "
                f"n_train={len(self.train_idx)}, n_test={len(self.test_idx)})")


# --------------------------------------------------------------------------------------- labels
def _array_column(metadata: pd.DataFrame, name: str, task: str) -> np.ndarray | None:
    """Values of ``task`` from a scalar column or from an array column (``name`` = "ratings"/"labels")."""
    singular = name[:-1]  # "rating" / "label"
    scalar = [f"{singular}_{task}", f"{name}_{task}"] + ([task] if name == "ratings" else [])
    for col in scalar:
        if col in metadata.columns:
            return metadata[col].to_numpy(dtype=float)
    if name in metadata.columns and isinstance(metadata[name].iloc[0], (list, tuple, np.ndarray)):
        return np.stack(metadata[name].to_numpy())[:, TASK_INDEX[task]].astype(float)
    return None


def make_labels(
    metadata: pd.DataFrame, *, task: str, method: str = "threshold", threshold: float = 5.0
) -> np.ndarray:
    """Binary high/low labels for ``task`` from the self-assessment ratings.

    Parameters
    ----------
    metadata : DataFrame
        Needs the ratings as a column ``task`` (e.g. ``"valence"``), ``rating_<task>``, or an array
        column ``"ratings"`` ([valence, arousal]).  When no ratings are present, the stored binary
        labels (``label_<task>`` or an array column ``"labels"``) are used, which is only allowed
        for the default rule.
    task : {"valence", "arousal"}
    method : {"threshold", "mean", "median"}
        ``"threshold"``: high when rating >= ``threshold`` (default 5, as DeepVANet and TorchEEG);
        ``"mean"`` / ``"median"``: high when the rating is >= the subject's own mean / median
        rating over their trials (each trial counted once, whatever its number of segments) — the
        per-subject rule of the EmoNet comparison in Safavi et al.

    Returns
    -------
    np.ndarray, int64, shape (n_rows,)
    """
    if task not in TASK_INDEX:
        raise ValueError(f"task must be one of {sorted(TASK_INDEX)}, got {task!r}")
    if method not in LABEL_METHODS:
        raise ValueError(f"method must be one of {LABEL_METHODS}, got {method!r}")
    ratings = _array_column(metadata, "ratings", task) if len(metadata) else None
    if ratings is None:
        labels = _array_column(metadata, "labels", task) if len(metadata) else None
        if labels is None or method != "threshold" or threshold != 5.0:
            raise KeyError(
                f"metadata has no {task} ratings (columns: {list(metadata.columns)}); a "
                f"'{task}' or 'ratings' column is needed for method={method!r}, threshold={threshold}"
            )
        return labels.astype(np.int64)
    if method == "threshold":
        return (ratings >= threshold).astype(np.int64)
    trials = pd.DataFrame({"subject": metadata["subject"].to_numpy(),
                           "trial": metadata["trial"].to_numpy(), "r": ratings})
    per_trial = trials.drop_duplicates(["subject", "trial"])
    cut = per_trial.groupby("subject")["r"].agg(method)
    return (ratings >= trials["subject"].map(cut).to_numpy()).astype(np.int64)


def trial_groups(metadata: pd.DataFrame) -> np.ndarray:
    """One integer per row identifying its trial, ``(subject, trial)``, unique across subjects."""
    return pd.MultiIndex.from_arrays([metadata["subject"], metadata["trial"]]).factorize()[0]


def _groups(metadata: pd.DataFrame, kind: str | None) -> np.ndarray:
    if kind == "trial":
        return trial_groups(metadata)
    if kind == "subject":
        return metadata["subject"].to_numpy()
    if kind in (None, "segment"):
        return np.arange(len(metadata))
    raise ValueError(f"unknown grouping {kind!r}")


# ---------------------------------------------------------------------------------------- folds
def make_folds(
    metadata: pd.DataFrame,
    protocol: str | Protocol,
    *,
    task: str = "valence",
    n_splits: int = 10,
    seed: int = 0,
    labels: np.ndarray | None = None,
    subjects: list[int] | None = None,
) -> list[Fold]:
    """Build the folds of a protocol.

    Parameters
    ----------
    metadata : DataFrame
        One row per segment (see module docstring).  Indices in the folds are positions of rows.
    protocol : str or Protocol
        See :data:`PROTOCOLS`.
    task : str
        Used by ``trial-kfold`` to stratify (labels from :func:`make_labels` unless ``labels``).
    n_splits : int
        k of the k-fold protocols (10 in both papers); ignored by ``loso``.  ``trial-kfold`` needs
        at least ``n_splits`` trials per subject.
    seed : int
        Shuffling seed (the same seed gives the same folds).
    subjects : list of int, optional
        Restrict per-subject protocols (and the held-out subjects of ``loso``) to these subjects.

    Returns
    -------
    list of Fold
        Per-subject protocols: ``n_splits`` folds for each subject, in subject order.
    """
    proto = get_protocol(protocol)
    meta = metadata.reset_index(drop=True)
    all_subjects = sorted(pd.unique(meta["subject"]).tolist())
    wanted = all_subjects if subjects is None else [s for s in all_subjects if s in set(subjects)]
    if subjects is not None and len(wanted) != len(set(subjects)):
        missing = sorted(set(subjects) - set(all_subjects))
        raise ValueError(f"subjects {missing} are not in the metadata (has {all_subjects})")
    folds: list[Fold] = []
    if proto.name == "loso":
        logo = LeaveOneGroupOut()
        for train, test in logo.split(np.zeros(len(meta)), groups=meta["subject"].to_numpy()):
            held = int(meta["subject"].iloc[test[0]])
            if held in wanted:
                folds.append(Fold(proto.name, held, 0, np.sort(train), np.sort(test)))
        return folds
    if proto.name == "pooled-segment-kfold":
        kf = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for k, (train, test) in enumerate(kf.split(np.zeros(len(meta)))):
            folds.append(Fold(proto.name, -1, k, np.sort(train), np.sort(test)))
        return folds
    if proto.name == "trial-kfold" and labels is None:
        labels = make_labels(meta, task=task)
    for subj in wanted:
        rows = np.flatnonzero(meta["subject"].to_numpy() == subj)
        if proto.name == "paper-segment-kfold":
            if len(rows) < n_splits:
                raise ValueError(f"subject {subj} has {len(rows)} segments, fewer than n_splits={n_splits}")
            split = KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(rows)
        else:  # trial-kfold
            groups = meta["trial"].to_numpy()[rows]
            n_trials = len(np.unique(groups))
            if n_trials < n_splits:
                raise ValueError(
                    f"trial-kfold: subject {subj} has {n_trials} trials, fewer than "
                    f"n_splits={n_splits}; lower n_splits"
                )
            sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            split = sgkf.split(np.zeros(len(rows)), np.asarray(labels)[rows], groups)
        for k, (train, test) in enumerate(split):
            folds.append(Fold(proto.name, int(subj), k, np.sort(rows[train]), np.sort(rows[test])))
    return folds


def shared_groups(metadata: pd.DataFrame, fold: Fold, kind: str) -> int:
    """How many ``kind`` groups (``"trial"`` or ``"subject"``) appear in both train and test."""
    g = _groups(metadata.reset_index(drop=True), kind)
    return len(np.intersect1d(g[fold.train_idx], g[fold.test_idx]))


def check_folds(metadata: pd.DataFrame, folds: list[Fold], protocol: str | Protocol | None = None) -> None:
    """Verify folds: train and test disjoint, and the protocol's groups never shared.

    Raises
    ------
    AssertionError
        Naming the first fold that breaks a promise.
    """
    meta = metadata.reset_index(drop=True)
    for fold in folds:
        proto = get_protocol(protocol or fold.protocol)
        overlap = np.intersect1d(fold.train_idx, fold.test_idx)
        if len(overlap):
            raise AssertionError(f"{fold}: {len(overlap)} rows are in both train and test")
        if len(fold.test_idx) == 0 or len(fold.train_idx) == 0:
            raise AssertionError(f"{fold}: empty train or test set")
        if proto.disjoint is not None:
            n = shared_groups(meta, fold, proto.disjoint)
            if n:
                raise AssertionError(
                    f"{fold}: {n} {proto.disjoint}(s) appear in both train and test, but "
                    f"{proto.name} promises they never do"
                )


def validation_split(
    metadata: pd.DataFrame,
    train_idx: np.ndarray,
    *,
    grouping: str | None,
    val_fraction: float = 0.1,
    labels: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation split out of a training fold (never out of the test fold).

    Parameters
    ----------
    metadata : DataFrame
        The full metadata (``train_idx`` indexes its rows).
    train_idx : np.ndarray
        The training fold.
    grouping : {"trial", "subject", "segment", None}
        Groups kept whole on one side of the split.  Use the same grouping as the protocol's test
        fold (``trial`` for ``trial-kfold``, ``subject`` for ``loso``): a validation split sharing
        trials with the training data would reward memorising trials, and early stopping would
        pick the epoch that leaks best.  ``None``/``"segment"`` splits segments at random.
    val_fraction : float
        Approximate share of the training fold (of its groups, when grouped).
    labels : np.ndarray, optional
        When given, the split is stratified by label as far as the groups allow.

    Returns
    -------
    (fit_idx, val_idx) : sorted positional indices, disjoint, together equal to ``train_idx``.
    """
    train_idx = np.asarray(train_idx)
    if val_fraction <= 0:
        return np.sort(train_idx), np.array([], dtype=np.int64)
    meta = metadata.reset_index(drop=True)
    groups = _groups(meta, grouping)[train_idx]
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(
            f"cannot carve a validation split grouped by {grouping!r}: the training fold has only "
            f"{n_groups} such group; set val_fraction=0 or another val_grouping"
        )
    n_val_splits = int(min(max(2, round(1 / val_fraction)), n_groups))
    y = None if labels is None else np.asarray(labels)[train_idx]
    if y is not None and len(np.unique(y)) > 1 and grouping in (None, "segment"):
        fit, val = next(StratifiedShuffleSplit(n_splits=1, test_size=1 / n_val_splits, random_state=seed)
                        .split(np.zeros(len(train_idx)), y))
    elif y is not None and len(np.unique(y)) > 1:
        splitter = StratifiedGroupKFold(n_splits=n_val_splits, shuffle=True, random_state=seed)
        fit, val = next(splitter.split(np.zeros(len(train_idx)), y, groups))
    elif grouping in (None, "segment"):
        fit, val = next(ShuffleSplit(n_splits=1, test_size=1 / n_val_splits, random_state=seed)
                        .split(train_idx))
    else:
        gss = GroupShuffleSplit(n_splits=1, test_size=1 / n_val_splits, random_state=seed)
        fit, val = next(gss.split(np.zeros(len(train_idx)), groups=groups))
    if len(val) > 2 * val_fraction * len(train_idx):
        # Coarser groups than asked for: say so, without proposing a finer grouping — a validation
        # split by trial under loso would choose epochs on subjects the model trains on, one by
        # segment under trial-kfold on trials it trains on.
        logger.warning(
            "validation split grouped by %s holds %d of %d training segments (asked for %.0f %%): "
            "the training fold has only %d %s groups; a finer grouping would select epochs on %ss "
            "the model trains on, so keep it and expect a noisier epoch choice (more %ss, or "
            "TrainConfig(keep='last') to select none)",
            grouping, len(val), len(train_idx), 100 * val_fraction, n_groups, grouping, grouping, grouping,
        )
    return np.sort(train_idx[fit]), np.sort(train_idx[val])


def leakage_report(metadata: pd.DataFrame, folds: list[Fold]) -> pd.DataFrame:
    """What each fold's train and test sets share — the numbers behind the leakage chapter.

    Returns
    -------
    DataFrame
        One row per fold: ``protocol``, ``subject``, ``fold``, ``n_train``, ``n_test``,
        ``shared_trials`` (trials with segments on both sides), ``test_trials``,
        ``shared_trial_fraction`` (share of the test fold's trials also seen in training),
        ``shared_subjects`` and, when the metadata has ``experiment_id``, ``shared_stimuli``
        (videos seen on both sides, by any subject).
    """
    meta = metadata.reset_index(drop=True)
    trials = trial_groups(meta)
    rows = []
    for f in folds:
        test_trials = np.unique(trials[f.test_idx])
        shared = shared_groups(meta, f, "trial")
        row = {
            "protocol": f.protocol, "subject": f.subject, "fold": f.fold,
            "n_train": len(f.train_idx), "n_test": len(f.test_idx),
            "shared_trials": shared, "test_trials": len(test_trials),
            "shared_trial_fraction": shared / len(test_trials),
            "shared_subjects": shared_groups(meta, f, "subject"),
        }
        if "experiment_id" in meta.columns:
            e = meta["experiment_id"].to_numpy()
            row["shared_stimuli"] = len(np.intersect1d(e[f.train_idx], e[f.test_idx]))
        rows.append(row)
    return pd.DataFrame(rows)
