"""Chapter 10: modality imbalance measured while fused models train, and the remedies compared.

* :func:`probe_curves` — the linear probes' losses and accuracies per epoch
  (:class:`~emolab.train.balance.BranchProbes`), long format, one row per cell × epoch ×
  modality.
* :func:`fit_speed` — how many epochs each branch's probe took to fit its training trials.
* :func:`remedy_table` — every arm against joint training and against the better single
  modality, each paired per subject with a Student-t interval.
* :func:`run_times` — what each arm cost in training time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from emolab.experiments.summaries import fusion_gains

__all__ = ["MATCHED_ARMS", "probe_curves", "fit_speed", "remedy_table", "run_times"]

_PROBE = "probe_"


def probe_curves(histories: pd.DataFrame, *, arm: str | None = None) -> pd.DataFrame:
    """The probes' per-epoch measurements of :func:`~emolab.experiments.grid_histories` rows.

    Returns one row per cell × epoch × modality × split: ``model``, ``task``, ``subject``,
    ``fold``, ``epoch``, ``modality`` (``"face"``/``"bio"``), ``split`` (``"train"``: the
    training batches' features; ``"val"``: the validation rows), ``loss`` and ``accuracy``, and
    ``arm`` when given.  Histories of cells that trained several models (``stage`` column) keep
    the main training's rows only.
    """
    cols = [c for c in histories.columns if c.startswith(_PROBE)]
    if not cols:
        raise ValueError("these histories hold no probe columns (probe_face_train_loss ...): only fused cells "
                         "trained since the probes were added record them; delete the results table to retrain")  # fmt: skip
    h = histories
    if "stage" in h.columns:
        h = h[h["stage"].isna() | (h["stage"] == "train")]
    h = h.dropna(subset=cols, how="all")
    keys = [k for k in ("model", "task", "protocol", "subject", "fold", "epoch") if k in h.columns]
    long = h.melt(id_vars=keys, value_vars=cols, var_name="measure", value_name="value")
    parts = long["measure"].str.removeprefix(_PROBE).str.split("_", n=2, expand=True)
    long = long.assign(modality=parts[0], split=parts[1], metric=parts[2]).drop(columns="measure")
    out = long.pivot(index=[*keys, "modality", "split"], columns="metric", values="value").reset_index()
    out.columns.name = None
    return out.assign(arm=arm) if arm is not None else out


def fit_speed(curves: pd.DataFrame, *, threshold: float = 0.9,
              by: Sequence[str] = ("arm", "model", "task", "modality")) -> pd.DataFrame:  # fmt: skip
    """How fast each branch fitted its training trials: per cell, the first epoch at which the
    probe's training accuracy reached ``threshold`` (NaN when it never did), then per group the
    median epoch and the share of cells that got there at all.

    Returns one row per group: ``median_epoch``, ``share_fitted`` and ``n_cells``.
    """
    train = curves[curves["split"] == "train"]
    by = [b for b in by if b in train.columns]
    cell = [*by, *[k for k in ("subject", "fold") if k in train.columns]]
    rows = []
    for key, g in train.groupby(cell):
        reached = g.loc[g["accuracy"] >= threshold, "epoch"]
        rows.append({**dict(zip(cell, key if isinstance(key, tuple) else (key,))),
                     "epoch": float(reached.min()) if len(reached) else np.nan})  # fmt: skip
    per_cell = pd.DataFrame(rows)
    return (per_cell.groupby(by)["epoch"]
            .agg(median_epoch="median", share_fitted=lambda e: float(e.notna().mean()), n_cells="size")
            .reset_index())  # fmt: skip


#: The arm each remedy differs from in one factor only, where that is not joint training:
#: Gradient Blending weighs the losses of the same heads the auxiliary-heads arm adds unweighted.
MATCHED_ARMS = {"gradient blending": "auxiliary heads"}


def remedy_table(arms: Mapping[str, pd.DataFrame], halves: pd.DataFrame, *, reference: str = "joint",
                 fused: str = "face+bio", confidence: float = 0.95,
                 matched: Mapping[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Every arm against joint training, against the arm it differs from in one factor only, and
    against the better single modality.

    Parameters
    ----------
    arms : dict
        ``{arm: result rows of its fused cells}`` (:func:`~emolab.experiments.run_grid`), one of
        them ``reference``.
    halves : DataFrame
        The single-modality rows (chapter 05's cells) of the same models, tasks and protocols.

    Returns
    -------
    DataFrame
        One row per arm × model × task × protocol: ``accuracy`` (mean over subjects of each
        subject's pooled folds), ``vs_joint`` with ``vs_joint_low``/``vs_joint_high`` (per-subject
        difference from the reference arm, Student-t interval; 0 for the reference itself),
        ``matched`` (the arm it differs from in one factor only: :data:`MATCHED_ARMS`, else the
        reference) with ``vs_matched``, ``vs_matched_low``, ``vs_matched_high``,
        ``best_single``, ``best_single_accuracy`` and ``vs_best`` with its interval
        (:func:`~emolab.experiments.fusion_gains`), ``n_subjects`` (subjects of the arm; the
        paired differences use those the compared arm has too).
    """
    from emolab.train.metrics import mean_ci, pool_folds

    if reference not in arms:
        raise KeyError(f"the arms {sorted(arms)} hold no reference arm {reference!r}")
    matched = dict(MATCHED_ARMS if matched is None else matched)
    idx = ["model", "task", "protocol"]
    pooled = {name: pool_folds(rows, [*idx], "subject").set_index([*idx, "subject"])["accuracy"]
              for name, rows in arms.items()}  # fmt: skip

    def paired(a: pd.Series, other: str) -> tuple[float, float, float]:
        b = pooled[other]
        both = a.index.intersection(b.index)
        return mean_ci((a[both] - b[both]).to_numpy(), confidence=confidence)

    rows = []
    for name, rows_arm in arms.items():
        gains = fusion_gains(pd.concat([halves[halves["modalities"] != fused], rows_arm], ignore_index=True),
                             fused=fused, confidence=confidence).set_index(idx)  # fmt: skip
        other = matched.get(name, reference) if matched.get(name) in arms else reference
        for key, a in pooled[name].groupby(level=idx):
            m, lo, hi = paired(a, reference) if name != reference else (0.0, 0.0, 0.0)
            mm, mlo, mhi = paired(a, other) if name != other else (0.0, 0.0, 0.0)
            g = gains.loc[key] if key in gains.index else None
            rows.append({"arm": name, **dict(zip(idx, key)), "accuracy": float(a.mean()), "vs_joint": m,
                         "vs_joint_low": lo, "vs_joint_high": hi, "matched": other, "vs_matched": mm,
                         "vs_matched_low": mlo, "vs_matched_high": mhi,
                         "best_single": None if g is None else g["best_single"],
                         "best_single_accuracy": np.nan if g is None else g["best_single_accuracy"],
                         "vs_best": np.nan if g is None else g["gain"],
                         "vs_best_low": np.nan if g is None else g["gain_ci_low"],
                         "vs_best_high": np.nan if g is None else g["gain_ci_high"],
                         "n_subjects": int(len(a))})  # fmt: skip
    return pd.DataFrame(rows)


def run_times(arms: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Training time of each arm: one row per arm × model with the summed ``train_seconds`` of
    its cells (each cell counted once), ``n_cells`` and ``seconds_per_cell``."""
    rows = []
    for name, r in arms.items():
        cells = r.drop_duplicates("cell_id")
        for model, g in cells.groupby("model"):
            rows.append({"arm": name, "model": model, "seconds": float(g["train_seconds"].sum()),
                         "n_cells": len(g), "seconds_per_cell": float(g["train_seconds"].mean())})  # fmt: skip
    return pd.DataFrame(rows)
