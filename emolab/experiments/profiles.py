"""Experiment profiles: how big an experiment is (data, folds, training budget), and where its results go."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from emolab.experiments.recipe import chosen_normalize, model_train
from emolab.paths import cache_dir
from emolab.preprocess.physio import PhysioConfig

#: Values of :attr:`ExperimentProfile.normalize`.
NORMALIZATIONS = ("baseline_std", "train_fold", None)


# ------------------------------------------------------------------------------------ profiles
@dataclass(frozen=True)
class ExperimentProfile:
    """How big an experiment is: data, folds and training budget (saved with every result).

    Attributes
    ----------
    name : str
        Profile name; also names the default results folder.
    synthetic_preset : str
        Preset of :func:`~emolab.data.synthetic.ensure_synthetic` used when no data folder is
        given (``"book"``: 6 subjects x 12 trials of 6 s, the CI profile's; ``"deap"``: DEAP's
        sizes).
    subjects : tuple of int or None
        Subjects to build and use; ``None`` = every subject in the data folder.
    n_splits : int
        k of the k-fold protocols.  Papers: 10.
    max_folds : int or None
        Run only the first folds of each subject (``None``: all).  Ours, for smoke runs only; a
        result computed on fewer folds than ``n_splits`` says so in its configuration.
    epochs, patience : int
        Epoch limit and early-stopping patience on the validation split (ours).
    batch_size, lr : int, float
        Papers: 256 and 1e-3 (Adam).
    val_fraction : float
        Share of each training fold held out for model selection (ours).
    n_jobs : int
        Worker processes of the sweep (1 = in the calling process).
    build_jobs : int or None
        Worker processes that generate synthetic data and build a segment store, one subject at
        a time (``None``: one per CPU core this process may use).  Ours: face detection is about
        20 ms per frame on one core and each subject is independent, so a store builds about
        ``build_jobs`` times faster; the files do not depend on it.
    torch_threads : int or None
        Threads of torch's CPU operators while a grid or a demonstration trains in this process
        (``None``: torch's default).  Ours: two worker processes of one thread each use both
        cores of a CI machine.
    segments_per_trial : int or None
        Keep only the first segments of every trial (``None``: all).  Ours, for smoke runs on a
        CPU: it shortens every trial alike, so the protocols stay comparable.
    normalize : {"baseline_std", "train_fold", None}
        Physiological normalisation.  Ours: ``"baseline_std"`` divides each channel by its
        standard deviation in the trial's own pre-stimulus baseline
        (:class:`~emolab.preprocess.physio.PhysioConfig`); the papers describe none (how the CI
        profile's was chosen: ``book/recipe.md``).  It gives every segment of a trial
        the same per-channel gains, a trial signature (chapter 09).  ``"train_fold"``
        standardises each channel with statistics of each fold's training rows instead, the
        same for every trial (:attr:`TrainConfig.bio_standardize
        <emolab.train.config.TrainConfig>`), which stamps none.
    baseline : {True, "mean", False}
        :attr:`PhysioConfig.baseline <emolab.preprocess.physio.PhysioConfig>`: the papers' mean
        baseline second (default), each channel's baseline mean, or nothing.
    face_size : int
        Side of the square face crops in pixels (papers: 64).  Ours, for CPU runs: 32 px costs a
        quarter of the arithmetic of every face convolution.
    synthetic_knobs : dict
        Knobs of :class:`~emolab.data.synthetic.SyntheticConfig` changed from the preset when no
        data folder is given (ignored for real data).
    checkpoint_interval_s : float
        :attr:`TrainConfig.checkpoint_interval_s <emolab.train.config.TrainConfig>` of the cells.
    keep : {"best", "last"}
        :attr:`TrainConfig.keep <emolab.train.config.TrainConfig>`: early stopping on the
        validation split and its best epoch, or a fixed budget and the last epoch.
    model_train : dict
        ``{model: TrainConfig fields}``: that architecture's recipe, over the profile's own
        settings, for every modality set and protocol alike (an ``"augment"`` dict updates the
        augmentation settings field by field); a grid's ``train`` argument still wins.  The CI
        profile's is :data:`emolab.experiments.recipe.CHOSEN`, chosen without any test fold
        (:mod:`emolab.experiments.recipe`, ``book/recipe.md``); the full profile keeps the
        papers' settings.
    face_subjects_only : bool
        Build every cell on the subjects with face video only (a face detected in at least one
        segment; DEAP: participants 1-22).  Face and fusion cells are always restricted to them
        (a subject without video would be trained and tested on all-zero faces); with this on,
        the bio-only cells use the same subjects, so every modality is compared on the same
        people.  ``False`` keeps every subject for the bio-only cells (DEAP: all 32), and
        :func:`grid_cells` logs that their subjects differ.  Full profile: on (GBV-Net uses the
        22 DEAP subjects with video); the CI profile's synthetic subjects all have video.
    eog_regression : bool or None
        :attr:`PhysioConfig.eog_regression <emolab.preprocess.physio.PhysioConfig>`.  ``None``
        skips it on DEAP's preprocessed files, whose EOG the dataset authors already removed
        (the full profile); ``True`` regresses anyway — the CI profile, whose synthetic EEG
        carries EOG on purpose so that chapter 02 can show the step.
    model_fps : dict
        ``{model: {format: fps}}``: face frames per second of that model's cells, per dataset
        format; models not listed use the store of :func:`prepare_segments` (5 fps, Safavi et al.
        and DeepVANet).  Full profile: GBV-Net at 10 fps on DEAP and 12 on MAHNOB-HCI, as its
        paper; :func:`grid_cells` builds (once) a second store at that rate.
    augment_models : tuple of str
        Models trained with GBV-Net's six batch augmentations
        (:meth:`AugmentConfig.all_on <emolab.train.config.AugmentConfig.all_on>`).  Full
        profile: GBV-Net, as its paper.
    """

    name: str
    synthetic_preset: str = "smoke"
    subjects: tuple[int, ...] | None = None
    n_splits: int = 10
    max_folds: int | None = None
    epochs: int = 30
    patience: int = 5
    batch_size: int = 256
    lr: float = 1e-3
    val_fraction: float = 0.1
    n_jobs: int = 1
    build_jobs: int | None = None
    torch_threads: int | None = None
    segments_per_trial: int | None = None
    normalize: str | None = "baseline_std"
    baseline: bool | str = True
    face_size: int = 64
    synthetic_knobs: dict = field(default_factory=dict)
    checkpoint_interval_s: float = 0.0
    keep: str = "best"
    model_train: dict = field(default_factory=dict)
    face_subjects_only: bool = False
    eog_regression: bool | None = True
    model_fps: dict = field(default_factory=dict)
    augment_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.subjects is not None:
            object.__setattr__(self, "subjects", tuple(int(s) for s in self.subjects))
        if self.n_splits < 2:
            raise ValueError(f"ExperimentProfile.n_splits must be >= 2, got {self.n_splits}")
        if self.max_folds is not None and not 1 <= self.max_folds <= self.n_splits:
            raise ValueError(f"ExperimentProfile.max_folds must be in [1, n_splits], got {self.max_folds}")
        if self.segments_per_trial is not None and self.segments_per_trial < 1:
            raise ValueError(f"ExperimentProfile.segments_per_trial must be >= 1, got {self.segments_per_trial}")
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1 or self.n_jobs < 1:
            raise ValueError("ExperimentProfile epochs, patience, batch_size and n_jobs must be positive")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"ExperimentProfile.normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.build_jobs is not None and self.build_jobs < 1:
            raise ValueError(f"ExperimentProfile.build_jobs must be >= 1 or None, got {self.build_jobs}")
        bad = {m: k for m, k in self.model_train.items() if not isinstance(k, Mapping)}
        if bad:
            raise ValueError(f"ExperimentProfile.model_train maps model names to dicts of TrainConfig fields, "
                             f"got {bad}")  # fmt: skip
        for model, train in self.model_train.items():
            _check_train_fields(train, f"ExperimentProfile.model_train[{model!r}]")
        object.__setattr__(self, "augment_models", tuple(self.augment_models))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def train_settings(self, model: str, *, fused: bool = False, protocol: str | None = None, seed: int = 0,
                       device: str = "auto", given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The :class:`~emolab.train.config.TrainConfig` fields of ``model``'s cells under this
        profile: the one place a profile becomes training settings.

        In order: the profile's budget (``lr``, ``batch_size``, ``epochs``, ``patience``,
        ``val_fraction``, ``keep``, ``checkpoint_interval_s``), GBV-Net's augmentations for the
        ``augment_models``, the architecture's recipe (``model_train[model]``), then ``given``
        (a grid's ``train`` argument).  The settings are the same for every modality set and
        every protocol: ``fused`` and ``protocol`` change nothing (they are accepted so that a
        caller states which cell it asks for).  ``task`` and ``modalities`` are the cell's (left
        at their defaults here).
        """
        from emolab.train.config import AugmentConfig, TrainConfig

        del fused, protocol  # one recipe per architecture
        out = TrainConfig(lr=self.lr, batch_size=self.batch_size, epochs=self.epochs, patience=self.patience,
                          val_fraction=self.val_fraction, seed=seed, device=device, progress=False,
                          checkpoint_interval_s=self.checkpoint_interval_s, keep=self.keep).to_dict()  # fmt: skip
        # a new field at its default stays out, so the cells of every existing grid keep their keys
        if self.normalize == "train_fold":
            out["bio_standardize"] = "train_fold"
        elif out.get("bio_standardize") is None:
            out.pop("bio_standardize", None)
        if out.get("balance") is None:
            out.pop("balance", None)
        if model in self.augment_models:
            out["augment"] = dataclasses.asdict(AugmentConfig.all_on())
        out = _merge_train(out, self.model_train.get(model, {}))
        return _merge_train(out, given or {})

    def physio_config(self) -> PhysioConfig:
        """The :class:`~emolab.preprocess.physio.PhysioConfig` of this profile's stores (the
        ``"train_fold"`` normalisation happens in training, so its stores are unnormalised)."""
        return PhysioConfig(normalize=None if self.normalize == "train_fold" else self.normalize,
                            baseline=self.baseline, eog_regression=self.eog_regression)

    def build_workers(self) -> int:
        """:attr:`build_jobs`, with ``None`` resolved to the CPU cores this process may use."""
        return available_cores() if self.build_jobs is None else int(self.build_jobs)

    def replace(self, **changes: Any) -> "ExperimentProfile":
        return dataclasses.replace(self, **changes)


def _check_train_fields(train: Mapping[str, Any], where: str) -> None:
    """``ValueError`` naming ``where`` when ``train`` has a key that is no TrainConfig field (or,
    under ``"augment"``, no AugmentConfig field)."""
    from emolab.train.config import AugmentConfig, TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(train) - known)
    aug = train.get("augment", {})
    if not isinstance(aug, Mapping):
        raise ValueError(f"{where}: 'augment' must be a dict of AugmentConfig fields, got {aug!r}")
    unknown += [f"augment.{k}" for k in sorted(set(aug) - {f.name for f in dataclasses.fields(AugmentConfig)})]
    if unknown:
        raise ValueError(f"{where}: {unknown} are not TrainConfig (or AugmentConfig) fields; "
                         f"known: {sorted(known)}")  # fmt: skip


def _merge_train(train: dict, changes: Mapping[str, Any]) -> dict:
    """``train`` with ``changes`` over it; an ``"augment"`` dict updates the augmentation field by field."""
    from emolab.train.config import AugmentConfig

    out = dict(train)
    for key, value in changes.items():
        if key == "augment":
            base = out.get("augment") or dataclasses.asdict(AugmentConfig())
            out[key] = {**base, **value}
        else:
            out[key] = value
    return out


PROFILES: dict[str, ExperimentProfile] = {
    # Ours: the book's CI run, sized so that chapters 05-09 train in minutes on two CPU cores
    # (book/ci_profile.md gives each departure from the papers and why).  Six synthetic subjects
    # of 12 trials of 6 s ("book" preset), every fold of a 3-fold split, 32-px face crops,
    # batches of 8 (a fold trains on ~42 segments: with 256 there would be one step per epoch),
    # a fixed epoch budget with the last weights kept (a validation split of one trial is too
    # noisy to choose an epoch on; it is still scored, for the curves), two worker processes of
    # one thread each.  Each architecture's recipe (augmentation, epochs) and the physiological
    # normalisation come from the search on development seeds (emolab.experiments.recipe,
    # book/recipe.md); they are the same for every modality set and protocol.
    "smoke": ExperimentProfile(name="smoke", synthetic_preset="book", subjects=None, n_splits=3,
                               max_folds=None, epochs=8, patience=8, batch_size=8, lr=1e-3,
                               val_fraction=0.15, n_jobs=2, torch_threads=1, segments_per_trial=None,
                               face_size=32, checkpoint_interval_s=30.0, keep="last",
                               normalize=chosen_normalize(), model_train=model_train()),
    # The papers' protocol sizes and per-model settings (GBV-Net: faces at 10 fps on DEAP and
    # 12 on MAHNOB-HCI, its augmentations, its pooled 10-fold protocol; Safavi et al.: 5 fps per
    # subject), on the subjects with face video; EOG regression left to DEAP's own preprocessing;
    # epochs/patience ours.
    "full": ExperimentProfile(name="full", synthetic_preset="deap", subjects=None, n_splits=10,
                              max_folds=None, epochs=50, patience=8, batch_size=256, lr=1e-3,
                              val_fraction=0.1, face_subjects_only=True, eog_regression=None,
                              model_fps={"gbvnet": {"deap": 10.0, "mahnob": 12.0}},
                              augment_models=("gbvnet",)),
}  # fmt: skip


def available_cores() -> int:
    """The CPU cores this process may use (its affinity on Linux, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def get_profile(profile: str | ExperimentProfile = "smoke", **overrides: Any) -> ExperimentProfile:
    """A profile by name (or as given), with some fields changed.

    Raises ``KeyError`` naming the known profiles, ``TypeError`` for unknown fields.
    """
    if isinstance(profile, ExperimentProfile):
        base = profile
    else:
        try:
            base = PROFILES[profile]
        except KeyError:
            raise KeyError(f"unknown profile {profile!r}; known: {sorted(PROFILES)}") from None
    if not overrides:
        return base
    names = {f.name for f in dataclasses.fields(ExperimentProfile)}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"unknown ExperimentProfile field(s) {sorted(unknown)}; known: {sorted(names)}")
    return dataclasses.replace(base, **overrides)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with ``torch.set_num_threads(n)`` (nothing changes for ``None``), then restore."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)



def default_results_path(profile: str | ExperimentProfile = "smoke") -> Path:
    """``cache_dir("results", <profile name>) / "results.csv"`` — shared by every chapter."""
    return cache_dir("results", get_profile(profile).name) / "results.csv"


