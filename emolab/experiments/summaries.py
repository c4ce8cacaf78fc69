"""Summaries of results tables: per-group means with intervals over subjects, verdicts, leak gaps, fusion gains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from emolab.experiments.grids import PAPER_PROTOCOL, PAPER_PROTOCOLS


def summarize(
    results: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "modalities", "task", "protocol"),
    metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "majority_baseline"),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean and confidence interval over subjects (every subject weighs the same) per group.

    Each subject's folds are pooled first (accuracy over all its test segments, the majority
    baseline of those same segments: :func:`emolab.train.metrics.pool_folds`), so the baseline of
    every group is that of the protocol's own test segments.  The interval is a percentile
    bootstrap over subjects (:func:`emolab.train.metrics.bootstrap_ci`), which never leaves
    [0, 1].  Adds ``leaky`` (the protocol shares trials between train and test), ``n_folds``
    (folds per subject, or of the pooled protocol, to show when a run used fewer folds than the
    protocol has) and ``above_baseline`` (accuracy minus the majority-class baseline).  With a
    single subject the interval is taken over folds instead (``unit`` column says which).

    ``pooled-segment-kfold`` is scored per subject too: its results have one row per fold and
    test subject, and a subject's rows pool into its accuracy over all its test segments.
    GBV-Net's Eq. 7 averages the folds instead; ours, because subjects are the unit of
    independence (a fold's test segments share subjects and trials with its training data and
    with the other folds), and three folds would give an interval on three numbers.
    """
    from emolab.train.metrics import aggregate

    if results.empty:
        raise ValueError("no results to summarise")
    by = list(by)
    pooled = (results["protocol"] == "pooled-segment-kfold") if "protocol" in by else np.zeros(len(results), bool)
    unit = "subject" if results["subject"].nunique() > 1 else "fold"
    parts = [aggregate(results, by=by, unit=unit, metrics=list(metrics), confidence=confidence).assign(unit=unit)]
    out = pd.concat(parts, ignore_index=True).sort_values(by, ignore_index=True)
    if "protocol" in by:
        leaky = results.groupby("protocol")["leaky"].first()
        out.insert(by.index("protocol") + 1, "leaky", out["protocol"].map(leaky).astype(bool))
    folds = results.groupby(by, dropna=False).size() / results.groupby(by, dropna=False)["subject"].nunique()
    if pooled.any():  # a pooled fold has one row per test subject: count its folds instead
        n_pooled = results[pooled].groupby(by, dropna=False)["fold"].nunique()
        folds = n_pooled.combine_first(folds)
    out = out.merge(folds.rename("n_folds").reset_index(), on=by, how="left")
    if "accuracy" in metrics and "majority_baseline" in metrics:
        out["above_baseline"] = out["accuracy"] - out["majority_baseline"]
    return out


def accuracy_table(summary: pd.DataFrame, *, metric: str = "accuracy", columns: str = "protocol",
                   index: Sequence[str] = ("model", "modalities", "task"), digits: int = 3) -> pd.DataFrame:
    """A readable pivot of :func:`summarize`: ``"mean [low, high]"`` per cell, leaky columns marked.

    Column names get ``" (leaky)"`` when their protocol shares trials between train and test.
    After them, one ``"majority (<column>)"`` column per column value gives the majority-class
    baseline of exactly the segments that column's protocol tested.
    """
    def fmt(r) -> str:
        lo, hi = r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]
        ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
        return f"{r[metric]:.{digits}f}{ci}"

    df = summary.copy()
    df["_cell"] = df.apply(fmt, axis=1)
    plain = df[columns].astype(str)
    if "leaky" in df.columns and columns == "protocol":
        df[columns] = [f"{p} (leaky)" if lk else p for p, lk in zip(df[columns], df["leaky"])]
    out = df.pivot_table(index=list(index), columns=columns, values="_cell", aggfunc="first")
    if "majority_baseline" in df.columns:
        df["_base"] = [f"{v:.{digits}f}" for v in df["majority_baseline"]]
        df["_col"] = [f"majority ({p})" for p in plain]
        base = df.pivot_table(index=list(index), columns="_col", values="_base", aggfunc="first")
        out = out.join(base)
    out.columns.name = None
    return out


def verdicts(summary: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """One row per group of :func:`summarize` saying what its numbers support, in words.

    Columns: the group keys, ``accuracy``, its interval, ``majority_baseline``, ``margin``
    (accuracy minus baseline), ``clears`` (the interval's lower end is above the baseline — the
    group beat guessing the most frequent label of its own test segments, for this set of
    subjects) and ``sentence``, which the chapters print instead of typing numbers in.
    """
    keys = [c for c in ("model", "modalities", "task", "protocol") if c in summary.columns]
    rows = []
    for _, r in summary.iterrows():
        lo, hi, base = r["accuracy_ci_low"], r["accuracy_ci_high"], r["majority_baseline"]
        clears = bool(np.isfinite(lo) and lo > base)
        below = bool(np.isfinite(hi) and hi < base)
        what = " ".join(str(r[k]) for k in keys)
        verdict = ("its interval lies above the baseline" if clears else
                   "its interval lies below the baseline: it does worse than always answering the "
                   "majority class" if below else "its interval includes the baseline: no evidence "
                   "that it learned more than the label balance")  # fmt: skip
        ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) else ""
        sentence = (f"{what}: accuracy {r['accuracy']:.{digits}f}{ci}, majority baseline {base:.{digits}f} "
                    f"({r['accuracy'] - base:+.{digits}f}); {verdict}.")  # fmt: skip
        rows.append({**{k: r[k] for k in keys}, "accuracy": r["accuracy"], "ci_low": lo, "ci_high": hi,
                     "majority_baseline": base, "margin": r["accuracy"] - base, "clears": clears,
                     "sentence": sentence})  # fmt: skip
    return pd.DataFrame(rows)


def protocol_gaps(summary: pd.DataFrame, *, leaky: str, honest: str = "trial-kfold",
                  index: Sequence[str] = ("model", "modalities", "task")) -> pd.DataFrame:  # fmt: skip
    """The leak gap per group: accuracy under ``leaky`` minus under ``honest``.

    ``separated`` says whether the two intervals are disjoint with the leaky one above (a gap
    the intervals support); ``overlap`` whether they overlap (no gap can be claimed).  Only the
    groups that ran both protocols get a row.

    ``leaky="paper"`` takes, for each model, the rows of its own paper's protocol
    (:func:`~emolab.experiments.paper_protocol`: GBV-Net's pooled k-fold, Safavi et al.'s per
    subject), so every model gets its gap under its own paper's protocol.
    """
    if leaky == PAPER_PROTOCOL and "model" in summary:
        own = summary["model"].map(PAPER_PROTOCOLS)
        summary = summary.assign(protocol=summary["protocol"].where(~own.eq(summary["protocol"]), PAPER_PROTOCOL))
    idx = list(index)
    s = summary.set_index([*idx, "protocol"])
    a, b = s.xs(leaky, level="protocol"), s.xs(honest, level="protocol")
    a, b = a.align(b, join="inner", axis=0)  # the groups that ran both protocols
    out = pd.DataFrame({leaky: a["accuracy"], honest: b["accuracy"]})
    out["gap"] = out[leaky] - out[honest]
    out["separated"] = a["accuracy_ci_low"] > b["accuracy_ci_high"]
    out["overlap"] = ~((a["accuracy_ci_low"] > b["accuracy_ci_high"]) | (b["accuracy_ci_low"] > a["accuracy_ci_high"]))
    return out.reset_index()


def fusion_gains(results: pd.DataFrame, *, fused: str = "face+bio", confidence: float = 0.95,
                 index: Sequence[str] = ("model", "task", "protocol")) -> pd.DataFrame:
    """What fusion adds over the better single modality, per group, with an interval over subjects.

    For every subject: the fused model's pooled accuracy minus the best of the single-modality
    models' pooled accuracies (the best one chosen on the group mean, the same for every
    subject); then the mean over subjects and its Student-t interval, as for every paired
    difference (:func:`paired_gap` says why not the bootstrap).  The pooled protocol's rows, one
    per fold and test subject, pool per subject alike.  Face-only
    models are scored on segments with a detected face only, fusion on all segments: on data
    where every segment has a face, the test sets are identical.  Where some have none (real
    videos), pass :func:`has_face_results` of the rows instead, so that every model is scored on
    the same segments.
    """
    from emolab.train.metrics import mean_ci, pool_folds

    idx = list(index)
    rows = []
    for key, cells in results.groupby(idx):
        unit = "subject" if cells["subject"].nunique() > 1 else "fold"
        g = pool_folds(cells, [*idx, "modalities"], unit)
        wide = g.pivot_table(index=unit, columns="modalities", values="accuracy")
        singles = [m for m in wide.columns if m != fused]
        if fused not in wide.columns or not singles:
            continue
        best = wide[singles].mean().idxmax()
        diff = (wide[fused] - wide[best]).dropna()
        m, lo, hi = mean_ci(diff.to_numpy(), confidence=confidence)
        rows.append({**group_columns(idx, key), "fused": wide[fused].mean(),
                     "best_single": best, "best_single_accuracy": wide[best].mean(), "gain": m,
                     "gain_ci_low": lo, "gain_ci_high": hi, "n_units": len(diff), "unit": unit})  # fmt: skip
    return pd.DataFrame(rows)


def group_columns(index: Sequence[str], key: Any) -> dict[str, Any]:
    """``{column: value}`` of one ``groupby(index)`` key (a scalar when pandas gives one)."""
    return dict(zip(index, key if isinstance(key, tuple) else (key,)))




def paired_gap(results: pd.DataFrame, *, leaky: str, honest: str = "trial-kfold",
               confidence: float = 0.95) -> dict[str, float]:  # fmt: skip
    """Accuracy under ``leaky`` minus under ``honest``, paired per subject, with its interval.

    Each subject's folds are pooled per protocol (:func:`emolab.train.metrics.pool_folds`); the
    per-subject differences are averaged with a Student-t interval over subjects
    (:func:`emolab.train.metrics.mean_ci`).  Not the percentile bootstrap of :func:`summarize`:
    a difference of accuracies is not confined to [0, 1] the way an accuracy is, and with a
    handful of subjects the bootstrap interval is too narrow (``tests/test_metrics.py``), which
    would call a gap of pure chance a real one too often.  Only subjects with results under both
    protocols count.

    Returns
    -------
    dict
        ``gap``, ``gap_low``, ``gap_high``, the two mean accuracies ``leaky_accuracy`` and
        ``honest_accuracy`` over the same subjects, and ``n_subjects``.
    """
    from emolab.train.metrics import mean_ci, pool_folds

    missing = {p for p in (leaky, honest) if p not in set(results["protocol"])}
    if missing:
        raise KeyError(f"no results under {sorted(missing)}; the table has {sorted(results['protocol'].unique())}")
    acc = {p: pool_folds(results[results["protocol"] == p], [], "subject").set_index("subject")["accuracy"]
           for p in (leaky, honest)}  # fmt: skip
    both = acc[leaky].index.intersection(acc[honest].index)
    diff = (acc[leaky][both] - acc[honest][both]).to_numpy()
    gap, low, high = mean_ci(diff, confidence=confidence)
    return {"gap": gap, "gap_low": low, "gap_high": high, "leaky_accuracy": float(acc[leaky][both].mean()),
            "honest_accuracy": float(acc[honest][both].mean()), "n_subjects": int(len(both))}  # fmt: skip


def paired_gaps(results: pd.DataFrame, *, by: Sequence[str] = ("model", "modalities", "task"), leaky: str,
                honest: str = "trial-kfold", confidence: float = 0.95) -> pd.DataFrame:  # fmt: skip
    """:func:`paired_gap` of every group ``by``: one row per group with ``by`` and its columns,
    plus ``contains_zero`` (the interval includes 0)."""
    rows = []
    for key, part in results.groupby(list(by), dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), **paired_gap(part, leaky=leaky, honest=honest, confidence=confidence)})
    out = pd.DataFrame(rows)
    out["contains_zero"] = (out["gap_low"] <= 0) & (out["gap_high"] >= 0)
    return out
