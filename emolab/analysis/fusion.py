"""What each branch of a fused model answered on new segments, beside the fused output (chapters 06-07)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from emolab.experiments.summaries import group_columns


def fusion_branches(predictions: pd.DataFrame, *, index: Sequence[str] = ("model", "task", "protocol"),
                    prefix: str = "logits_") -> pd.DataFrame:  # fmt: skip
    """What each branch of the fused models answered on the test segments, beside the fused output.

    A fused model built with auxiliary heads (``MultimodalModel(auxiliary_heads=True)``) keeps,
    for every test segment, the logit of each branch's own linear classifier next to the fused
    output (columns ``logits_face``, ``logits_bio`` of :func:`grid_predictions`).  Comparing them
    separates the two ways a fusion can fall below its better half: an encoder that did not learn
    (its branch scores low too) and a head that listens to the wrong branch (the branch scores
    well, the fused output does not).

    Parameters
    ----------
    predictions : DataFrame
        :func:`grid_predictions` of fused cells; rows without branch logits are left out.
    index : sequence of str
        The columns that define a group.
    prefix : {"logits_", "probe_"}
        Whose answers stand for the branches: the model's own branch heads (``"logits_"``, an
        auxiliary-heads model) or the linear probes that watched every fused model's encoders
        (``"probe_"``, :class:`~emolab.train.balance.BranchProbes`; chapter 10).

    Returns
    -------
    DataFrame
        One row per group × ``source`` (``"fused"``, then each branch): ``accuracy`` (per subject,
        then the mean over subjects, as :func:`summarize` for per-subject protocols; for a pooled
        protocol, where :func:`summarize` averages folds, this is still per subject),
        ``mean_abs_logit`` (how confident the source is on new segments; 0 = undecided),
        ``agreement`` (share of test segments on which the source gives the fused output's
        answer; 1 for ``"fused"``) and ``n_test``.
    """
    if prefix not in ("logits_", "probe_"):
        raise ValueError(f'prefix must be "logits_" or "probe_", got {prefix!r}')
    branches = [c for c in predictions.columns if c.startswith(prefix)]
    if prefix == "probe_" and not branches:
        raise ValueError("these predictions hold no probe logits (columns probe_face, probe_bio): only fused cells "
                         "trained since the probes were added keep them (delete the results table to retrain)")  # fmt: skip
    if not branches:
        raise ValueError("these predictions hold no branch logits (columns logits_face, logits_bio): only fused "
                         "models with auxiliary_heads=True (the 'auxiliary heads' arm, ex.FUSION_ARMS) keep them, and "
                         "cells trained "
                         "before predictions kept each branch's answer lack them (delete their results table to retrain)")
    pred = predictions.dropna(subset=branches)
    if pred.empty:
        raise ValueError("no prediction row has branch logits; pass the predictions of fused cells")
    idx = list(index)
    sources = {"fused": "logits", **{c.removeprefix(prefix): c for c in branches}}
    rows = []
    for key, g in pred.groupby(idx):
        y = g["y_true"].to_numpy() > 0
        fused_says = g["logits"].to_numpy() >= 0
        for source, col in sources.items():
            says = g[col].to_numpy() >= 0
            correct = pd.Series(says == y, index=g.index)
            rows.append({**group_columns(idx, key), "source": source,
                         "accuracy": float(correct.groupby(g["subject"]).mean().mean()),
                         "mean_abs_logit": float(np.abs(g[col].to_numpy()).mean()),
                         "agreement": float(np.mean(says == fused_says)), "n_test": len(g)})  # fmt: skip
    return pd.DataFrame(rows)


def fusion_branch_verdicts(branches: pd.DataFrame, *, tolerance: float = 0.02,
                           index: Sequence[str] = ("model", "task", "protocol"),
                           probes: bool = False) -> pd.DataFrame:  # fmt: skip
    """Read :func:`fusion_branches` in words: did the fused output keep up with its best branch,
    and if not, which branch did its head follow?

    One row per group: ``fused`` and ``best_branch_accuracy`` (accuracies), ``best_branch`` (the
    branch whose own classifier scored highest), ``followed`` (the branch whose answers the fused
    output shares most often) and its ``agreement``, ``keeps_up`` (fused at least the best branch
    minus ``tolerance``), ``follows_best`` and a ``sentence`` with the numbers.

    With ``probes=True`` (branches read by linear probes, ``fusion_branches(prefix="probe_")``)
    the sentences say what a linear read-out of each encoder answered, and leave out the size of
    the logits: a probe's logit scale comes from its own regularisation, not from how strongly the
    fusion head hears that branch.
    """
    idx = list(index)
    rows = []
    for key, g in branches.groupby(idx, sort=False):
        g = g.set_index("source")
        fused, parts = g.loc["fused"], g.drop(index="fused")
        best, followed = parts["accuracy"].idxmax(), parts["agreement"].idxmax()
        other = [b for b in parts.index if b != followed]
        keeps_up = bool(fused["accuracy"] >= parts.loc[best, "accuracy"] - tolerance)
        alone = ", ".join(f"the {b} branch alone {parts.loc[b, 'accuracy']:.3f}" for b in parts.index)
        head = ", ".join(str(v) for v in group_columns(idx, key).values())
        sentence = (f"{head}: fused {fused['accuracy']:.3f}; {alone}. The fused output gives the {followed} "
                    f"branch's answer on {parts.loc[followed, 'agreement']:.0%} of the test segments"
                    + "".join(f" (the {b} branch's on {parts.loc[b, 'agreement']:.0%})" for b in other))  # fmt: skip
        if probes:
            sentence = sentence.replace(" branch alone ", " probe ") + ". "
        else:
            sentence += "; mean |logit| on them: " + ", ".join(
                f"{b} {parts.loc[b, 'mean_abs_logit']:.1f}" for b in parts.index) + ". "  # fmt: skip
        if keeps_up:
            sentence += f"The fusion keeps up with its best branch ({best})."
        elif probes:
            sentence += (f"A linear read-out of the {best} encoder does better than the fusion"
                         + (f", whose output follows the {followed} branch." if followed != best else "."))  # fmt: skip
        elif followed != best:
            louder = parts.loc[followed, "mean_abs_logit"] > parts.loc[best, "mean_abs_logit"]
            sentence += (f"The {best} encoder learned, but the fusion head follows the {followed} branch"
                         + (", the louder one on these new segments." if louder else
                            f", although the {best} branch is as loud or louder on these segments."))  # fmt: skip
        else:
            sentence += f"The head follows the {best} branch, and still falls {parts.loc[best, 'accuracy'] - fused['accuracy']:.3f} below it."
        rows.append({**group_columns(idx, key), "fused": fused["accuracy"],
                     "best_branch": best, "best_branch_accuracy": parts.loc[best, "accuracy"],
                     "followed": followed, "agreement": parts.loc[followed, "agreement"], "keeps_up": keeps_up,
                     "follows_best": followed == best, "sentence": sentence})  # fmt: skip
    return pd.DataFrame(rows)


