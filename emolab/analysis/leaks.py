"""Leaks switched on one at a time, on a cheap feature pipeline (chapter 09).

The pipeline is the simplest one that can show every leak in seconds: log band powers of the
EEG in 1 s segments (:func:`~emolab.data.synthetic.leakage.eeg_band_features`), standardised,
and a logistic regression (scikit-learn).  :func:`evaluate_features` runs it under a protocol
of :mod:`emolab.train.protocols` — or the within-trial split below — with at most one leak
switched on, and records what each fitted step saw so that :func:`emolab.train.audit` can
find the leak afterwards.

The leaks (:data:`LEAKS`), each a mistake reported in the DEAP literature
(:cite:`deap_review_2025`, :cite:`trial_leakage_2025`):

``"select-on-test"``
    The regularisation strength is the one of :data:`C_GRID` that scores best *on the test
    fold* (the honest pipeline chooses it on a trial-grouped validation split of the training
    fold).  Choosing the epoch on the test fold, as the released code of DeepVANet does
    :cite:`zhang2021deepvanet`, is the same mistake.
``"normalize-on-all"``
    The standardisation's means and standard deviations come from all of the subject's rows
    (all rows for the pooled protocols), test rows included, instead of the training fold.
``"threshold-on-all"``
    The high/low cut of a rating is the subject's median over all trials, test trials included
    (honest: the median over the training trials).
``"within-trial"`` (a protocol, :func:`within_trial_folds`)
    Every trial's segments are split between train and test, and the result is reported as
    "subject-dependent" accuracy — TorchEEG's ``KFoldPerSubjectGroupbyTrial`` splitter does
    this; its ``KFoldPerSubjectCrossTrial`` keeps trials whole :cite:`zhang2024torcheeg`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emolab.data.synthetic import make_config
from emolab.data.synthetic.leakage import simulated_band_powers
from emolab.train.protocols import Fold, make_folds

__all__ = ["C_GRID", "LEAKS", "FeatureEvaluation", "band_power_dataset", "evaluate_features", "leak_effect",
           "within_trial_folds"]  # fmt: skip

#: Leaks :func:`evaluate_features` can switch on (``None``: the honest pipeline).
LEAKS = ("select-on-test", "normalize-on-all", "threshold-on-all")

#: Regularisation strengths (inverse, scikit-learn's ``C``) a pipeline chooses from.
C_GRID = tuple(float(c) for c in np.logspace(-3, 3, 7))

#: The within-trial split's protocol name (not in :data:`~emolab.train.protocols.PROTOCOLS`:
#: it is a mistake, not a protocol the book recommends).
WITHIN_TRIAL = "within-trial-kfold"


def band_power_dataset(
    *, fmt: str = "deap", preset: str = "book", seed: int = 0, sfreq: float = 128.0, **knobs
) -> tuple[np.ndarray, pd.DataFrame]:
    """Log band-power features of every 1 s segment of a synthetic dataset, simulated in memory.

    The trials are those the dataset writer would write for ``fmt``, ``preset``, ``seed`` and
    ``knobs`` (e.g. ``fingerprint=0``), simulated without files or video
    (:func:`~emolab.data.synthetic.leakage.simulated_band_powers`).

    Returns
    -------
    X : np.ndarray, float, shape (n_segments, n_eeg_channels * 4)
        Log powers of the theta, alpha, beta and gamma bands (µV², natural log).
    metadata : DataFrame
        One row per segment: ``subject``, ``trial``, ``experiment_id``, ``segment`` and the
        ratings ``valence``, ``arousal`` (1-9).
    """
    return simulated_band_powers(make_config(fmt=fmt, preset=preset, **knobs), seed=seed, sfreq=sfreq)


def within_trial_folds(metadata: pd.DataFrame, *, n_splits: int = 3, seed: int = 0) -> list[Fold]:
    """Per subject, each trial's segments cut into ``n_splits`` parts; fold k tests every part k.

    Every test segment has neighbours of its own trial in training: the split leaks trial
    identity although it is "per subject".  Parts are contiguous runs of segments (shuffled
    order of the parts, ``seed``), as a split of each trial's segment list would give.
    """
    meta = metadata.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    part = np.empty(len(meta), dtype=int)
    for rows in meta.groupby(["subject", "trial"]).indices.values():
        rows = np.sort(rows)
        cuts = np.array_split(np.arange(len(rows)), n_splits)
        for k, c in zip(rng.permutation(n_splits), cuts):
            part[rows[c]] = k
    folds = []
    for subj in sorted(meta["subject"].unique()):
        rows = np.flatnonzero(meta["subject"].to_numpy() == subj)
        for k in range(n_splits):
            test = rows[part[rows] == k]
            folds.append(Fold(WITHIN_TRIAL, int(subj), k, np.sort(np.setdiff1d(rows, test)), np.sort(test)))
    return folds


@dataclass
class FeatureEvaluation:
    """One evaluation of the feature pipeline: per-fold results and what each step saw.

    ``results`` has one row per fold (``protocol``, ``leak``, ``subject``, ``fold``,
    ``accuracy``, ``majority_baseline``, ``n_test``, ``n_pos``, ``C``), in the shape of the
    results table so :func:`emolab.train.metrics.aggregate` summarises it.  ``fit_rows``,
    ``selection_rows`` and ``threshold_rows`` (one index array per fold) are the inputs of
    :func:`emolab.train.audit`.
    """

    results: pd.DataFrame
    folds: list[Fold]
    fit_rows: list[np.ndarray] = field(repr=False)
    selection_rows: list[np.ndarray] | str = field(repr=False)
    threshold_rows: list[np.ndarray] | str = field(repr=False)

    def audit(self, metadata: pd.DataFrame, **kwargs) -> pd.DataFrame:
        """:func:`emolab.train.audit` of this evaluation."""
        from emolab.train.leak_audit import audit

        return audit(self.folds, metadata, fit_rows=self.fit_rows, selection_rows=self.selection_rows,
                     threshold_rows=self.threshold_rows, **kwargs)  # fmt: skip


def _fit_predict(X_fit, y_fit, X_eval, *, C: float, scale_rows=None, proba: bool = False,
                 max_iter: int = 100, random_state: int | None = None):  # fmt: skip
    """Standardise (statistics of ``scale_rows``, default ``X_fit``), fit, predict ``X_eval``.

    Returns the predicted labels of ``X_eval``, or with ``proba=True`` the predicted probability
    of class 1, float (n_eval,).  A training fold with one class predicts that class (logistic
    regression needs two): its label, or a probability of 1.0 or 0.0.  ``max_iter`` and
    ``random_state`` go to the liblinear solver (their defaults are scikit-learn's).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_fit)) < 2:
        if proba:
            return np.full(len(X_eval), float(y_fit[0] == 1))
        return np.full(len(X_eval), y_fit[0])
    scaler = StandardScaler().fit(X_fit if scale_rows is None else scale_rows)
    clf = LogisticRegression(C=C, solver="liblinear", max_iter=max_iter, random_state=random_state)
    clf.fit(scaler.transform(X_fit), y_fit)
    if proba:
        return clf.predict_proba(scaler.transform(X_eval))[:, list(clf.classes_).index(1)]
    return clf.predict(scaler.transform(X_eval))


def _labels(ratings: np.ndarray, subjects: np.ndarray, trials: np.ndarray, rows: np.ndarray,
            cut_rows: np.ndarray, rule: str) -> np.ndarray:  # fmt: skip
    """High/low labels of ``rows``: rating >= 5, or >= the subject's median over ``cut_rows``' trials."""
    if rule == "threshold":
        return (ratings[rows] >= 5.0).astype(int)
    per_trial = pd.DataFrame({"s": subjects[cut_rows], "t": trials[cut_rows], "r": ratings[cut_rows]})
    cut = per_trial.drop_duplicates(["s", "t"]).groupby("s")["r"].median()
    return (ratings[rows] >= pd.Series(subjects[rows]).map(cut).to_numpy()).astype(int)


def evaluate_features(
    X: np.ndarray,
    metadata: pd.DataFrame,
    *,
    protocol: str = "trial-kfold",
    task: str = "arousal",
    leak: str | None = None,
    label_rule: str = "threshold",
    select_C: bool = False,
    n_splits: int = 3,
    seed: int = 0,
) -> FeatureEvaluation:
    """Cross-validate band powers + logistic regression with at most one leak switched on.

    Parameters
    ----------
    X : np.ndarray, shape (n_segments, n_features)
    metadata : DataFrame
        From :func:`band_power_dataset` (``subject``, ``trial``, ``experiment_id`` and the
        ratings ``valence`` / ``arousal``).
    protocol : str
        A protocol of :data:`~emolab.train.protocols.PROTOCOLS`, or ``"within-trial-kfold"``
        (:func:`within_trial_folds`).
    task : {"valence", "arousal"}
    leak : one of :data:`LEAKS` or None
    label_rule : {"threshold", "median"}
        ``"threshold"``: high when the rating is >= 5.  ``"median"``: high when it is >= the
        subject's median rating — over the training trials, or over all trials with
        ``leak="threshold-on-all"`` (which needs this rule).  Not with ``loso``, where the
        test subject has no training trials.
    select_C : bool
        Choose ``C`` from :data:`C_GRID` on a trial-grouped 3-fold split of each training fold
        (the honest counterpart of ``leak="select-on-test"``); else ``C = 1``.
    n_splits, seed : int
        k of the k-fold protocols and the fold seed.

    Returns
    -------
    FeatureEvaluation
    """
    if leak is not None and leak not in LEAKS:
        raise ValueError(f"leak must be None or one of {LEAKS}, got {leak!r}")
    if label_rule not in ("threshold", "median"):
        raise ValueError(f"label_rule must be 'threshold' or 'median', got {label_rule!r}")
    if leak == "threshold-on-all" and label_rule != "median":
        raise ValueError("leak='threshold-on-all' needs label_rule='median' (a fixed threshold uses no trials)")
    if label_rule == "median" and protocol == "loso":
        raise ValueError("label_rule='median' needs each test subject's training trials, which loso has not")
    meta = metadata.reset_index(drop=True)
    ratings = meta[task].to_numpy(float)
    subjects, trials = meta["subject"].to_numpy(), meta["trial"].to_numpy()
    everything = np.arange(len(meta))
    strat = _labels(ratings, subjects, trials, everything, everything, label_rule)
    if protocol == WITHIN_TRIAL:
        folds = within_trial_folds(meta, n_splits=n_splits, seed=seed)
    else:
        folds = make_folds(meta, protocol, task=task, n_splits=n_splits, seed=seed, labels=strat)
    rows, fit_rows, sel_rows, thr_rows = [], [], [], []
    for f in folds:
        pooled = f.subject < 0 or protocol == "loso"
        domain = everything if pooled else np.flatnonzero(subjects == f.subject)
        cut_rows = domain if leak == "threshold-on-all" else f.train_idx
        y_tr = _labels(ratings, subjects, trials, f.train_idx, cut_rows, label_rule)
        y_te = _labels(ratings, subjects, trials, f.test_idx, cut_rows, label_rule)
        scale = domain if leak == "normalize-on-all" else f.train_idx
        if leak == "select-on-test":
            scores = [(_fit_predict(X[f.train_idx], y_tr, X[f.test_idx], C=c, scale_rows=X[scale]) == y_te).mean()
                      for c in C_GRID]  # fmt: skip
            C, sel = C_GRID[int(np.argmax(scores))], f.test_idx
        elif select_C:
            C, sel = _select_C(X, f.train_idx, y_tr, trials, subjects), f.train_idx
        else:
            C, sel = 1.0, None
        pred = _fit_predict(X[f.train_idx], y_tr, X[f.test_idx], C=C, scale_rows=X[scale])
        p = y_te.mean()
        rows.append({"protocol": protocol, "leak": leak or "none", "subject": f.subject, "fold": f.fold,
                     "accuracy": float((pred == y_te).mean()), "majority_baseline": float(max(p, 1 - p)),
                     "n_test": len(y_te), "n_pos": int(y_te.sum()), "C": C})  # fmt: skip
        fit_rows.append(scale)
        sel_rows.append(sel)
        thr_rows.append(cut_rows)
    return FeatureEvaluation(
        pd.DataFrame(rows), folds, fit_rows,
        "none" if sel_rows[0] is None else sel_rows,
        "fixed" if label_rule == "threshold" else thr_rows,
    )  # fmt: skip


def _select_C(X, train_idx, y_train, trials, subjects) -> float:
    """The ``C`` of :data:`C_GRID` best on a trial-grouped 3-fold split of the training rows."""
    from sklearn.model_selection import GroupKFold

    groups = subjects[train_idx] * 10_000 + trials[train_idx]
    n_inner = min(3, len(np.unique(groups)))
    if n_inner < 2:
        raise ValueError(f"select_C needs at least 2 training trials per fold, got {n_inner}")
    scores = np.zeros(len(C_GRID))
    for fit, val in GroupKFold(n_splits=n_inner).split(X[train_idx], y_train, groups):
        a, b = train_idx[fit], train_idx[val]
        scores += [(_fit_predict(X[a], y_train[fit], X[b], C=c) == y_train[val]).mean() for c in C_GRID]
    return C_GRID[int(np.argmax(scores))]


def leak_effect(honest: pd.DataFrame, leaky: pd.DataFrame, *, confidence: float = 0.95) -> dict:
    """How much a leak moves accuracy: per subject (pooled folds), leaky minus honest.

    ``honest`` and ``leaky`` are :attr:`FeatureEvaluation.results` of the same data and
    protocol family.  Returns the two mean accuracies with their bootstrap intervals over
    subjects and the paired ``effect`` with its interval (:func:`emolab.train.metrics.bootstrap_ci`).
    """
    from emolab.train.metrics import bootstrap_ci, pool_folds

    h = pool_folds(honest, [], "subject").set_index("subject")["accuracy"]
    k = pool_folds(leaky, [], "subject").set_index("subject")["accuracy"]
    diff = (k - h).dropna()
    out = {}
    for name, values in (("honest", h), ("leaky", k), ("effect", diff)):
        m, lo, hi = bootstrap_ci(values.to_numpy(), confidence=confidence)
        out |= {name: m, f"{name}_ci_low": lo, f"{name}_ci_high": hi}
    return out
