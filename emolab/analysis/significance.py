"""Is a result better than the majority baseline?  Tests that count trials, not segments.

A test fold of 1 s segments is not a sample of independent observations: the segments of one
trial share their label, their stimulus and most of their signal, so a model that gets one trial
wrong gets most of its segments wrong.  A binomial test over segments treats 60 segments of a
trial as 60 coin flips and reports p-values that are far too small.  :func:`baseline_tests`
therefore reduces every test trial to one decision — the mean predicted probability of its
segments, thresholded at 0.5 (a majority vote of soft scores) — and tests the number of correct
trials against the majority-class rate of those trials with an exact one-sided binomial test
(``scipy.stats.binomtest``).  The segment-level test is reported beside it, to show how much it
overstates the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["baseline_tests", "trial_votes"]


def trial_votes(predictions: pd.DataFrame, *, by: Sequence[str] = ("model", "modalities", "task", "protocol"),
                threshold: float = 0.5) -> pd.DataFrame:  # fmt: skip
    """One row per group × test trial: the trial's label and the vote of its segments.

    Parameters
    ----------
    predictions : DataFrame
        Test-fold predictions, one row per segment, with ``y_true``, ``y_score`` (probability
        of the high class), ``subject``, ``trial`` and the columns ``by``
        (:func:`emolab.experiments.grid_predictions`).
    by : columns
        The groups (one result each).
    threshold : float
        Cut applied to the trial's mean score.

    Returns
    -------
    DataFrame
        ``by`` + ``subject``, ``trial``, ``y_true``, ``vote`` (0/1), ``n_segments``,
        ``correct`` (bool).
    """
    keys = [*by, "subject", "trial"]
    missing = {"y_true", "y_score", "subject", "trial", *by} - set(predictions.columns)
    if missing:
        raise KeyError(f"predictions lack columns {sorted(missing)}")
    g = predictions.groupby(keys, dropna=False)
    out = g.agg(y_true=("y_true", "first"), score=("y_score", "mean"), n_segments=("y_true", "size"),
                n_labels=("y_true", "nunique")).reset_index()  # fmt: skip
    if (out["n_labels"] > 1).any():
        raise ValueError("a trial has segments with different labels; votes need one label per trial")
    out["vote"] = (out["score"] >= threshold).astype(int)
    out["correct"] = out["vote"] == out["y_true"].astype(int)
    return out.drop(columns=["n_labels", "score"])


def _majority_rate(labels: pd.DataFrame, unit: str) -> float:
    """Share of items the per-``unit`` majority class gets right (pooled over units)."""
    per = labels.groupby(unit)["y_true"].agg(["sum", "size"])
    return float(np.maximum(per["sum"], per["size"] - per["sum"]).sum() / per["size"].sum())


def baseline_tests(predictions: pd.DataFrame, *, by: Sequence[str] = ("model", "modalities", "task", "protocol"),
                   alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """Exact binomial tests of each group's accuracy against its majority baseline.

    The baseline of a group is the rate at which predicting each subject's majority class of
    its own test items would be right (trials for the trial-level test, segments for the
    segment-level one), pooled over subjects.

    Returns
    -------
    DataFrame
        One row per group: ``n_trials``, ``trial_accuracy``, ``trial_baseline``, ``p_trial``
        (one-sided: better than the baseline), ``n_segments``, ``segment_accuracy``,
        ``segment_baseline``, ``p_segment``, and ``significant`` (``p_trial < alpha``).
    """
    from scipy.stats import binomtest

    by = list(by)
    votes = trial_votes(predictions, by=by)
    rows = []
    for key, seg in predictions.groupby(by, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        tri = votes[(votes[by] == pd.Series(key, index=by)).all(axis=1)]
        k_t, n_t = int(tri["correct"].sum()), len(tri)
        correct = (seg["y_score"] >= 0.5).astype(int) == seg["y_true"].astype(int)
        k_s, n_s = int(correct.sum()), len(seg)
        p_t0, p_s0 = _majority_rate(tri, "subject"), _majority_rate(seg, "subject")
        rows.append({**dict(zip(by, key)), "n_trials": n_t, "trial_accuracy": k_t / n_t, "trial_baseline": p_t0,
                     "p_trial": binomtest(k_t, n_t, min(p_t0, 1.0), alternative="greater").pvalue,
                     "n_segments": n_s, "segment_accuracy": k_s / n_s, "segment_baseline": p_s0,
                     "p_segment": binomtest(k_s, n_s, min(p_s0, 1.0), alternative="greater").pvalue})  # fmt: skip
    out = pd.DataFrame(rows)
    out["significant"] = out["p_trial"] < alpha
    return out
