"""Trainers, evaluation protocols, metrics and the sweep runner.

* :mod:`emolab.train.config` — :class:`TrainConfig`, :class:`AugmentConfig` (the papers' defaults).
* :mod:`emolab.train.trainer` — the model-agnostic :class:`Trainer` (checkpoints, resume, AMP).
* :mod:`emolab.train.augment` — GBV-Net's face and signal augmentations on batches.
* :mod:`emolab.train.protocols` — the papers' segment k-fold protocols and leak-free ones.
* :mod:`emolab.train.batches` — a fold gathered once into stacked tensors (:class:`InMemorySegments`).
* :mod:`emolab.train.metrics` — per-fold metrics, majority baseline, pooling per subject, bootstrap
  and Student-t intervals.
* :mod:`emolab.train.results` — the tidy results table.
* :mod:`emolab.train.leak_audit` — :func:`audit`, every leak detectable in one evaluation.
* :mod:`emolab.train.cells` — a sweep's cells (:class:`Cell`), what they return and the layout of
  their folders (:class:`CellDir`, with the claim that lets two sweeps share one table).
* :mod:`emolab.train.sweep` — one fold (:func:`run_fold`) and a resumable parallel grid.
* :mod:`emolab.train.ray_backend` — the grid's cells as tasks on a Ray cluster (optional extra).
"""

from emolab.train.augment import augment_bio, augment_face
from emolab.train.batches import InMemorySegments
from emolab.train.cells import Cell, CellDir
from emolab.train.config import AugmentConfig, TrainConfig
from emolab.train.device import resolve_device, resolve_precision
from emolab.train.leak_audit import AUDIT_CHECKS, SignatureProbe, TrialSignature, audit
from emolab.train.metrics import (
    aggregate,
    binary_metrics,
    bootstrap_ci,
    majority_baseline,
    mean_ci,
    pool_folds,
)
from emolab.train.protocols import (
    PROTOCOLS,
    Fold,
    Protocol,
    check_folds,
    get_protocol,
    leakage_report,
    make_folds,
    make_labels,
    validation_split,
)
from emolab.train.results import append_results, config_of, load_results
from emolab.train.sweep import cell_fold, make_cells, run_cell, run_fold, run_sweep
from emolab.train.trainer import Trainer, WithTargets, seed_everything

__all__ = [
    "AUDIT_CHECKS", "PROTOCOLS", "SignatureProbe", "TrialSignature", "AugmentConfig", "Cell", "CellDir", "Fold", "InMemorySegments", "Protocol", "TrainConfig", "Trainer",
    "WithTargets", "aggregate", "append_results", "audit", "augment_bio", "augment_face", "binary_metrics",
    "bootstrap_ci", "cell_fold", "check_folds", "pool_folds",
    "config_of", "get_protocol", "leakage_report", "load_results", "majority_baseline", "make_cells", "make_folds",
    "make_labels", "mean_ci", "resolve_device", "resolve_precision", "run_cell", "run_fold",
    "run_sweep", "seed_everything", "validation_split",
]
