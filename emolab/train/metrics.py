"""Per-fold metrics and their aggregation with confidence intervals.

Per fold: accuracy, balanced accuracy, F1 of the "high" class, ROC-AUC, and the **majority-class
baseline of that test fold** — the accuracy of always answering the fold's own most frequent
class.  That baseline is what a classifier that learned nothing but the label balance can reach;
accuracies near it are no evidence of emotion recognition.

Aggregation (:func:`aggregate`): first per subject, then over subjects, so every subject weighs
the same.  Within a subject the folds are **pooled**: accuracy is the share of the subject's test
segments classified correctly over all its folds (the mean of fold accuracies weighted by fold
size), and the majority baseline is that of the subject's pooled test labels, so a protocol is
compared with the baseline of exactly the segments it tested.  Over subjects the interval is a
**percentile bootstrap** (:func:`bootstrap_ci`): resample subjects with replacement, take the mean
of each resample, keep the central 95 % of those means.  It never leaves the range of the
per-subject values, hence never [0, 1]; a Student-t interval over a handful of subjects can
(:func:`mean_ci`, kept for comparison).  With few subjects the bootstrap interval is somewhat too
narrow (its coverage approaches the nominal level as subjects are added;
``tests/test_metrics.py`` measures it on simulated subjects).  Folds of one subject share training
data, so an interval over folds would be narrower still; the interval over subjects is the honest
one for "how well does this work on a new person's data".

GBV-Net's paper reports its pooled protocol as the mean of the 10 fold accuracies (its Eq. 7,
:cite:`yu2025gbvnet`): :func:`aggregate_folds` computes that, with the fold as the unit.  The
book's summaries (:func:`emolab.experiments.summarize`) score the pooled models per subject
instead, like every other protocol, since its folds share subjects and trials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "majority_baseline")


def binary_metrics(y_true, y_score, *, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of one test fold.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n,)
    y_score : array-like of float, shape (n,)
        Predicted probability of class 1 (sigmoid of the logits).
    threshold : float
        Probability at or above which the prediction is 1.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``f1`` (of class 1, 0 when undefined), ``roc_auc``
        (NaN when the fold holds one class only — AUC is undefined then), ``majority_baseline``,
        ``n`` and ``n_pos``.
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    y_score = np.asarray(y_score, dtype=float).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} differ in shape")
    if len(y_true) == 0:
        raise ValueError("cannot compute metrics of an empty fold")
    y_pred = (y_score >= threshold).astype(int)
    # NumPy rather than scikit-learn's metric functions: the same definitions (tests compare them),
    # without their input validation, which cost ~20 ms per call — more than a validation pass of
    # a small model, and the trainer scores its validation split after every epoch.
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    tp = int(np.sum((y_pred == 1) & (y_true == 1)))
    tn = int(np.sum((y_pred == 0) & (y_true == 0)))
    fp, fn = n_neg - tn, n_pos - tp
    recalls = [r for r, present in ((tp / max(n_pos, 1), n_pos > 0), (tn / max(n_neg, 1), n_neg > 0)) if present]
    if n_pos == 0 or n_neg == 0:
        auc = float("nan")  # AUC is undefined with one class
    else:
        ranks = stats.rankdata(y_score)  # ties share their mean rank (Mann-Whitney U)
        auc = (ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return {
        "accuracy": (tp + tn) / len(y_true),
        "balanced_accuracy": float(np.mean(recalls)),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "roc_auc": float(auc),
        "majority_baseline": majority_baseline(y_true),
        "n": int(len(y_true)),
        "n_pos": n_pos,
    }


def majority_baseline(y_true) -> float:
    """Accuracy of always predicting the most frequent class of ``y_true``."""
    y_true = np.asarray(y_true).astype(int).ravel()
    if len(y_true) == 0:
        raise ValueError("empty label array")
    p = y_true.mean()
    return float(max(p, 1 - p))


def _finite_mean(values) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """The non-NaN values, and the ``(mean, low, high)`` to return at once when fewer than two
    remain (no interval can be taken), else ``None``."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return v, (float("nan"), float("nan"), float("nan"))
    if len(v) < 2:
        return v, (float(v.mean()), float("nan"), float("nan"))
    return v, None


def mean_ci(values, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval, NaNs ignored.

    Returns ``(mean, low, high)``; the interval is ``(nan, nan)`` with fewer than two values.
    """
    v, early = _finite_mean(values)
    if early is not None:
        return early
    m = float(v.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, df=len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m, m - half, m + half


def bootstrap_ci(
    values, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean, NaNs ignored.

    Resamples the values with replacement ``n_resamples`` times
    (:func:`scipy.stats.bootstrap`, ``method="percentile"``) and returns ``(mean, low, high)``
    with the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled
    means.  The interval lies within ``[min(values), max(values)]``: accuracies stay in [0, 1].
    ``(mean, nan, nan)`` with fewer than two values; a zero-width interval when all are equal.
    Seeded, so the same values always give the same interval.
    """
    v, early = _finite_mean(values)
    if early is not None:
        return early
    m = float(v.mean())
    if np.all(v == v[0]):
        return m, m, m
    res = stats.bootstrap((v,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                          method="percentile", random_state=np.random.default_rng(seed))  # fmt: skip
    return m, float(res.confidence_interval.low), float(res.confidence_interval.high)


def pool_folds(results: pd.DataFrame, by: Sequence[str], unit: str = "subject") -> pd.DataFrame:
    """One row per group × ``unit`` with the folds pooled (see the module docstring).

    ``accuracy`` is weighted by ``n_test``; ``majority_baseline`` is recomputed from the pooled
    ``n_pos`` / ``n_test``; every other metric is the plain mean over the unit's folds (balanced
    accuracy, F1 and AUC do not pool by weighting).  Without ``n_test`` / ``n_pos`` columns all
    metrics are plain means.
    """
    keys = [*by, unit]
    metrics = [c for c in METRICS if c in results.columns]
    out = results.groupby(keys, dropna=False)[metrics].mean()
    if {"n_test", "n_pos"} <= set(results.columns):
        g = results.assign(_correct=results["accuracy"] * results["n_test"]).groupby(keys, dropna=False)
        n = g["n_test"].sum()
        if "accuracy" in metrics:
            out["accuracy"] = g["_correct"].sum() / n
        if "majority_baseline" in metrics:
            p = g["n_pos"].sum() / n
            out["majority_baseline"] = np.maximum(p, 1 - p)
        out["n_test"] = n
    return out.reset_index()


def aggregate(
    results: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "modalities", "task", "protocol"),
    unit: str = "subject",
    metrics: Sequence[str] = METRICS,
    confidence: float = 0.95,
    ci: str = "bootstrap",
) -> pd.DataFrame:
    """Mean and confidence interval of each metric over ``unit`` within groups ``by``.

    Parameters
    ----------
    results : DataFrame
        The tidy results table (one row per fold, see :mod:`emolab.train.results`).
    by : columns
        Grouping; e.g. add ``"subject"`` and use ``unit="fold"`` for per-subject summaries.
    unit : str
        The column whose values are the independent units.  Rows are first pooled within each
        unit (:func:`pool_folds`), then mean and CI are taken over units.  ``"subject"`` (default)
        weighs subjects equally; ``"fold"`` treats each row as one unit.
    metrics : columns
        Metrics to summarise.
    ci : {"bootstrap", "t"}
        :func:`bootstrap_ci` (default, bounded) or :func:`mean_ci` (Student-t).

    Returns
    -------
    DataFrame
        One row per group with ``n_<unit>s`` and, for each metric ``m``, ``m``, ``m_ci_low``,
        ``m_ci_high``.
    """
    by = list(by)
    missing = [c for c in [*by, *metrics] if c not in results.columns]
    if missing:
        raise KeyError(f"results table lacks columns {missing}")
    if ci not in ("bootstrap", "t"):
        raise ValueError(f'ci must be "bootstrap" or "t", got {ci!r}')
    interval = bootstrap_ci if ci == "bootstrap" else mean_ci
    if unit == "fold":
        per_unit = results[[*by, *metrics]].copy()
    else:
        if unit not in results.columns:
            raise KeyError(f"results table lacks the unit column {unit!r}")
        per_unit = pool_folds(results, by, unit)
    rows = []
    for key, g in per_unit.groupby(by, dropna=False, sort=True) if by else [((), per_unit)]:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row[f"n_{unit}s"] = len(g)
        for m in metrics:
            mean, lo, hi = interval(g[m], confidence=confidence)
            row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"] = mean, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def aggregate_folds(
    results: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "modalities", "task", "protocol"),
    metrics: Sequence[str] = METRICS,
    confidence: float = 0.95,
    ci: str = "bootstrap",
) -> pd.DataFrame:
    """Mean over folds, as GBV-Net's Eq. 7 :cite:`yu2025gbvnet` averages its fold accuracies.

    For the pooled protocol (``pooled-segment-kfold``), whose test folds mix subjects and which
    the results table stores as one row per test subject of each fold: the rows of each fold are
    first pooled into that fold's accuracy and majority baseline (:func:`pool_folds` with
    ``unit="fold"``), then :func:`aggregate` takes the mean and the interval over folds.

    Returns
    -------
    DataFrame
        As :func:`aggregate` with ``unit="fold"``: ``n_folds`` and ``m``, ``m_ci_low``,
        ``m_ci_high`` per metric.
    """
    by = list(by)
    if "fold" not in results.columns:
        raise KeyError("results table lacks the column 'fold'")
    per_fold = pool_folds(results, by, unit="fold")
    return aggregate(per_fold, by=by, unit="fold", metrics=metrics, confidence=confidence, ci=ci)
