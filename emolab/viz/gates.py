"""Plots of the learned fusion gate and of missing/degraded-modality tests (chapter 07).

They draw the tables of :mod:`emolab.analysis.gates`; every function takes an optional
matplotlib ``ax`` (or makes its own figure) and returns what it drew on.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from emolab.analysis.gates import GateValues, aggregate_gates

#: One colour per modality, the same in every plot of the book's fusion chapters.
MODALITY_COLORS = {"face": "#dd8452", "bio": "#4c72b0", "none": "#7f7f7f"}


def _ax(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_gate_distribution(gates: GateValues, *, value: str = "gate", ax=None):
    """Histogram of the per-sample mean gate of each modality (``value="share"``: the share of
    the fused vector instead).  Two well separated humps mean the model trusts one modality
    more than the other everywhere; overlapping ones mean the gate decides sample by sample."""
    ax = _ax(ax)
    long = gates.long()
    sns.histplot(data=long, x=value, hue="modality", palette=MODALITY_COLORS, element="step",
                 stat="density", common_norm=False, bins=30, ax=ax)  # fmt: skip
    label = "mean gate per sample" if value == "gate" else "share of the fused vector per sample"
    ax.set(xlabel=label, title=f"{label.capitalize()}, by modality")
    return ax


def plot_gates_by(gates: GateValues, by: str = "subject", *, value: str = "gate", ax=None):
    """Mean gate of each modality per ``by`` group (bars) with the spread over samples (sd)."""
    ax = _ax(ax)
    long = gates.long()
    if by not in long.columns:
        raise KeyError(f"the gate table has no column {by!r}; columns: {list(long.columns)}")
    sns.barplot(data=long, x=by, y=value, hue="modality", palette=MODALITY_COLORS, errorbar="sd",
                ax=ax)  # fmt: skip
    ax.set(ylabel=f"mean {value} (± sd over samples)", title=f"How much each modality is let through, per {by}")
    if value == "gate":
        ax.set_ylim(0, 1)
    return ax


def plot_gate_heatmap(gates: GateValues, *, value: str = "gate_face_minus_bio", index: str = "subject",
                      columns: str = "trial", ax=None):  # fmt: skip
    """Heatmap of one aggregated gate column (default face minus bio) per ``index`` x ``columns``
    (subject x trial): red cells trust the face more, blue cells the physiological signals."""
    per = aggregate_gates(gates, by=[index, columns])
    if value not in per.columns:
        raise KeyError(f"{value!r} is not an aggregated gate column; choose one of {list(per.columns)}")
    table = per.pivot(index=index, columns=columns, values=value)
    ax = _ax(ax, figsize=(min(14, 1.5 + 0.45 * table.shape[1]), 1.2 + 0.45 * table.shape[0]))
    lim = float(np.nanmax(np.abs(table.to_numpy()))) if table.size else 1.0
    sns.heatmap(table, cmap="RdBu_r", center=0.0, vmin=-lim, vmax=lim, annot=table.shape[1] <= 12,
                fmt=".2f", cbar_kws={"label": value}, ax=ax)  # fmt: skip
    ax.set_title(f"{value} per {index} and {columns}")
    return ax


def plot_gate_vs_trait(per_subject: pd.DataFrame, traits: pd.DataFrame, *, trait: str = "expressiveness",
                       value: str = "gate_face_minus_bio", ax=None):  # fmt: skip
    """Scatter of a per-subject gate value against a per-subject trait, one labelled point per
    subject, with a least-squares line and Pearson's r in the title when there are at least three
    subjects (with fewer, the points only, and the title says why).

    Parameters
    ----------
    per_subject : DataFrame
        :func:`~emolab.analysis.gates.aggregate_gates` by ``"subject"``.
    traits : DataFrame
        With columns ``subject`` and ``trait`` (e.g. the synthetic data's ground truth, one row
        per subject x trial: it is reduced to one value per subject).
    """
    for name, df, col in (("per_subject", per_subject, value), ("traits", traits, trait)):
        if "subject" not in df.columns or col not in df.columns:
            raise KeyError(f"{name} needs the columns 'subject' and {col!r}; it has {list(df.columns)}")
    t = traits.groupby("subject", as_index=False)[trait].mean()
    df = per_subject[["subject", value]].merge(t, on="subject", how="inner")
    if df.empty:
        raise ValueError("no subject is in both tables")
    ax = _ax(ax, figsize=(5, 4))
    enough = len(df) >= 3 and df[trait].nunique() > 1 and df[value].nunique() > 1
    if enough:
        sns.regplot(data=df, x=trait, y=value, ci=None, ax=ax, scatter_kws={"s": 50})
    else:  # a line through one or two points would suggest a trend that nothing supports
        ax.scatter(df[trait], df[value], s=50)
        ax.set(xlabel=trait, ylabel=value)
    for _, row in df.iterrows():
        ax.annotate(f"s{int(row['subject']):02d}", (row[trait], row[value]), textcoords="offset points",
                    xytext=(5, 4), fontsize=8)  # fmt: skip
    title = f"{value} vs {trait}"
    if enough:
        r, p = stats.pearsonr(df[trait], df[value])
        title += f"\nPearson r = {r:.2f} (p = {p:.2g}, {len(df)} subjects)"
    else:
        title += f"\n{len(df)} subject(s): too few for a trend"
    ax.set_title(title)
    return ax


def plot_degradation(results: pd.DataFrame, *, metric: str = "accuracy", axes: Sequence | None = None):
    """Accuracy (or another metric) under each test condition, with the clean accuracy and the
    majority-class baseline as reference lines; for a gated model a second panel shows the mean
    gate of each modality under each condition (does the gate close on a damaged modality?).

    ``results`` is :func:`~emolab.analysis.degradation.evaluate_degraded`'s table without ``by``.
    """
    if "condition" not in results.columns or metric not in results.columns:
        raise KeyError(f"expected evaluate_degraded's table with a {metric!r} column")
    if results["condition"].duplicated().any():
        raise ValueError("one row per condition expected: call evaluate_degraded without by=")
    gate_cols = [c for c in results.columns if c.startswith("gate_")]
    n_panels = 2 if gate_cols else 1
    if axes is None:
        _, axes = plt.subplots(1, n_panels, figsize=(6 * n_panels, 0.35 * len(results) + 1.5), sharey=True,
                               squeeze=False)  # fmt: skip
        axes = axes[0]
    ax = axes[0]
    colors = [MODALITY_COLORS.get(m, "#7f7f7f") for m in results["modality"]]
    ax.barh(results["condition"], results[metric], color=colors)
    clean = results.loc[results["kind"] == "clean", metric]
    if len(clean):
        ax.axvline(float(clean.iloc[0]), color="k", lw=1, label=f"clean ({float(clean.iloc[0]):.2f})")
    if "majority_baseline" in results.columns and metric in ("accuracy", "balanced_accuracy"):
        base = float(results["majority_baseline"].iloc[0]) if metric == "accuracy" else 0.5
        ax.axvline(base, color="k", ls="--", lw=1, label=f"{'majority' if metric == 'accuracy' else 'chance'} ({base:.2f})")
    ax.invert_yaxis()
    ax.set(xlabel=metric, xlim=(0, 1), title=f"Test {metric} when a modality is missing or degraded")
    ax.legend(loc="lower right", fontsize=8)
    if gate_cols:
        gates = results.melt(id_vars=["condition"], value_vars=gate_cols, var_name="gate of", value_name="mean gate")
        gates["gate of"] = gates["gate of"].str.removeprefix("gate_")
        sns.barplot(data=gates, y="condition", x="mean gate", hue="gate of", palette=MODALITY_COLORS, ax=axes[1])
        axes[1].set(xlim=(0, 1), ylabel="", title="Mean gate under each condition")
    return axes
