"""The leak audit of the evaluations a grid runs."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from emolab.experiments.profiles import ExperimentProfile, get_profile


def audit_protocols(
    dataset,
    *,
    protocols: Sequence[str],
    task: str = "valence",
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    signature=None,
) -> pd.DataFrame:
    """:func:`emolab.train.audit` of the evaluations a grid of this profile runs, per protocol.

    The folds are those :func:`run_grid` trains (same metadata, ``n_splits`` and seed).  What
    the pipeline fitted comes from the profile: ``normalize="baseline_std"`` uses each trial's
    own baseline (``"per-trial"``), ``"train_fold"`` fits on rows of each training fold (the
    audit checks them), ``None`` fits nothing; ``keep="last"`` selects no epoch,
    ``keep="best"`` selects on a validation split carved from the training fold; the labels use
    the fixed rating threshold of :func:`~emolab.train.protocols.make_labels`.  ``signature``
    (a :class:`~emolab.train.leak_audit.TrialSignature` measured on the dataset's inputs,
    :func:`emolab.analysis.signatures.input_signature`) feeds the check "trial signature in the
    inputs"; without it that check reads "not checked" wherever trials are shared.

    Returns
    -------
    DataFrame
        The audit rows of every protocol, with a ``protocol`` column first.
    """
    from emolab.train.leak_audit import audit
    from emolab.train.protocols import make_folds

    profile = get_profile(profile)
    meta = dataset.metadata.reset_index(drop=True)
    frames = []
    for protocol in protocols:
        folds = make_folds(meta, protocol, task=task, n_splits=profile.n_splits, seed=seed)
        if profile.max_folds is not None:
            folds = [f for f in folds if f.fold < profile.max_folds]
        if profile.normalize == "train_fold":  # fitted on (part of) each training fold
            fit = [f.train_idx for f in folds]
        else:
            fit = "per-trial" if profile.normalize == "baseline_std" else "none"
        selection = "none" if profile.keep == "last" else [f.train_idx for f in folds]
        frames.append(audit(folds, meta, fit_rows=fit, selection_rows=selection, threshold_rows="fixed",
                            signature=signature).assign(protocol=protocol))  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    return out[["protocol", *[c for c in out.columns if c != "protocol"]]]


