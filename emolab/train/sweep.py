"""Run a grid of (model × modalities × task × protocol × subject × fold) cells, resumably.

* :func:`run_fold` — train and test one model on one fold (the glue between protocols, data and
  the model-agnostic :class:`~emolab.train.trainer.Trainer`).
* :class:`Cell` / :func:`make_cells` — one fold of one configuration, and the grid of them.
* :func:`run_cell` — what a worker process does with a cell: open the data, build the model from
  factories named by dotted paths (so the cell pickles as plain data), call :func:`run_fold`.
* :func:`run_sweep` — runs the cells not yet in the results table, in parallel worker processes
  (or as tasks on a Ray cluster, :mod:`emolab.train.ray_backend`), with a progress bar; appends
  one row per test subject to the table as each cell finishes, so a killed sweep resumes where it
  stopped.  Each cell also leaves its per-epoch history and its
  test predictions in ``<results folder>/cells/<cell hash>/`` for curves and confusion matrices.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Subset

from emolab._logging import logger, use_log_level
from emolab.models.multimodal import MultimodalModel
from emolab.store.dataset import META_KEYS
from emolab.train.batches import InMemorySegments
from emolab.train.cells import (  # noqa: F401 - cell_dir, load_cell_outputs: the sweep's readers
    CELL_FORMAT,
    Cell,
    CellDir,
    CellOutput,
    ClaimQueue,
    cell_dir,
    load_cell_outputs,
    resolve,
)
from emolab.train.balance import (
    BranchProbes,
    blending_terms,
    blending_weights,
    head_losses,
    inner_split,
    mix,
    mixing_weight,
)
from emolab.train.config import MULTI_MODEL_METHODS, TrainConfig
from emolab.train.metrics import binary_metrics
from emolab.train.protocols import (
    Fold,
    get_protocol,
    make_folds,
    make_labels,
    validation_split,
)
from emolab.train.results import append_new_results, finished_cells
from emolab.train.scaling import ChannelStandardizer, Standardized
from emolab.train.trainer import (
    Trainer,
    WithTargets,
    progress_disabled,
    seed_everything,
)
from emolab.workers import default_threads, process_pool


# ----------------------------------------------------------------------------------- one fold
@dataclass
class FoldOutput:
    """What :func:`run_fold` returns.

    ``metrics`` are over the whole test fold; ``per_subject`` holds one metrics dict per test
    subject; ``predictions`` one row per test item (``y_true``, ``y_score``, ``subject``,
    ``trial``, ``segment`` …); ``history`` one row per epoch; ``timings`` the seconds spent
    gathering the fold's data, fitting (training, validation and checkpoints, itemised per
    epoch in ``history``) and scoring the test fold.
    """

    metrics: dict[str, float]
    per_subject: dict[int, dict[str, float]]
    predictions: pd.DataFrame
    history: pd.DataFrame
    n_train: int
    n_val: int
    n_test: int
    best_epoch: int | None
    train_seconds: float
    device: str
    timings: dict[str, float] = field(default_factory=dict)


class _EpochScore:
    """Trainer callback of :func:`run_fold`'s ``score_each_epoch``: accuracy and loss on given rows."""

    def __init__(self, rows: Dataset) -> None:
        self.rows = rows

    def __call__(self, trainer, record: dict) -> None:
        m = trainer.evaluate(self.rows)
        record["scored_accuracy"], record["scored_loss"] = m["accuracy"], m["loss"]


def run_fold(
    model: torch.nn.Module,
    dataset: Dataset,
    metadata: pd.DataFrame,
    fold: Fold,
    config: TrainConfig,
    *,
    labels: np.ndarray | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    callbacks: Sequence[Callable] = (),
    score_each_epoch: np.ndarray | None = None,
    loss_weights: dict[str, float] | None = None,
    verbose: bool | str | None = None,
) -> FoldOutput:
    """Train ``model`` on ``fold.train_idx`` and evaluate it once on ``fold.test_idx``.

    A fused :class:`~emolab.models.MultimodalModel` is watched by linear probes on each encoder's features
    (:class:`~emolab.train.balance.BranchProbes`): its history gets ``probe_<m>_*`` columns per
    epoch and its predictions each probe's logit (``probe_face``, ``probe_bio``).  Its
    ``config.balance`` (:class:`~emolab.train.config.BalanceConfig`) must be ``None``, ``"joint"``
    or ``"ogm-ge"`` (done inside the trainer); the late ensemble and Gradient Blending train
    several models and run through :func:`run_balanced_fold`.

    With ``config.bio_standardize == "train_fold"`` every physiological channel is standardised
    with statistics of the rows the model is fitted on (:mod:`emolab.train.scaling`).

    The validation split for early stopping is carved from the training fold only
    (:func:`~emolab.train.protocols.validation_split`), grouped as ``config.val_grouping`` says
    (``"protocol"``: like the protocol's test fold — by trial for ``trial-kfold``, by subject for
    ``loso``, by segment for the leaky segment protocols).  For a face-only model, segments
    without a detected face (metadata column ``has_face`` False) are left out of train and test;
    a fusion model sees them with an all-zero face.

    Parameters
    ----------
    dataset : Dataset
        Items as the segment store yields them; row ``i`` of ``metadata`` describes item ``i``.
    labels : np.ndarray, optional
        Binary targets per item; default :func:`~emolab.train.protocols.make_labels` with the
        default rule (rating >= 5) for ``config.task``.
    """
    if len(metadata) != len(dataset):
        raise ValueError(f"metadata has {len(metadata)} rows but the dataset {len(dataset)} items")
    if config.balance is not None and config.balance.method in MULTI_MODEL_METHODS:
        raise ValueError(f"balance method {config.balance.method!r} trains several models: use run_balanced_fold")
    if config.balance is not None and config.balance.method != "joint" and len(config.modalities) < 2:
        raise ValueError(f"balance method {config.balance.method!r} needs a fused model, got modalities "
                         f"{config.modalities}")  # fmt: skip
    meta = metadata.reset_index(drop=True)
    y = make_labels(meta, task=config.task) if labels is None else np.asarray(labels)
    train_idx, test_idx = np.asarray(fold.train_idx), np.asarray(fold.test_idx)
    if config.modalities == ("face",) and "has_face" in meta.columns:
        ok = meta["has_face"].to_numpy(dtype=bool)
        train_idx, test_idx = train_idx[ok[train_idx]], test_idx[ok[test_idx]]
        if len(test_idx) == 0:
            raise ValueError(f"{fold}: no test segment has a detected face; cannot evaluate a face-only model")
    fit_idx, val_idx = _fit_and_validation(meta, train_idx, fold, config, y)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    subset, fit_set = fold_subsets(dataset, y, config, fit_idx)
    val_set = subset(val_idx)
    probes = None
    if len(config.modalities) > 1 and isinstance(model, MultimodalModel):
        probes = BranchProbes(config.modalities, seed=config.seed)
    if score_each_epoch is not None:
        callbacks = [*callbacks, _EpochScore(subset(np.asarray(score_each_epoch)))]
    timings["gather"] = time.perf_counter() - t0
    trainer = Trainer(model, config, checkpoint_dir=checkpoint_dir, callbacks=callbacks, verbose=verbose,
                      observers=[probes] if probes is not None else [], loss_weights=loss_weights)  # fmt: skip
    t0 = time.perf_counter()
    history = trainer.fit(fit_set, val_set if len(val_idx) else None)
    seconds = time.perf_counter() - t0
    timings["fit"] = seconds
    t0 = time.perf_counter()
    if probes is not None:
        probes.start_test()
    pred = trainer.predict(subset(test_idx))  # the test fold is read only now, after training
    if probes is not None:
        pred.update(probes.predict(trainer.best_epoch))
    timings["test"] = time.perf_counter() - t0
    predictions = pd.DataFrame({k: v for k, v in pred.items() if k not in ("loss",)})
    if "subject" not in predictions:
        predictions["subject"] = meta["subject"].to_numpy()[test_idx]
    per_subject = {
        int(s): binary_metrics(g["y_true"], g["y_score"]) for s, g in predictions.groupby("subject")
    }
    return FoldOutput(
        metrics=binary_metrics(pred["y_true"], pred["y_score"]), per_subject=per_subject,
        predictions=predictions, history=pd.DataFrame(history), n_train=len(fit_idx),
        n_val=len(val_idx), n_test=len(test_idx), best_epoch=trainer.best_epoch,
        train_seconds=seconds, device=str(trainer.device), timings=timings,
    )


def _fit_and_validation(meta: pd.DataFrame, train_idx: np.ndarray, fold: Fold, config: TrainConfig,
                        labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The training rows split into fit and validation rows as ``config.val_grouping`` says
    (``"protocol"``: grouped like the protocol's test fold)."""
    grouping = config.val_grouping
    if grouping == "protocol":
        grouping = get_protocol(fold.protocol).disjoint or "segment"
    return validation_split(meta, train_idx, grouping=grouping, val_fraction=config.val_fraction, labels=labels,
                            seed=config.seed)  # fmt: skip


def fold_subsets(dataset: Dataset, labels: np.ndarray, config: TrainConfig,
                 fit_idx: np.ndarray) -> tuple[Callable[[np.ndarray], Dataset], Dataset]:  # fmt: skip
    """``(subset, fit_set)``: a function giving the rows ``idx`` of ``dataset`` as the trainer reads
    them (gathered into memory with ``config.in_memory``, with their ``labels`` as targets), and
    the fit rows already made so.  With ``config.bio_standardize == "train_fold"`` every subset
    is standardised with statistics of ``fit_idx`` only — never of validation or test rows."""
    keys = (*config.modalities, "labels", *META_KEYS)
    scaler = None

    def subset(idx: np.ndarray) -> Dataset:
        idx = np.asarray(idx)
        if config.in_memory:  # one batched read; face crops stay uint8 until the device
            out = InMemorySegments.gather(dataset, idx, targets=labels[idx], keys=keys)
            if scaler is not None and "bio" in out.tensors:
                out.tensors["bio"] = scaler.transform(out.tensors["bio"])
            return out
        items = WithTargets(dataset, labels)
        return Subset(items if scaler is None else Standardized(items, scaler), idx.tolist())

    standardize = config.bio_standardize == "train_fold" and "bio" in config.modalities
    if standardize and config.in_memory:
        fit_set = subset(fit_idx)
        scaler = ChannelStandardizer.fit(fit_set.tensors["bio"])
        fit_set.tensors["bio"] = scaler.transform(fit_set.tensors["bio"])
    else:
        if standardize:
            scaler = ChannelStandardizer.fit_rows(dataset, fit_idx)
        fit_set = subset(fit_idx)
    return subset, fit_set


# ------------------------------------------------------------------ late ensemble and blending
#: Prediction columns that identify a segment.
_ROW_KEYS = ["subject", "trial", "segment"]


def _scores(predictions: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """``predictions``' ``y_score`` on ``rows`` (matched by subject, trial and segment; NaN where
    the model gave none: a face model on a segment without a detected face)."""
    keyed = predictions.set_index(_ROW_KEYS)["y_score"]
    return keyed.reindex(pd.MultiIndex.from_frame(rows[_ROW_KEYS])).to_numpy(dtype=float)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def run_balanced_fold(
    build: Callable[..., torch.nn.Module],
    dataset: Dataset,
    metadata: pd.DataFrame,
    fold: Fold,
    config: TrainConfig,
    *,
    labels: np.ndarray | None = None,
    members: dict[str, pd.DataFrame] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    verbose: bool | str | None = None,
) -> FoldOutput:
    """One fold of a remedy that trains several models (``config.balance.method``).

    Both hold out about ``config.balance.held_out_fraction`` of the fold's *training* trials, by
    trial (:func:`~emolab.train.balance.inner_split`); the test fold is read only at the end.

    ``"late ensemble"`` :cite:p:`du2023unimodal`
        A face model and a bio model (:func:`run_fold`, the recipe's settings) are trained on the
        rest of the training trials and predict the held-out ones; the face model's weight is
        the one whose mixed probabilities fit them best (:func:`~emolab.train.balance.mixing_weight`).
        Then each modality's model trained on the whole fold (``members[m]``: its test
        predictions when already computed, e.g. by chapter 05's identical unimodal cell) is mixed
        with that weight on the test fold.
    ``"gradient blending"`` :cite:p:`wang2020makes`
        A pilot of the fused model with one head per modality (``auxiliary_heads=True``) is
        trained on the rest of the training trials for ``pilot_epochs``, every head's loss
        measured before and after the pilot on those rows and on the held-out ones; the loss
        weights (:func:`~emolab.train.balance.blending_weights`) then weigh the heads' losses
        when the model is trained on the whole fold (:func:`run_fold`).

    Parameters
    ----------
    build : callable
        ``build(modalities, **model_kwargs) -> model``: a new model of the cell's architecture
        reading ``modalities`` (the cell's own model arguments applied).
    members : dict, optional
        Late ensemble: ``{modality: test predictions}`` of the unimodal models on ``fold``.

    Returns
    -------
    FoldOutput
        Its ``history`` holds every training's epochs with a ``stage`` column (``"face
        (held-out trials)"``, ``"face"``, ``"pilot"``, ``"train"`` ...) and the chosen weights as columns
        (``mix_weight_face``; ``blend_weight_<head>`` with each head's ``blend_gain_<head>`` and
        ``blend_overfit_<head>``); its predictions the fused answer
        (``logits``, ``y_score``) and each branch's (``logits_face``, ``logits_bio``).
    """
    bal = config.balance
    if bal is None or bal.method not in MULTI_MODEL_METHODS:
        raise ValueError(f"run_balanced_fold runs the late ensemble and Gradient Blending, got {bal}")
    if len(config.modalities) < 2:
        raise ValueError(f"{bal.method} needs a fused cell (two modalities), got {config.modalities}")
    meta = metadata.reset_index(drop=True)
    y = make_labels(meta, task=config.task) if labels is None else np.asarray(labels)
    fit_idx, held_idx = inner_split(meta, fold.train_idx, labels=y, fraction=bal.held_out_fraction,
                                    seed=config.seed)  # fmt: skip
    inner = Fold(fold.protocol, fold.subject, fold.fold, fit_idx, held_idx)
    t0 = time.perf_counter()
    if bal.method == "late ensemble":
        out = _late_ensemble(build, dataset, meta, fold, inner, config, y, members or {}, verbose)
    else:
        out = _gradient_blending(build, dataset, meta, fold, inner, config, y, checkpoint_dir, verbose)
    # the members' training counts whether it ran here or in the cells whose predictions were reused
    out.train_seconds = time.perf_counter() - t0 + out.timings.get("reused_member_seconds", 0.0)
    return out


def _late_ensemble(build, dataset, meta, fold, inner, config, y, members, verbose) -> FoldOutput:
    histories, held, test = [], {}, {}
    test_rows = meta.iloc[np.asarray(fold.test_idx)]
    device, reused_seconds = "cpu", 0.0
    for m in config.modalities:
        cfg = config.replace(modalities=(m,), balance=None)
        seed_everything(cfg.seed)
        o = run_fold(build((m,)), dataset, meta, inner, cfg, labels=y, verbose=verbose)
        held[m], device = _scores(o.predictions, meta.iloc[np.asarray(inner.test_idx)]), o.device
        histories.append(o.history.assign(stage=f"{m} (held-out trials)"))
        if m in members:
            test[m] = _scores(members[m], test_rows)
            reused_seconds += float(members[m].attrs.get("fit_seconds", 0.0))
        else:
            seed_everything(cfg.seed)
            o = run_fold(build((m,)), dataset, meta, fold, cfg, labels=y, verbose=verbose)
            test[m] = _scores(o.predictions, test_rows)
            histories.append(o.history.assign(stage=m))
        _check_member(m, test[m], test_rows, reused=m in members)
    weight, _ = mixing_weight(held["face"], held["bio"], y[np.asarray(inner.test_idx)], steps=config.balance.mix_steps)
    p = mix(test["face"], test["bio"], weight)
    y_test = y[np.asarray(fold.test_idx)].astype(np.int64)
    predictions = pd.DataFrame({"y_true": y_test, "y_score": p, "logits": _logit(p),
                                **{f"logits_{m}": _logit(test[m]) for m in ("face", "bio")},
                                **{k: test_rows[k].to_numpy() for k in META_KEYS if k in test_rows}})  # fmt: skip
    history = pd.concat(histories, ignore_index=True).assign(mix_weight_face=weight)
    # the members' fit rows, as run_fold carves them (the same whether they were trained here or reused)
    fit_idx, _ = _fit_and_validation(meta, np.asarray(fold.train_idx), fold, config, y)
    out = _balanced_output(predictions, history, n_train=len(fit_idx), n_val=len(inner.test_idx), device=device)
    out.timings["reused_member_seconds"] = reused_seconds
    return out


def _check_member(modality: str, scores: np.ndarray, rows: pd.DataFrame, *, reused: bool) -> None:
    """A late-ensemble member must answer every test segment (the face model: every one with a
    detected face); ``ValueError`` naming what is missing otherwise (a truncated file, another fold)."""
    missing = np.isnan(scores)
    allowed = ~rows["has_face"].to_numpy(dtype=bool) if modality == "face" and "has_face" in rows else np.zeros(len(rows), bool)
    if (missing & ~allowed).any():
        where = "the saved predictions of its unimodal cell" if reused else "its predictions"
        raise ValueError(f"late ensemble: the {modality} model has no answer for {int((missing & ~allowed).sum())} of "
                         f"{len(rows)} test segments in {where}; delete that cell's folder to retrain it")  # fmt: skip


def _gradient_blending(build, dataset, meta, fold, inner, config, y, checkpoint_dir, verbose) -> FoldOutput:
    bal = config.balance
    pilot_cfg = config.replace(balance=None, epochs=bal.pilot_epochs or config.epochs, keep="last")
    subset, fit_set = fold_subsets(dataset, y, pilot_cfg, inner.train_idx)
    held_set = subset(inner.test_idx)
    seed_everything(config.seed)
    pilot = build(config.modalities)
    if getattr(pilot, "auxiliary", None) is None:
        raise ValueError("gradient blending weighs one head per modality: build the fused model with "
                         "auxiliary_heads=True (the arm's model_kwargs)")  # fmt: skip
    curves: list[dict] = []

    def measure(trainer, record: dict) -> None:
        # the weights read the first and the last measurement only: the epochs between are skipped
        if int(record["epoch"]) not in (0, pilot_cfg.epochs):
            return
        losses = {split: head_losses(trainer.predict(rows)) for split, rows in (("train", fit_set), ("held", held_set))}
        curves.extend({"epoch": int(record["epoch"]), "head": h, "train_loss": losses["train"][h],
                       "held_loss": losses["held"][h]} for h in losses["train"])  # fmt: skip

    trainer = Trainer(pilot, pilot_cfg, callbacks=[measure], verbose=verbose)
    measure(trainer, {"epoch": 0})
    trainer.fit(fit_set, None)
    pilot_curves = pd.DataFrame(curves)
    terms = blending_terms(pilot_curves)
    weights = blending_weights(pilot_curves)
    seed_everything(config.seed)
    main = run_fold(build(config.modalities), dataset, meta, fold, config.replace(balance=None), labels=y,
                    checkpoint_dir=checkpoint_dir, loss_weights=weights, verbose=verbose)  # fmt: skip
    wide = pilot_curves.pivot(index="epoch", columns="head", values=["train_loss", "held_loss"])
    wide.columns = [f"pilot_{split}_{head}" for split, head in wide.columns]
    history = pd.concat([wide.reset_index().assign(stage="pilot"), main.history.assign(stage="train")],
                        ignore_index=True).assign(**{f"blend_weight_{h}": w for h, w in weights.items()},
                                                  **{f"blend_gain_{h}": g for h, g in terms["gain"].items()},
                                                  **{f"blend_overfit_{h}": o for h, o in terms["overfit"].items()})  # fmt: skip
    out = _balanced_output(main.predictions, history, n_train=main.n_train, n_val=main.n_val, device=main.device)
    out.best_epoch = main.best_epoch
    return out


def _balanced_output(predictions: pd.DataFrame, history: pd.DataFrame, *, n_train: int, n_val: int,
                     device: str) -> FoldOutput:  # fmt: skip
    per_subject = {int(s): binary_metrics(g["y_true"], g["y_score"]) for s, g in predictions.groupby("subject")}
    return FoldOutput(metrics=binary_metrics(predictions["y_true"], predictions["y_score"]), per_subject=per_subject,
                      predictions=predictions, history=history, n_train=n_train, n_val=n_val,
                      n_test=len(predictions), best_epoch=None, train_seconds=0.0, device=device)  # fmt: skip


# ---------------------------------------------------------------------------------- the cells
def make_cells(
    metadata: pd.DataFrame,
    *,
    models: Sequence[str],
    modalities: Sequence[Sequence[str]],
    tasks: Sequence[str] = ("valence", "arousal"),
    protocols: Sequence[str] = ("paper-segment-kfold", "trial-kfold"),
    n_splits: int = 10,
    split_seed: int = 0,
    subjects: Sequence[int] | None = None,
    max_folds: int | None = None,
    train: TrainConfig | dict | None = None,
    model_kwargs: dict | None = None,
    data: dict | None = None,
    model_factory: str = "emolab.models:build_model",
    label_method: str = "threshold",
    label_threshold: float = 5.0,
) -> list[Cell]:
    """The grid: one :class:`Cell` per model × modalities × task × protocol × fold.

    The folds are enumerated here from ``metadata`` with the same arguments the workers use, so
    the grid lists exactly the folds that will run.  ``max_folds`` keeps only the first folds of
    each subject (or of the pooled protocol) — for smoke runs; say so when reporting.
    """
    train_d = (train.to_dict() if isinstance(train, TrainConfig) else dict(train or {}))
    cells = []
    for task in tasks:
        y = make_labels(metadata, task=task, method=label_method, threshold=label_threshold)
        for protocol in protocols:
            folds = make_folds(metadata, protocol, task=task, n_splits=n_splits, seed=split_seed,
                               labels=y, subjects=None if subjects is None else list(subjects))
            if max_folds is not None:
                folds = [f for f in folds if f.fold < max_folds]
            for model in models:
                for mods in modalities:
                    for f in folds:
                        cells.append(Cell(
                            model=model, modalities=tuple(mods), task=task, protocol=protocol,
                            subject=f.subject, fold=f.fold, n_splits=n_splits, split_seed=split_seed,
                            label_method=label_method, label_threshold=label_threshold,
                            train=train_d, model_kwargs=dict(model_kwargs or {}),
                            data=dict(data or {}), model_factory=model_factory,
                        ))
    return cells


_DATA_CACHE: dict[str, Dataset] = {}


def _open_data(spec: dict) -> Dataset:
    key = json.dumps(spec, sort_keys=True)
    if key not in _DATA_CACHE:
        if "factory" not in spec:
            raise ValueError(f"cell data spec {spec} needs a 'factory' ('module:function')")
        _DATA_CACHE[key] = resolve(spec["factory"])(**spec.get("kwargs", {}))
    return _DATA_CACHE[key]


def cell_fold(cell: Cell, metadata: pd.DataFrame, *, labels: np.ndarray | None = None) -> Fold:
    """The :class:`~emolab.train.protocols.Fold` a cell trains and tests on, rebuilt from the
    metadata with the cell's protocol, split seed and label rule (``ValueError`` when the data
    has no such fold)."""
    if labels is None:
        labels = make_labels(metadata, task=cell.task, method=cell.label_method, threshold=cell.label_threshold)
    folds = make_folds(metadata, cell.protocol, task=cell.task, n_splits=cell.n_splits,
                       seed=cell.split_seed, labels=labels)  # fmt: skip
    match = [f for f in folds if f.subject == cell.subject and f.fold == cell.fold]
    if len(match) != 1:
        raise ValueError(f"{cell.cell_id}: fold not found in the data (protocol {cell.protocol})")
    return match[0]


def member_cell(cell: Cell, modality: str) -> Cell:
    """The unimodal cell of a late-ensemble ``cell`` for ``modality``: the same architecture,
    task, fold, recipe and data, one modality and no balance setting (the cell chapter 05 trains)."""
    train = {k: v for k, v in cell.train.items() if k != "balance"}
    data = dict(cell.data)
    if isinstance(data.get("kwargs"), dict) and "modalities" in data["kwargs"]:
        data["kwargs"] = {**data["kwargs"], "modalities": [modality]}
    return dataclasses.replace(cell, modalities=(modality,), train=train, data=data)


def finished_members(cell: Cell, cells_folder: Path) -> dict[str, pd.DataFrame]:
    """Test predictions of ``cell``'s unimodal members (:func:`member_cell`) that a sweep already
    finished in ``cells_folder`` (``<results folder>/cells``; a folder counts once its
    ``timings.json``, written last, is there); the others are left out, to be trained.  Each
    frame's ``attrs["fit_seconds"]`` is the member's recorded training time."""
    out = {}
    for m in cell.modalities:
        folder = CellDir(cells_folder / member_cell(cell, m).key)
        if folder.timings_path.is_file() and folder.predictions_path.is_file():
            out[m] = pd.read_csv(folder.predictions_path)
            out[m].attrs["fit_seconds"] = float(json.loads(folder.timings_path.read_text()).get("fit", 0.0))
    return out


def run_cell(cell: Cell, workdir: str | os.PathLike | None = None) -> CellOutput:
    """Run one cell (in whichever process calls it); checkpoints go to ``workdir/checkpoint``."""
    t0 = time.perf_counter()
    dataset = _open_data(cell.data)
    timings = {"open": time.perf_counter() - t0}
    t0 = time.perf_counter()
    metadata = getattr(dataset, "metadata", None)
    if metadata is None:
        raise TypeError(f"the dataset from {cell.data.get('factory')} has no .metadata DataFrame")
    config = cell.train_config()
    labels = make_labels(metadata, task=cell.task, method=cell.label_method, threshold=cell.label_threshold)
    fold = cell_fold(cell, metadata, labels=labels)
    timings["folds"] = time.perf_counter() - t0
    ckpt = None if workdir is None else CellDir(Path(workdir), cell.cell_id).checkpoint_dir
    if config.balance is not None and config.balance.method in MULTI_MODEL_METHODS:
        factory = resolve(cell.model_factory)

        def build(modalities, **kwargs):
            return factory(cell.model, modalities=tuple(modalities), **{**cell.model_kwargs, **kwargs})

        late = config.balance.method == "late ensemble"
        members = finished_members(cell, Path(workdir).parent) if late and workdir is not None else {}
        out = run_balanced_fold(build, dataset, metadata, fold, config, labels=labels, members=members,
                                checkpoint_dir=ckpt, verbose=False)  # fmt: skip
        timings["reused_members"] = float(len(members))
        timings["fit"] = out.train_seconds
    else:
        t0 = time.perf_counter()
        seed_everything(config.seed)
        model = cell.build_model()
        timings["build"] = time.perf_counter() - t0
        out = run_fold(model, dataset, metadata, fold, config, labels=labels, checkpoint_dir=ckpt,
                       verbose=False)
    proto = get_protocol(cell.protocol)
    rows = []
    for subj, m in out.per_subject.items():
        rows.append({
            "cell_id": cell.cell_id, "model": cell.model, "modalities": "+".join(cell.modalities),
            "task": cell.task, "protocol": cell.protocol, "leaky": proto.leaky,
            "disjoint": proto.disjoint or "none", "subject": subj, "fold": cell.fold,
            **{k: m[k] for k in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "majority_baseline")},
            "n_train": out.n_train, "n_val": out.n_val, "n_test": m["n"], "n_pos": m["n_pos"],
            "best_epoch": out.best_epoch, "epochs_run": len(out.history),
            "train_seconds": round(out.train_seconds, 3), "device": out.device,
            "config": cell.to_dict(),
        })
    return CellOutput(rows=rows, predictions=out.predictions, history=out.history,
                      timings={**timings, **out.timings})


# ---------------------------------------------------------------------------------- the sweep
#: What a backend yields for each cell it ran: the cell, and its output or the exception it raised.
CellResult = tuple[Cell, "CellOutput | BaseException"]


def worker_pool(n_jobs: int, *, threads: int | None = None):
    """``n_jobs`` worker processes for independent trainings, each with ``threads`` torch threads
    (``None``: ``cpu_count // n_jobs``), from :func:`emolab.workers.process_pool` (a context
    manager)."""
    threads = default_threads(n_jobs) if threads is None else int(threads)
    return process_pool(n_jobs, torch_threads=threads, what="trainings")


def run_local(queue: ClaimQueue, cell_fn: Callable[[Cell, Path], CellOutput], *,
              n_jobs: int = 1) -> Iterator[CellResult]:  # fmt: skip
    """The local backend: run the cells ``queue`` hands out, in this process (``n_jobs`` 1) or in
    ``n_jobs`` worker processes; yield each ``(cell, output or exception)`` as it ends.

    A cell is taken from the queue only when a worker is free, so a second sweep on the same table
    finds the cells not started yet unclaimed.  Closing the generator (the caller stops reading)
    ends the workers.
    """
    pool = worker_pool(n_jobs) if n_jobs > 1 and queue.pending else None
    if pool is None:
        while (cell := queue.take(wait=True)) is not None:
            try:
                out = cell_fn(cell, queue.folder(cell).path)
            except Exception as err:  # noqa: BLE001 - recorded as the cell's failure
                yield cell, err
            else:
                yield cell, out
        return
    with pool:
        running: dict[cf.Future, Cell] = {}
        while True:
            while len(running) < n_jobs and (cell := queue.take(wait=not running)) is not None:
                running[pool.submit(cell_fn, cell, queue.folder(cell).path)] = cell
            if not running:
                return
            # with cells held by another sweep, look again for them every few seconds
            done, _ = cf.wait(running, timeout=queue.poll_s if queue.pending else None,
                              return_when=cf.FIRST_COMPLETED)  # fmt: skip
            for fut in done:
                cell = running.pop(fut)
                try:
                    out = fut.result()
                except Exception as err:  # noqa: BLE001
                    yield cell, err
                else:
                    yield cell, out


def run_sweep(
    cells: Iterable[Cell],
    results_path: str | os.PathLike,
    *,
    cell_fn: Callable[[Cell, Path], CellOutput] = run_cell,
    n_jobs: int = 1,
    keep_checkpoints: bool = False,
    backend: str = "local",
    address: str | None = None,
    resources: dict[str, float] | None = None,
    progress: bool | None = None,
    verbose: bool | str | None = None,
) -> pd.DataFrame:
    """Run every cell whose ``cell_id`` is not yet in the results table at ``results_path``.

    One recorder, this function, writes what the backends (:func:`run_local`,
    :func:`emolab.train.ray_backend.run_on_ray`) yield: a finished cell's folder
    (:meth:`CellDir.save_outputs`) and its rows, appended only when the table does not hold that
    cell yet (:func:`~emolab.train.results.append_new_results`); a failed cell is logged.

    Several sweeps on one table share the work: a cell runs only after this sweep claimed it
    (:class:`~emolab.train.cells.ClaimQueue`; the ``claim`` file in its folder), and the claim is
    released once its rows are written or it failed.  A sweep skips the cells another one is
    running and comes back to them; when nothing else is left it waits for them, taking over a
    cell whose sweep failed on it or died.  So when it returns, every cell of ``cells`` is in the
    table (or failed), and the rows of the cells another sweep ran are read from the table with
    :func:`~emolab.train.results.load_results`: the returned frame holds only this call's rows.

    Parameters
    ----------
    cells : iterable of Cell
    results_path : path
        The CSV (:mod:`emolab.train.results`); rows are appended as cells finish, by this
        process only (workers return rows, they never write the table).
    cell_fn : callable
        ``cell_fn(cell, workdir) -> CellOutput``; pickled to the workers (module-level functions
        by name, others by value).  Default :func:`run_cell`.
    n_jobs : int
        Worker processes (:func:`emolab.workers.process_pool`), each with ``cpu_count // n_jobs``
        torch threads; 1 runs the cells in this process.  Each worker keeps the opened dataset
        between its cells.
    keep_checkpoints : bool
        Keep each finished cell's last checkpoint (off: they are deleted once the row is written).
    backend : {"local", "ray"}
        ``"local"``: this process or ``n_jobs`` worker processes on this machine.  ``"ray"``: each
        cell is a task on a Ray cluster (:mod:`emolab.train.ray_backend`; needs
        ``pip install 'emolab[ray]'``); ``n_jobs`` is then unused, the cluster's resources decide
        how many cells run at once.  Same cells and seeds, same rows: only where a cell runs changes.
    address : str or None
        Ray only: the cluster to connect to (``"auto"``: the one ``ray start`` runs on this
        machine; ``None``: the instance this process is connected to, else a new local one).
    resources : dict or None
        Ray only: what each cell's task requests, e.g. ``{"num_cpus": 1, "num_gpus": 0.25}``
        (default one CPU, plus one GPU for ``device="cuda"`` cells; see
        :func:`~emolab.train.ray_backend.cell_resources`).

    Returns
    -------
    DataFrame
        The rows added by this call.  Cells that raised are logged; after the others finish a
        ``RuntimeError`` names them (their rows are absent, so a re-run retries just those).
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if backend == "local" and (address is not None or resources is not None):
        raise ValueError("address and resources apply to backend='ray' only")
    results_path = Path(results_path)
    cells = list(cells)
    ids = [c.cell_id for c in cells]
    if len(set(ids)) != len(ids):
        raise ValueError("the grid holds duplicate cells")
    done = finished_cells(results_path)
    todo = [c for c in cells if c.cell_id not in done]
    logger.info("sweep: %d cells, %d already in %s, %d to run %s", len(cells), len(cells) - len(todo),
                results_path, len(todo), "on Ray" if backend == "ray" else f"with n_jobs={n_jobs}")
    added: list[dict] = []
    failed: list[tuple[str, BaseException]] = []
    from tqdm.auto import tqdm

    with use_log_level(verbose):
        bar = tqdm(total=len(todo), desc="cells", disable=progress_disabled(progress), mininterval=2.0)
        queue = ClaimQueue(todo, results_path, on_skip=lambda cell: bar.update())
        if backend == "ray":
            from emolab.train.ray_backend import run_on_ray

            results = run_on_ray(queue, cell_fn, address=address, resources=resources)
        else:
            results = run_local(queue, cell_fn, n_jobs=n_jobs)
        try:
            for k, (cell, out) in enumerate(results, 1):
                try:
                    if isinstance(out, BaseException):
                        raise out
                    added.extend(_record(cell, out, queue.folder(cell), results_path, keep_checkpoints))
                    logger.debug("[%d/%d] %s: accuracy %.3f (majority %.3f)", k, len(todo), cell.cell_id,
                                 np.mean([r["accuracy"] for r in out.rows]),
                                 np.mean([r["majority_baseline"] for r in out.rows]))  # fmt: skip
                except Exception as err:  # noqa: BLE001 - reported below, the sweep goes on
                    logger.error("cell %s failed: %r", cell.cell_id, err)
                    failed.append((cell.cell_id, err))
                finally:
                    queue.release(cell)
                bar.update()
        finally:
            results.close()  # ends the workers or Ray tasks still running when interrupted
            queue.release_all()
            bar.close()
        if queue.done_elsewhere:
            logger.info("sweep: %d of the %d cells were run by another sweep on %s; their rows are in "
                        "the table, not in the rows returned", len(queue.done_elsewhere), len(todo),
                        results_path)  # fmt: skip
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(todo)} cells failed (first: {failed[0][0]}: {failed[0][1]!r}); "
            "the finished ones are saved, run the sweep again to retry the rest"
        ) from failed[0][1]
    return pd.DataFrame(added, columns=None) if added else pd.DataFrame()


def _record(cell: Cell, out: CellOutput, folder: CellDir, results_path: Path, keep_checkpoints: bool) -> list[dict]:
    """Write a finished cell: its folder, then its rows (unless the table holds the cell already);
    the rows written."""
    folder.save_outputs(out)
    rows = append_new_results(results_path, out.rows)
    if not rows:
        logger.warning("cell %s: already in %s, its rows were not appended again", cell.cell_id, results_path)
    if not keep_checkpoints:
        folder.drop_checkpoint()
    return rows
