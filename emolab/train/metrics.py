"""Per-fold metrics and their aggregation with confidence intervals.

Per fold: accuracy, balanced accuracy, F1 of the "high" class, ROC-AUC, and the **majority-class
baseline of that test fold** — the accuracy of always answering the fold's own most frequent
class.  That baseline is what a classifier that learned nothing but the label balance can reach;
accuracies near it are no evidence of emotion recognition.

Aggregation: per subject (over its folds) and overall (first per subject, then over subjects, so
every subject weighs the same), with the mean and a 95 % Student-t confidence interval.  Folds of
one subject share training data, so an interval over folds is narrower than the truth; the
interval over subjects is the honest one for "how well does this work on a new person's data".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

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
    one_class = len(np.unique(y_true)) < 2
    with warnings.catch_warnings():
        # balanced accuracy warns when y_pred holds a class y_true lacks; the value is still defined
        warnings.simplefilter("ignore", category=UserWarning)
        bal = balanced_accuracy_score(y_true, y_pred)
    n_pos = int(y_true.sum())
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(bal),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": float("nan") if one_class else float(roc_auc_score(y_true, y_score)),
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


def mean_ci(values, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval, NaNs ignored.

    Returns ``(mean, low, high)``; the interval is ``(nan, nan)`` with fewer than two values.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, df=len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m, m - half, m + half


def aggregate(
    results: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "modalities", "task", "protocol"),
    unit: str = "subject",
    metrics: Sequence[str] = METRICS,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean and confidence interval of each metric over ``unit`` within groups ``by``.

    Parameters
    ----------
    results : DataFrame
        The tidy results table (one row per fold, see :mod:`emolab.train.results`).
    by : columns
        Grouping; e.g. add ``"subject"`` and use ``unit="fold"`` for per-subject summaries.
    unit : str
        The column whose values are the independent units.  Rows are first averaged within each
        unit, then mean and CI are taken over units.  ``"subject"`` (default) weighs subjects
        equally; ``"fold"`` treats each row as one unit.
    metrics : columns
        Metrics to summarise.

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
    if unit == "fold":
        per_unit = results[[*by, *metrics]].copy()
    else:
        if unit not in results.columns:
            raise KeyError(f"results table lacks the unit column {unit!r}")
        per_unit = results.groupby([*by, unit], dropna=False)[list(metrics)].mean().reset_index()
    rows = []
    for key, g in per_unit.groupby(by, dropna=False, sort=True) if by else [((), per_unit)]:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row[f"n_{unit}s"] = len(g)
        for m in metrics:
            mean, lo, hi = mean_ci(g[m], confidence=confidence)
            row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"] = mean, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)
