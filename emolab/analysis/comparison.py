"""Our results beside the papers' own figures (chapter 08)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emolab.experiments.grids import PAPER_PROTOCOLS
from emolab.experiments.summaries import accuracy_table


# --------------------------------------------------------------------- chapter 08: the comparison
def paper_comparison(summary: pd.DataFrame, reference: pd.DataFrame, *, dataset: str = "DEAP",
                     metric: str = "accuracy") -> pd.DataFrame:  # fmt: skip
    """Our results beside each paper's own figure, one row per model × modalities × task × protocol.

    Parameters
    ----------
    summary : DataFrame
        From :func:`summarize` (``model``, ``modalities``, ``task``, ``protocol``,
        the metric, its interval and ``majority_baseline``).
    reference : DataFrame
        :func:`emolab.reference.load_reference` rows; those of ``kind == "paper"`` for
        ``dataset`` and ``metric`` are matched on ``architecture`` = ``model``, ``modality`` =
        ``modalities`` and ``task``.
    Returns
    -------
    DataFrame
        The summary rows plus ``evaluation`` (``"paper's protocol"``, ``"trial-kfold"`` or
        ``"loso"``), ``paper`` (the published figure, NaN where the paper reports none) and
        ``paper_source``.  A model's paper protocol is
        :func:`~emolab.experiments.paper_protocol`'s.
    """
    ref = reference[(reference["kind"] == "paper") & (reference["dataset"] == dataset)
                    & (reference["metric"] == metric)]  # fmt: skip
    ref = ref[["architecture", "modality", "task", "value", "source"]].rename(
        columns={"architecture": "model", "modality": "modalities", "value": "paper", "source": "paper_source"})
    ref = ref.drop_duplicates(["model", "modalities", "task"])
    out = summary.merge(ref, on=["model", "modalities", "task"], how="left")
    own = out["model"].map(PAPER_PROTOCOLS)
    out["evaluation"] = np.where(out["protocol"] == own, "paper's protocol", out["protocol"])
    return out


def comparison_table(comparison: pd.DataFrame, *, metric: str = "accuracy", digits: int = 3) -> pd.DataFrame:
    """:func:`paper_comparison` as a readable table: the paper's figure, then per evaluation
    ``"mean [low, high]"`` and its majority baseline."""
    index = ["model", "modalities", "task"]
    table = accuracy_table(comparison.drop(columns="leaky", errors="ignore"), metric=metric, columns="evaluation",
                           index=index, digits=digits)  # fmt: skip
    paper = comparison.groupby(index)["paper"].first()
    table.insert(0, "paper", [f"{v:.{digits}f}" if np.isfinite(v) else "-" for v in paper.reindex(table.index)])
    order = ["paper", "paper's protocol", "majority (paper's protocol)", "trial-kfold", "majority (trial-kfold)",
             "loso", "majority (loso)"]  # fmt: skip
    return table[[c for c in order if c in table.columns]]


