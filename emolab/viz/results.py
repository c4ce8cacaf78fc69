"""Plots of experiment results (chapters 05-08): accuracy with confidence intervals next to the
majority baseline, training curves, confusion matrices, per-subject accuracy, and the effect of
choosing an epoch on the test fold.

Every function takes the tables of :mod:`emolab.experiments` (:func:`~emolab.experiments.summarize`,
:func:`~emolab.experiments.grid_histories`, :func:`~emolab.experiments.grid_predictions`, the
results table itself) and returns a matplotlib ``Figure``; nothing is computed here that the
tables do not hold, except counts and means for display.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

__all__ = [
    "plot_accuracy", "plot_training_curves", "plot_confusion_matrices", "plot_per_subject_accuracy",
    "plot_epoch_selection", "plot_paper_comparison", "plot_fingerprint_sweep", "plot_signature_gaps",
    "plot_template_correlation", "plot_probe_curves",
]

#: Hatching that marks protocols whose test folds share trials with training (leaky).
LEAKY_HATCH = "///"


def _levels(df: pd.DataFrame, col: str | None) -> list:
    return [None] if col is None else list(dict.fromkeys(df[col]))


def _panel(df: pd.DataFrame, row: str | None, r, col: str | None, c) -> pd.DataFrame:
    """The rows of ``df`` drawn in the panel at level ``r`` of ``row`` and ``c`` of ``col``."""
    if row is not None:
        df = df[df[row] == r]
    if col is not None:
        df = df[df[col] == c]
    return df


def _grid(n_rows: int, n_cols: int, *, width: float = 4.2, height: float = 3.2, **kw):
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False, **kw)
    return fig, axes


def plot_accuracy(
    summary: pd.DataFrame,
    *,
    x: str = "modalities",
    hue: str = "protocol",
    col: str | None = "task",
    row: str | None = "model",
    metric: str = "accuracy",
    baseline: str | None = "majority_baseline",
    chance: float | None = 0.5,
):
    """Grouped bars of ``metric`` (mean with its 95 % CI) and the majority-class baseline.

    Parameters
    ----------
    summary : DataFrame
        :func:`emolab.experiments.summarize` output: ``metric``, ``<metric>_ci_low``,
        ``<metric>_ci_high``, ``leaky`` and the grouping columns.
    x, hue, col, row : column names
        Bars along ``x``, one colour per ``hue`` level, panels by ``col`` × ``row``.
    baseline : column or None
        Drawn as a black tick across each bar: the accuracy of always answering the test fold's
        majority class.  A bar that does not clear its tick learned nothing usable.
    chance : float or None
        A dotted line at this accuracy.

    Leaky protocols (``leaky`` True) get hatched bars and "(leaky)" in the legend.
    """
    rows, cols = _levels(summary, row), _levels(summary, col)
    hues = _levels(summary, hue)
    xs = _levels(summary, x)
    fig, axes = _grid(len(rows), len(cols), sharey=True)
    palette = plt.get_cmap("tab10")
    width = 0.8 / max(len(hues), 1)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            sub = _panel(summary, row, r, col, c)
            for k, h in enumerate(hues):
                g = sub[sub[hue] == h].set_index(x) if hue is not None else sub.set_index(x)
                for xi, xv in enumerate(xs):
                    if xv not in g.index:
                        continue
                    rec = g.loc[xv]
                    pos = xi - 0.4 + width * (k + 0.5)
                    mean = float(rec[metric])
                    lo, hi = rec.get(f"{metric}_ci_low", np.nan), rec.get(f"{metric}_ci_high", np.nan)
                    leaky = bool(rec.get("leaky", False))
                    ax.bar(pos, mean, width * 0.95, color=palette(k), alpha=0.85,
                           hatch=LEAKY_HATCH if leaky else None, edgecolor="white" if leaky else None)  # fmt: skip
                    if np.isfinite(lo) and np.isfinite(hi):
                        ax.errorbar(pos, mean, yerr=[[mean - lo], [hi - mean]], color="black", capsize=3, lw=1)
                    if baseline is not None and baseline in rec:
                        ax.hlines(float(rec[baseline]), pos - width / 2, pos + width / 2, color="black", lw=2)
            if chance is not None:
                ax.axhline(chance, color="grey", ls=":", lw=1)
            ax.set_xticks(range(len(xs)), [str(v) for v in xs])
            ax.set_ylim(0, 1.05)
            title = " | ".join(str(v) for v in (r, c) if v is not None)
            ax.set_title(title)
            if j == 0:
                ax.set_ylabel(metric.replace("_", " "))
    leaky_of = summary.groupby(hue)["leaky"].first().to_dict() if hue is not None and "leaky" in summary else {}
    handles = [Patch(facecolor=palette(k), hatch=LEAKY_HATCH if leaky_of.get(h) else None, edgecolor="white",
                     label=f"{h}{' (leaky)' if leaky_of.get(h) else ''}") for k, h in enumerate(hues)]  # fmt: skip
    if baseline is not None:
        handles.append(plt.Line2D([], [], color="black", lw=2, label="majority baseline"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_training_curves(
    histories: pd.DataFrame,
    *,
    col: str = "protocol",
    losses: Sequence[str] = ("train_loss", "val_loss"),
):
    """Loss per epoch of every cell (thin lines), one panel per level of ``col``.

    The dot on each validation curve marks the epoch the trainer kept (best validation loss,
    ``best_epoch``); the test fold played no part in choosing it.
    """
    levels = _levels(histories, col)
    fig, axes = _grid(1, len(levels), sharey=True)
    styles = {"train_loss": dict(color="tab:blue"), "val_loss": dict(color="tab:orange"),
              "test_loss": dict(color="tab:red")}  # fmt: skip
    for j, lev in enumerate(levels):
        ax = axes[0, j]
        sub = histories if col is None else histories[histories[col] == lev]
        for _, g in sub.groupby("cell_id"):
            g = g.sort_values("epoch")
            for name in losses:
                if name in g and g[name].notna().any():
                    ax.plot(g["epoch"], g[name], lw=1, alpha=0.7, **styles.get(name, {}))
            if "best_epoch" in g and "val_loss" in g and pd.notna(g["best_epoch"].iloc[0]):
                b = g[g["epoch"] == g["best_epoch"].iloc[0]]
                ax.plot(b["epoch"], b["val_loss"], "o", color="black", ms=4)
        ax.set_title(str(lev) if lev is not None else "")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        if j == 0:
            ax.set_ylabel("binary cross-entropy")
    handles = [plt.Line2D([], [], label=n.replace("_", " "), **styles.get(n, {})) for n in losses]
    handles.append(plt.Line2D([], [], marker="o", color="black", ls="", label="kept epoch (validation)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_confusion_matrices(predictions: pd.DataFrame, *, by: str | Sequence[str] = "protocol",
                            threshold: float = 0.5, labels: Sequence[str] = ("low", "high")):
    """Row-normalised confusion matrices of the pooled test predictions, one per group of ``by``.

    Each cell shows the share of the true class (row) predicted as each class (column), with the
    count underneath; predictions are ``y_score >= threshold``.
    """
    by = [by] if isinstance(by, str) else list(by)
    groups = list(predictions.groupby(by, sort=False))
    fig, axes = _grid(1, len(groups), width=3.4, height=3.2)
    for j, (key, g) in enumerate(groups):
        ax = axes[0, j]
        y = g["y_true"].to_numpy(int)
        p = (g["y_score"].to_numpy(float) >= threshold).astype(int)
        cm = np.array([[np.sum((y == t) & (p == q)) for q in (0, 1)] for t in (0, 1)])
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
        for t in (0, 1):
            for q in (0, 1):
                ax.text(q, t, f"{share[t, q]:.2f}\n({cm[t, q]})", ha="center", va="center",
                        color="white" if share[t, q] > 0.6 else "black")  # fmt: skip
        ax.set_xticks([0, 1], [f"pred {v}" for v in labels])
        ax.set_yticks([0, 1], [f"true {v}" for v in labels])
        key = key if isinstance(key, tuple) else (key,)
        ax.set_title(" | ".join(map(str, key)))
    fig.tight_layout()
    return fig


def plot_per_subject_accuracy(results: pd.DataFrame, *, hue: str = "protocol", col: str | None = "task",
                              metric: str = "accuracy"):
    """Mean ``metric`` of each test subject (over its folds) per ``hue`` level, with each subject's
    majority baseline as a black tick — differences between people are as large as between
    methods, which is why the book's intervals are over subjects."""
    cols = _levels(results, col)
    hues = _levels(results, hue)
    fig, axes = _grid(1, len(cols), sharey=True, width=5.0)
    palette = plt.get_cmap("tab10")
    width = 0.8 / max(len(hues), 1)
    for j, c in enumerate(cols):
        ax = axes[0, j]
        sub = results if col is None else results[results[col] == c]
        per = sub.groupby([hue, "subject"])[[metric, "majority_baseline"]].mean().reset_index()
        subjects = sorted(per["subject"].unique())
        for k, h in enumerate(hues):
            g = per[per[hue] == h].set_index("subject")
            for si, s in enumerate(subjects):
                if s not in g.index:
                    continue
                pos = si - 0.4 + width * (k + 0.5)
                ax.bar(pos, g.loc[s, metric], width * 0.95, color=palette(k), alpha=0.85,
                       label=str(h) if si == 0 else None)  # fmt: skip
                ax.hlines(g.loc[s, "majority_baseline"], pos - width / 2, pos + width / 2, color="black", lw=2)
        ax.set_xticks(range(len(subjects)), [f"s{s:02d}" for s in subjects])
        ax.set_ylim(0, 1.05)
        ax.set_title(str(c) if c is not None else "")
        if j == 0:
            ax.set_ylabel(metric.replace("_", " "))
            ax.legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    return fig


def plot_epoch_selection(curves: pd.DataFrame, *, subject: int | None = None, fold: int | None = None):
    """One fold's validation loss and *test* accuracy per epoch, with the two epoch choices marked.

    ``curves`` comes from :func:`emolab.analysis.peek_test_epochs`.  The circle is the epoch an
    honest run keeps (lowest validation loss); the star is the epoch with the highest test
    accuracy — picking it uses the test labels, so its accuracy is not a test result any more.
    ``subject``/``fold`` default to the fold where the two choices differ most.
    """
    if subject is None or fold is None:
        gap = {}
        for key, g in curves.groupby(["subject", "fold"]):
            sel = g.loc[g["val_loss"].idxmin(), "test_accuracy"]
            gap[key] = g["test_accuracy"].max() - sel
        subject, fold = max(gap, key=gap.get)
    g = curves[(curves["subject"] == subject) & (curves["fold"] == fold)].sort_values("epoch")
    if g.empty:
        raise KeyError(f"no curve for subject {subject}, fold {fold}")
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(g["epoch"], g["val_loss"], color="tab:orange", label="validation loss")
    if "train_loss" in g:
        ax.plot(g["epoch"], g["train_loss"], color="tab:blue", alpha=0.6, label="training loss")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("binary cross-entropy")
    ax2 = ax.twinx()
    ax2.plot(g["epoch"], g["test_accuracy"], color="tab:red", ls="--", label="test accuracy")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("test accuracy")
    sel = g.loc[g["val_loss"].idxmin()]
    best = g.loc[g["test_accuracy"].idxmax()]
    ax2.plot(sel["epoch"], sel["test_accuracy"], "o", color="black", ms=8,
             label=f"kept by validation (epoch {int(sel['epoch'])})")  # fmt: skip
    ax2.plot(best["epoch"], best["test_accuracy"], "*", color="tab:red", ms=14,
             label=f"best test epoch (epoch {int(best['epoch'])})")  # fmt: skip
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax2.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize="small", loc="lower left")
    ax.set_title(f"subject {subject}, fold {fold}")
    fig.tight_layout()
    return fig


#: Order of the evaluations of :func:`emolab.analysis.paper_comparison` in plots and tables.
EVALUATIONS = ("paper's protocol", "trial-kfold", "loso")


def plot_paper_comparison(comparison: pd.DataFrame, *, metric: str = "accuracy"):
    """Our accuracy under each evaluation beside each paper's published figure (chapter 08).

    Parameters
    ----------
    comparison : DataFrame
        :func:`emolab.analysis.paper_comparison` output (``model``, ``modalities``, ``task``,
        ``evaluation``, the metric with its interval, ``majority_baseline``, ``paper``).

    Bars as in :func:`plot_accuracy` (panels: model × task; bars: modalities × evaluation,
    hatched when leaky; black ticks: majority baseline), and a star where the paper reports a
    figure, drawn over the bar of the paper's own protocol.
    """
    order = {e: i for i, e in enumerate(EVALUATIONS)}
    df = comparison.sort_values("evaluation", key=lambda s: s.map(order).fillna(len(order)), kind="stable")
    fig = plot_accuracy(df, x="modalities", hue="evaluation", col="task", row="model", metric=metric)
    hues = _levels(df, "evaluation")
    width = 0.8 / len(hues)
    k = hues.index("paper's protocol") if "paper's protocol" in hues else 0
    models, tasks = _levels(df, "model"), _levels(df, "task")
    xs = _levels(df, "modalities")
    for i, m in enumerate(models):
        for j, t in enumerate(tasks):
            ax = fig.axes[i * len(tasks) + j]
            paper = df[(df["model"] == m) & (df["task"] == t)].groupby("modalities")["paper"].first()
            for xi, xv in enumerate(xs):
                v = paper.get(xv, np.nan)
                if np.isfinite(v):
                    ax.plot(xi - 0.4 + width * (k + 0.5), v, marker="*", ms=13, color="gold", mec="black", zorder=5)
    handles = fig.legends[0].legend_handles if fig.legends else []
    star = plt.Line2D([], [], marker="*", ms=13, color="gold", mec="black", ls="", label="published figure")
    for leg in list(fig.legends):
        leg.remove()
    fig.legend(handles=[*handles, star], loc="lower center", ncol=len(handles) + 1, bbox_to_anchor=(0.5, -0.02),
               frameon=False)  # fmt: skip
    return fig


def plot_fingerprint_sweep(summary: pd.DataFrame, *, x: str = "fingerprint", hue: str = "protocol",
                           col: str | None = "pipeline", metric: str = "accuracy"):  # fmt: skip
    """Accuracy against the strength of the trial fingerprint, one line per protocol (chapter 09).

    Parameters
    ----------
    summary : DataFrame
        One row per ``col`` × ``hue`` × ``x`` with ``metric``, ``<metric>_ci_low``,
        ``<metric>_ci_high`` and ``majority_baseline`` (e.g. :func:`emolab.train.metrics.aggregate`
        by those columns).

    Lines: means; bands: intervals; dotted grey: the mean majority baseline of each panel.
    """
    cols = _levels(summary, col)
    fig, axes = _grid(1, len(cols), sharey=True)
    palette = plt.get_cmap("tab10")
    for j, c in enumerate(cols):
        ax = axes[0, j]
        sub = summary if col is None else summary[summary[col] == c]
        for k, h in enumerate(_levels(sub, hue)):
            g = sub[sub[hue] == h].sort_values(x)
            ax.plot(g[x], g[metric], marker="o", color=palette(k), label=str(h))
            ax.fill_between(g[x], g[f"{metric}_ci_low"], g[f"{metric}_ci_high"], color=palette(k), alpha=0.2)
        if "majority_baseline" in sub:
            ax.axhline(sub["majority_baseline"].mean(), color="grey", ls=":", lw=1.5, label="majority baseline")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel(f"{x} strength")
        ax.set_title("" if c is None else str(c))
        if j == 0:
            ax.set_ylabel(metric.replace("_", " "))
    axes[0, -1].legend(loc="lower left", frameon=False)
    fig.tight_layout()
    return fig


def plot_template_correlation(demo: pd.DataFrame, stores: pd.DataFrame | None = None):
    """Within-trial correlation against the number of baseline windows (chapter 09).

    Parameters
    ----------
    demo : DataFrame
        :func:`emolab.analysis.signatures.template_correlation_demo`: ``n_windows``,
        ``measured``, ``measured_low``, ``measured_high``, ``predicted``.
    stores : DataFrame or None
        Measured points of real stores to draw beside it: ``label``, ``n_windows``, ``within``,
        ``within_low``, ``within_high``.

    Line: the prediction 1/(n+1); dots with bars: white noise through the package's baseline
    subtraction; diamonds: the stores.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    n = np.linspace(demo["n_windows"].min(), demo["n_windows"].max(), 100)
    ax.plot(n, 1.0 / (n + 1.0), color="black", lw=1.5, label="prediction 1/(n+1)")
    yerr = [demo["measured"] - demo["measured_low"], demo["measured_high"] - demo["measured"]]
    ax.errorbar(demo["n_windows"], demo["measured"], yerr=yerr, fmt="o", color="tab:blue", capsize=3,
                label="white noise, measured")  # fmt: skip
    if stores is not None and len(stores):
        palette = plt.get_cmap("tab10")
        for k, (_, r) in enumerate(stores.iterrows()):
            ax.errorbar([r["n_windows"]], [r["within"]], yerr=[[r["within"] - r["within_low"]],
                                                              [r["within_high"] - r["within"]]],
                        fmt="D", color=palette(k + 1), capsize=3, label=str(r["label"]))  # fmt: skip
    ax.axhline(0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("baseline windows averaged into the template (n)")
    ax.set_ylabel("within-trial correlation of segments")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_signature_gaps(gaps: pd.DataFrame, *, order: Sequence[str] | None = None):
    """Segment k-fold minus ``trial-kfold`` per trial-signature source, one panel per pipeline
    (chapter 09).

    ``gaps`` is :attr:`emolab.analysis.SignatureSources.gaps` (``source``, ``pipeline``, ``gap``,
    ``gap_low``, ``gap_high``).  Bars: the mean paired gap over subjects; whiskers: its interval;
    the vertical line is no gap.
    """
    pipelines = list(dict.fromkeys(gaps["pipeline"]))
    sources = list(order) if order is not None else list(dict.fromkeys(gaps["source"]))
    fig, axes = _grid(1, len(pipelines), sharey=True)
    for j, p in enumerate(pipelines):
        ax = axes[0, j]
        sub = gaps[gaps["pipeline"] == p].set_index("source").reindex(sources)
        y = np.arange(len(sources))
        ax.barh(y, sub["gap"], color=["tab:grey" if s == "none" else "tab:red" if s == "all" else "tab:blue"
                                      for s in sources], alpha=0.7)  # fmt: skip
        ax.errorbar(sub["gap"], y, xerr=[sub["gap"] - sub["gap_low"], sub["gap_high"] - sub["gap"]], fmt="none",
                    color="black", capsize=3)  # fmt: skip
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, sources)
        ax.invert_yaxis()
        ax.set_title(p, fontsize=9)
        ax.set_xlabel("segment k-fold − trial-kfold")
    fig.tight_layout()
    return fig


def plot_probe_curves(curves: pd.DataFrame, *, col: str = "arm", row: str = "model", value: str = "loss"):
    """What each branch alone could answer as training went on (chapter 10): the mean over cells
    of the linear probes' ``value`` (``"loss"`` or ``"accuracy"``) per epoch, from
    :func:`~emolab.analysis.probe_curves`; one colour per modality, solid on the training
    batches' features, dashed on the validation rows; one panel per ``row`` × ``col`` level.

    A branch whose training curve falls fast while its validation curve rises fits its training
    trials without learning what transfers to new ones.
    """
    rows, cols = _levels(curves, row), _levels(curves, col)
    fig, axes = _grid(len(rows), len(cols), width=3.4, height=2.8, sharex=True, sharey=True)
    colours = {"face": "tab:purple", "bio": "tab:green"}
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            sub = _panel(curves, row, r, col, c)
            mean = sub.groupby(["modality", "split", "epoch"])[value].mean().reset_index()
            for (modality, split), g in mean.groupby(["modality", "split"]):
                ax.plot(g["epoch"], g[value], color=colours.get(modality, "grey"),
                        ls="-" if split == "train" else "--", lw=1.5)  # fmt: skip
            ax.set_title(" / ".join(str(x) for x in (r, c) if x is not None), fontsize=9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i == len(rows) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel(f"probe {value}")
    handles = [plt.Line2D([], [], color=colours[m], label=m) for m in ("face", "bio")]
    handles += [plt.Line2D([], [], color="black", ls=ls, label=lab)
                for ls, lab in (("-", "training batches"), ("--", "validation rows"))]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
