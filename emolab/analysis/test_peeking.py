"""Choosing an epoch on the test fold, measured (chapter 06): the optimism it buys."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from emolab._logging import logger, use_log_level
from emolab.experiments.profiles import (
    ExperimentProfile,
    get_profile,
    torch_threads,
)
from emolab.store.dataset import segment_shapes


# ------------------------------------------------------------- choosing an epoch on the test fold
@dataclass
class _TestPeek:
    """Trainer callback that scores the test fold after every epoch — for teaching only.

    Looking at the test fold during training is exactly the mistake the book warns about; this
    callback exists to measure how much choosing the best test-fold epoch (as DeepVANet
    :cite:`zhang2021deepvanet` reports) inflates accuracy.  The model selection of the trainer
    itself still uses the validation split only.
    """

    test_set: Any
    scores: list = field(default_factory=list)

    def __call__(self, trainer, record: dict) -> None:
        m = trainer.evaluate(self.test_set)
        record["test_accuracy"] = m["accuracy"]
        record["test_loss"] = m["loss"]


def _peek_fold(fold, *, dataset, meta, labels, ok, config, model, modalities, fused, seed) -> pd.DataFrame:
    """One fold of :func:`peek_test_epochs` (module level, so that worker processes can run it)."""
    from emolab.models import build_model
    from emolab.train.batches import InMemorySegments
    from emolab.train.sweep import run_fold
    from emolab.train.trainer import seed_everything

    seed_everything(seed)
    net = build_model(model, modalities=modalities, **fused, **segment_shapes(dataset))
    test_idx = np.asarray(fold.test_idx)
    test_idx = test_idx[ok[test_idx]]
    peek = _TestPeek(InMemorySegments.gather(dataset, test_idx, targets=labels[test_idx]))
    out = run_fold(net, dataset, meta, fold, config, labels=labels, callbacks=[peek], verbose=False)
    h = out.history.copy()
    h["subject"], h["fold"], h["best_epoch"] = fold.subject, fold.fold, out.best_epoch
    return h


def peek_test_epochs(
    dataset,
    *,
    model: str = "safavi",
    modalities: Sequence[str] = ("face", "bio"),
    task: str = "valence",
    protocol: str = "trial-kfold",
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    device: str = "auto",
    epochs: int | None = None,
    max_folds: int | None = None,
    n_jobs: int | None = None,
    model_kwargs: dict | None = None,
    verbose: bool | str | None = None,
) -> pd.DataFrame:
    """Train folds for a fixed number of epochs, scoring validation *and* test after each one.

    ``model_kwargs`` go to :func:`~emolab.models.build_model` for a fused model (an arm of
    :data:`~emolab.experiments.FUSION_ARMS`); the training settings are the profile's recipe.

    Early stopping is off (patience = epochs) so the whole curve is seen.  Returns one row per
    subject × fold × epoch with ``train_loss``, ``val_loss``, ``val_accuracy``, ``test_accuracy``
    and ``test_loss``; :func:`epoch_selection_bias` turns it into the comparison of epoch choices.

    The folds are independent: ``n_jobs`` worker processes (``None``: the profile's) train them
    side by side, each with ``profile.torch_threads`` threads, and give the same curves as one
    process training them in turn (each fold is seeded with ``seed`` before its model is built).
    """
    from emolab.train.config import TrainConfig
    from emolab.train.protocols import make_folds, make_labels
    from emolab.train.sweep import worker_pool

    profile = get_profile(profile)
    n_jobs = profile.n_jobs if n_jobs is None else int(n_jobs)
    epochs = profile.epochs if epochs is None else int(epochs)
    meta = dataset.metadata.reset_index(drop=True)
    labels = make_labels(meta, task=task)
    folds = make_folds(meta, protocol, task=task, n_splits=profile.n_splits, seed=seed, labels=labels)
    keep = profile.max_folds if max_folds is None else max_folds
    if keep is not None:
        folds = [f for f in folds if f.fold < keep]
    # the profile's settings of this model's cells (fused ones included), with the whole curve
    # trained (patience = epochs) and the trainer's own choice on the validation split
    settings = profile.train_settings(model, fused=len(modalities) > 1, seed=seed, device=device)
    config = TrainConfig.from_dict({**settings, "task": task, "modalities": tuple(modalities), "epochs": epochs,
                                    "patience": epochs, "keep": "best", "checkpoint_interval_s": 0.0})  # fmt: skip
    fused = dict(model_kwargs or {}) if len(modalities) > 1 else {}
    ok = meta["has_face"].to_numpy(bool) if tuple(modalities) == ("face",) else np.ones(len(meta), bool)
    args = dict(dataset=dataset, meta=meta, labels=labels, ok=ok, config=config, model=model,
                modalities=tuple(modalities), fused=fused, seed=seed)  # fmt: skip
    with use_log_level(verbose):
        if n_jobs <= 1 or len(folds) <= 1:
            with torch_threads(profile.torch_threads):
                frames = [_peek_fold(fold, **args) for fold in folds]
        else:
            with worker_pool(min(n_jobs, len(folds)), threads=profile.torch_threads) as pool:
                frames = list(pool.map(functools.partial(_peek_fold, **args), folds))
        for h in frames:
            logger.info("peek %s fold %d: val-selected epoch %s", h["subject"].iloc[0], h["fold"].iloc[0],
                        h["best_epoch"].iloc[0])
    df = pd.concat(frames, ignore_index=True)
    df["model"], df["modalities"], df["task"], df["protocol"] = model, "+".join(modalities), task, protocol
    return df


def epoch_selection_bias(curves: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy of each fold under three ways of choosing the epoch.

    ``val_selected``: the epoch with the best validation loss (what an honest run reports);
    ``last``: the final epoch; ``best_test``: the epoch with the highest *test* accuracy (what
    reporting "the best test-fold epoch" amounts to).  ``best_test`` is the maximum of noisy
    numbers, so it is never below the other two whatever the model learned — an optimistic bias
    that grows with the number of epochs and the noise of small test folds.
    """
    need = {"subject", "fold", "epoch", "val_loss", "test_accuracy"}
    missing = need - set(curves.columns)
    if missing:
        raise KeyError(f"curves lack columns {sorted(missing)}; make them with peek_test_epochs")
    rows = []
    for (subject, fold), g in curves.groupby(["subject", "fold"]):
        g = g.sort_values("epoch")
        sel = g.loc[g["val_loss"].idxmin()]
        best = g.loc[g["test_accuracy"].idxmax()]
        rows.append({"subject": subject, "fold": fold,
                     "val_selected_epoch": int(sel["epoch"]), "val_selected": float(sel["test_accuracy"]),
                     "last": float(g["test_accuracy"].iloc[-1]),
                     "best_test_epoch": int(best["epoch"]), "best_test": float(best["test_accuracy"])})  # fmt: skip
    out = pd.DataFrame(rows)
    out["optimism"] = out["best_test"] - out["val_selected"]
    return out


