"""Experiment profiles and the runner the result chapters share (chapters 05-09).

A chapter does three things: get the segments (:func:`prepare_segments`), run a grid of
model × modalities × task × protocol cells (:func:`run_grid`, built on the resumable
:func:`emolab.train.sweep.run_sweep`), and read the results back (:func:`load_grid_results`,
:func:`summarize`, :func:`grid_histories`, :func:`grid_predictions`).  Chapter 08 sets the
results beside the papers' published figures (:func:`paper_comparison`), chapter 09 sweeps the
synthetic trial fingerprint (:func:`fingerprint_sweep`), and every result chapter audits its
evaluations for leaks (:func:`audit_protocols`).

Every chapter of a profile appends to one results table (:func:`default_results_path`), so a cell
that two chapters need — say the Safavi bio-only model under ``trial-kfold``, which chapter 05
trains as an ablation and chapter 06 compares with the fusion model — is trained once: the second
chapter finds its ``cell_id`` in the table and skips it.  A chapter run alone on a fresh kernel
still computes everything it shows.

Profiles
--------
``"smoke"``
    Ours: the book's CI run on two CPU cores.  Six synthetic subjects of 12 short trials, every
    fold of 3-fold splits, 8 epochs (2 for the protocols that pool subjects), small face crops:
    enough for intervals over subjects that separate what the synthetic knobs put in the data.
``"full"``
    The papers' settings (Safavi et al. :cite:`safavi_deep_multimodal`, GBV-Net
    :cite:`yu2025gbvnet`): the subjects with face video (DEAP: 1-22), 10 folds, Adam with
    learning rate 1e-3, batch 256; Safavi et al. per subject with faces at 5 fps, GBV-Net pooled
    with faces at 10 fps (DEAP) or 12 (MAHNOB-HCI) and its augmentations; epochs and patience are
    ours (neither paper gives them).  Meant for the real data on a GPU; ``book/own_data.md``
    gives the commands and ``benchmarks/rehearse_full.py`` rehearses it on real-sized data.

>>> profile = get_profile("smoke")                                          # doctest: +SKIP
>>> dataset = prepare_segments(None, profile=profile, seed=0)               # doctest: +SKIP
>>> results = run_grid(dataset, models=["safavi"], modalities=[("bio",)],   # doctest: +SKIP
...                    tasks=["arousal"], protocols=["trial-kfold"], profile=profile)
>>> summarize(results)                                                      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emolab._logging import logger, use_log_level
from emolab.paths import cache_dir

__all__ = [
    "PROFILES", "ExperimentProfile", "TrialHeads", "get_profile", "prepare_segments", "open_segments",
    "detect_format", "read_first_subjects", "face_subjects", "segments_at_fps", "has_face_results",
    "segment_shapes", "default_results_path", "grid_cells", "run_grid", "load_grid_results",
    "summarize", "accuracy_table", "verdicts", "protocol_gaps", "fusion_gains", "CHAPTER_GRIDS", "PAPER_PROTOCOLS", "chapter_claims", "paper_comparison",
    "comparison_table", "audit_protocols", "fusion_branches", "fusion_branch_verdicts", "fingerprint_sweep", "synthetic_expectations", "grid_histories", "grid_predictions", "peek_test_epochs", "epoch_selection_bias",
]


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
        given (``"smoke"``: 4 subjects x 10 trials of 20 s; ``"deap"``: DEAP's sizes).
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
        (``None``: torch's default).  Ours: one thread per process is much faster than two on
        small batches when the cores are shared (measured in the chapters' smoke runs), and two
        worker processes of one thread each use both cores of a CI machine.
    segments_per_trial : int or None
        Keep only the first segments of every trial (``None``: all).  Ours, for smoke runs on a
        CPU: it shortens every trial alike, so the protocols stay comparable.
    normalize : {"baseline_std", None}
        Physiological normalisation (:class:`~emolab.preprocess.physio.PhysioConfig`).  Ours:
        ``"baseline_std"`` divides each channel by its standard deviation in the trial's own
        pre-stimulus baseline, so no statistic comes from other trials or from test data.  The
        papers do not describe one; without it the channels' units (µV, µS, arbitrary units in
        the hundreds) differ by orders of magnitude, and in the smoke profile the physiological
        models stayed at the majority baseline on trial-kfold arousal (0.47-0.50 accuracy against
        0.78 with it, both architectures, 15 epochs; measured with :func:`run_grid` on the smoke
        synthetic data, seed 0).
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
    fused_model_kwargs : dict
        Extra arguments of :func:`~emolab.models.build_model` for the models with both
        modalities only (the unimodal cells stay those of chapter 05).  Ours: the CI profile
        gives the fused models auxiliary unimodal heads (``auxiliary_heads=True``, see
        :class:`~emolab.models.MultimodalModel`).  Measured on the CI profile, seed 0,
        ``trial-kfold``: GBV-Net valence 0.745 -> 0.803 with them (face alone 0.722), Safavi et
        al. arousal 0.704 -> 0.731 (bio alone 0.722); Safavi et al. valence stayed at 0.532
        (face alone 0.671), also with modality dropout or standardised features alone (what
        lifted it is ``fused_train``).  The full profile keeps the papers' models.
    model_fused_kwargs : dict
        ``{model: kwargs}``: :func:`~emolab.models.build_model` arguments for that model's fused
        cells, over ``fused_model_kwargs``.  Ours, for the CI profile: Safavi et al. standardise
        each branch's features before the concatenation (``normalize_features=True``, see
        :class:`~emolab.models.MultimodalModel`), so that neither branch drowns the other by
        scale alone; GBV-Net's gate does not (its arousal fell from 0.683 to 0.644 with them,
        seed 0).
    fused_train : dict
        :class:`~emolab.train.config.TrainConfig` fields for the models with both modalities
        only, over the profile's own (an ``"augment"`` dict updates the augmentation settings
        field by field); a ``train`` argument of :func:`grid_cells` still wins.  Ours, for the CI
        profile: two of GBV-Net's own augmentations on the fused models of both architectures.
        Every training segment of the physiological branch is shifted circularly in time by up
        to half a second (``bio_time_shift``): its band powers, which carry arousal, stay, while
        the exact waveform by which a branch can recognise a segment it has seen moves (Safavi
        et al.'s last layer weighs every time step separately).  Every training clip of the face
        gets a random brightness, contrast and saturation (``face_color_jitter``), which blurs a
        trial's lighting (the face's part of the synthetic trial fingerprint).  Without them the
        branch that memorises its training trials fastest fits the training data first and
        loudest, and the fusion head follows it on new trials.  Fused minus the better single
        modality under ``trial-kfold`` (CI profile, both architectures and tasks, seeds 0, 1
        and 2): mean over the 12 rows -0.063 without these settings, -0.008 with them; worst
        row -0.264 (Safavi et al. valence, seed 2) against -0.146 (the same, seed 1).  Rows
        within 2 points of their better half: 6 of 12 either way.  The unimodal cells stay
        those of chapter 05, unaugmented.
    protocol_epochs : dict
        ``{protocol: epochs}``: an epoch budget for that protocol's cells instead of ``epochs``.
        Ours, for the CI profile: ``{"loso": 2}``.  A leave-one-subject-out fold trains on five
        subjects' segments, so 2 epochs take about as many optimiser steps as 8 epochs of one
        subject's fold, and chapter 08's grid stays within the CI budget.  The leaky pooled
        protocol keeps ``epochs``: with 2 epochs GBV-Net could not memorise the trials it shares
        with the test fold, and its paper's protocol scored at or below ``trial-kfold`` for its
        face models (measured on the CI profile, seed 0).
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
    paper_protocols : dict
        ``{model: protocol}``: the protocol a grid's ``"paper-segment-kfold"`` means for that
        model.  Full profile: GBV-Net's paper evaluates by ``"pooled-segment-kfold"`` (10-fold
        over every subject's segments together), Safavi et al. per subject.
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
    face_size: int = 64
    synthetic_knobs: dict = field(default_factory=dict)
    checkpoint_interval_s: float = 0.0
    keep: str = "best"
    fused_model_kwargs: dict = field(default_factory=dict)
    model_fused_kwargs: dict = field(default_factory=dict)
    fused_train: dict = field(default_factory=dict)
    protocol_epochs: dict = field(default_factory=dict)
    face_subjects_only: bool = False
    eog_regression: bool | None = True
    model_fps: dict = field(default_factory=dict)
    augment_models: tuple[str, ...] = ()
    paper_protocols: dict = field(default_factory=dict)

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
        if self.build_jobs is not None and self.build_jobs < 1:
            raise ValueError(f"ExperimentProfile.build_jobs must be >= 1 or None, got {self.build_jobs}")
        _check_train_fields(self.fused_train, "ExperimentProfile.fused_train")
        bad = {m: k for m, k in self.model_fused_kwargs.items() if not isinstance(k, Mapping)}
        if bad:
            raise ValueError(f"ExperimentProfile.model_fused_kwargs maps model names to dicts of "
                             f"build_model arguments, got {bad}")  # fmt: skip
        bad = {p: e for p, e in self.protocol_epochs.items() if not isinstance(e, int) or e < 1}
        if bad:
            raise ValueError(f"ExperimentProfile.protocol_epochs must map protocols to epochs >= 1, got {bad}")
        object.__setattr__(self, "augment_models", tuple(self.augment_models))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def fused_kwargs(self, model: str) -> dict[str, Any]:
        """:func:`~emolab.models.build_model` arguments of ``model`` with both modalities:
        ``fused_model_kwargs``, then ``model_fused_kwargs[model]``."""
        return {**self.fused_model_kwargs, **self.model_fused_kwargs.get(model, {})}

    def build_workers(self) -> int:
        """:attr:`build_jobs`, with ``None`` resolved to the CPU cores this process may use."""
        if self.build_jobs is not None:
            return int(self.build_jobs)
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)

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


def _fused_train(train: dict, fused: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict:
    """The training settings of a fused cell: ``train`` (the profile's, then ``given``), with the
    profile's ``fused`` settings over them, except the keys ``given`` sets itself."""
    out = dict(train)
    for key, value in fused.items():
        if key in (given or {}):
            continue
        out[key] = {**out.get(key, {}), **value} if key == "augment" else value
    return out


PROFILES: dict[str, ExperimentProfile] = {
    # Ours: the book's CI run, sized so that chapters 05-07 train in minutes on two CPU cores and
    # their numbers still carry what the text says (on any seed).  Six synthetic subjects of 12
    # trials of 6 s ("book" preset), every fold of a 3-fold split, 32-px face crops, batches of 8
    # (a fold trains on ~42 segments: with 256 there would be one step per epoch), a fixed
    # budget of 8 epochs with the last weights kept (a validation split of one trial is too
    # noisy to choose an epoch on; it is still scored, for the curves), two worker processes of
    # one thread each.  The fused models get auxiliary unimodal heads (see fused_model_kwargs),
    # time-shifted physiological segments and colour-jittered faces (fused_train) and, for Safavi
    # et al., standardised branch features (model_fused_kwargs).
    "smoke": ExperimentProfile(name="smoke", synthetic_preset="book", subjects=None, n_splits=3,
                               max_folds=None, epochs=8, patience=8, batch_size=8, lr=1e-3,
                               val_fraction=0.15, n_jobs=2, torch_threads=1, segments_per_trial=None,
                               face_size=32, checkpoint_interval_s=30.0, keep="last",
                               fused_model_kwargs={"auxiliary_heads": True},
                               model_fused_kwargs={"safavi": {"normalize_features": True}},
                               fused_train={"augment": {"bio_time_shift": True, "max_shift": 64,
                                                        "face_color_jitter": True}},
                               protocol_epochs={"loso": 2}),
    # The papers' protocol sizes and per-model settings (GBV-Net: faces at 10 fps on DEAP and
    # 12 on MAHNOB-HCI, its augmentations, its pooled 10-fold protocol; Safavi et al.: 5 fps per
    # subject), on the subjects with face video; EOG regression left to DEAP's own preprocessing;
    # epochs/patience ours.
    "full": ExperimentProfile(name="full", synthetic_preset="deap", subjects=None, n_splits=10,
                              max_folds=None, epochs=50, patience=8, batch_size=256, lr=1e-3,
                              val_fraction=0.1, face_subjects_only=True, eog_regression=None,
                              model_fps={"gbvnet": {"deap": 10.0, "mahnob": 12.0}},
                              augment_models=("gbvnet",),
                              paper_protocols={"gbvnet": "pooled-segment-kfold"}),
}  # fmt: skip


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


# ------------------------------------------------------------------------------------ segments
def prepare_segments(
    data_root: str | os.PathLike | None = None,
    *,
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    fmt: str = "auto",
    fps: float = 5.0,
    modalities: Sequence[str] = ("face", "bio"),
    store_root: str | os.PathLike | None = None,
    model: str | None = None,
    verbose: bool | str | None = None,
    **knobs: Any,
):
    """The segments of an experiment as a :class:`~emolab.data.store.SegmentDataset`.

    ``data_root=None`` uses the synthetic dataset of ``profile.synthetic_preset`` and ``seed``
    (generated on first use); otherwise the folder must hold DEAP or MAHNOB-HCI in its real layout.
    The segment store is built for the profile's subjects when missing (:func:`build_store`,
    keyed by every setting, so chapters with the same settings share one store).

    Parameters
    ----------
    fmt : {"auto", "deap", "mahnob"}
        The on-disk format of ``data_root`` (and of the synthetic data).  ``"auto"`` (default)
        recognises the folder's layout (:func:`detect_format`); synthetic data is then DEAP's.
    fps : float
        Face frames kept per second: 5 = Safavi et al. / DeepVANet (default, and the face
        pipeline's default, so the store is the one the face chapter built); GBV-Net uses 10 on
        DEAP and 12 on MAHNOB-HCI.
    modalities : sequence of {"face", "bio"}
        What the store holds and the dataset serves.
    model : str or None
        Face frames at this model's rate in the profile (``profile.model_fps``, e.g. GBV-Net at
        10 fps on DEAP in the full profile) instead of ``fps``, when the profile names one —
        for a chapter that feeds one model's own segments to it (chapter 07).
    store_root : path or None
        Parent of stores; default :func:`emolab.cache_dir` ``("store")``.
    **knobs
        Synthetic data only: knobs of :class:`~emolab.data.synthetic.SyntheticConfig` changed on
        top of the profile's (``fingerprint=0`` switches the trial signature off).

    Returns
    -------
    SegmentDataset or TrialHeads
        The profile's subjects — only those with face video when ``profile.face_subjects_only``
        (:func:`face_subjects`) — and the requested modalities (only the first
        ``profile.segments_per_trial`` segments of each trial when that is set).
    """
    from emolab.data.store import SegmentDataset, build_store
    from emolab.preprocess.face import FaceConfig
    from emolab.preprocess.physio import PhysioConfig

    profile = get_profile(profile)
    if fmt == "auto":
        fmt = "deap" if data_root is None else detect_format(data_root)
    if fmt not in ("deap", "mahnob"):
        raise ValueError(f"fmt must be 'auto', 'deap' or 'mahnob', got {fmt!r}")
    if model is not None:
        fps = profile.model_fps.get(model, {}).get(fmt, fps)
    if profile.face_subjects_only and "face" not in modalities:
        raise ValueError(f"profile {profile.name!r} keeps only the subjects with face video, which a store "
                         "without the face modality cannot tell; add 'face' to modalities or use "
                         "get_profile(..., face_subjects_only=False)")
    if knobs and data_root is not None:
        raise ValueError(f"synthetic knobs {sorted(knobs)} apply only to synthetic data (data_root=None)")
    with use_log_level(verbose):
        if data_root is None:
            from emolab.data.synthetic import ensure_synthetic

            root = ensure_synthetic(fmt=fmt, preset=profile.synthetic_preset, seed=seed, verbose=verbose,
                                    n_jobs=profile.build_workers(), **{**profile.synthetic_knobs, **knobs})  # fmt: skip
        else:
            root = Path(data_root).expanduser()
            if not root.is_dir():
                raise FileNotFoundError(f"data folder {root} does not exist; pass the folder holding "
                                        f"the {fmt.upper()} files, or data_root=None for synthetic data")
        face = FaceConfig(fps=float(fps), size=int(profile.face_size)) if "face" in modalities else None
        store = build_store(root, dataset=fmt, subjects=None if profile.subjects is None else list(profile.subjects),
                            physio=PhysioConfig(normalize=profile.normalize,
                                                eog_regression=profile.eog_regression),
                            face=face, modalities=tuple(modalities), store_root=store_root,
                            n_jobs=profile.build_workers(), progress=True, verbose=verbose)  # fmt: skip
        subjects = store.subjects if profile.subjects is None else list(profile.subjects)
        dataset = open_segments(str(store.path), subjects=subjects, modalities=tuple(modalities),
                                segments_per_trial=profile.segments_per_trial)
        if profile.face_subjects_only:
            with_face = face_subjects(dataset)
            if not with_face:
                raise ValueError(f"no subject of {root} has a detected face in any segment; check the "
                                 "face videos (emolab data verify) or use face_subjects_only=False")
            if with_face != list(dataset.subjects):
                logger.info("%d of %d subjects have face video; using those (face_subjects_only)",
                            len(with_face), len(dataset.subjects))
                dataset = open_segments(str(store.path), subjects=with_face, modalities=tuple(modalities),
                                        segments_per_trial=profile.segments_per_trial)
        return dataset


def detect_format(data_root: str | os.PathLike) -> str:
    """``"deap"`` or ``"mahnob"`` from a data folder's layout (``data_manifest.yaml``).

    DEAP's folder holds ``data_preprocessed_python/``, MAHNOB-HCI's ``Sessions/``.  Raises
    ``FileNotFoundError`` naming what was looked for when the folder holds neither (or both).
    """
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist; pass the folder holding the DEAP or "
                                "MAHNOB-HCI files, or data_root=None for synthetic data")
    found = [fmt for fmt, sub in (("deap", "data_preprocessed_python"), ("mahnob", "Sessions"))
             if (root / sub).is_dir()]  # fmt: skip
    if len(found) != 1:
        what = "neither" if not found else "both"
        raise FileNotFoundError(f"{root} holds {what} of data_preprocessed_python/ (DEAP) and Sessions/ "
                                "(MAHNOB-HCI); pass the dataset's own folder, or fmt='deap'/'mahnob'")
    return found[0]


def read_first_subjects(root: str | os.PathLike, *, fmt: str = "auto", max_subjects: int = 4,
                        verbose: bool | str | None = False) -> tuple[list[int], list]:
    """The records of the first ``max_subjects`` subjects of a DEAP or MAHNOB-HCI folder.

    Returns ``(subjects, records)``: :func:`~emolab.data.read_deap` of the first subjects for
    DEAP; for MAHNOB-HCI, :func:`~emolab.data.read_mahnob` session by session until a session
    of one subject more appears (chapter 02 reads its figures' trials with it).
    """
    from emolab.data import read_deap, read_mahnob
    from emolab.data.deap import list_deap_subjects

    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt == "deap":
        subjects = list_deap_subjects(root)[:max_subjects]
        return subjects, list(read_deap(root, subjects=subjects, verbose=verbose))
    if fmt != "mahnob":
        raise ValueError(f"fmt must be 'auto', 'deap' or 'mahnob', got {fmt!r}")
    subjects, records = [], []
    for rec in read_mahnob(root, verbose=verbose):
        if rec.subject not in subjects:
            if len(subjects) == max_subjects:
                break
            subjects.append(rec.subject)
        records.append(rec)
    return subjects, records


def face_subjects(dataset) -> list[int]:
    """The subjects of ``dataset`` with a detected face in at least one segment, in its order.

    DEAP has face video for participants 1-22 only; MAHNOB-HCI sessions may lack theirs.  A
    dataset opened without the face modality has no face anywhere (``has_face`` all False).
    """
    meta = dataset.metadata
    with_face = set(meta.loc[meta["has_face"].to_numpy(bool), "subject"].astype(int))
    return [int(s) for s in dataset.subjects if int(s) in with_face]


def segments_at_fps(dataset, fps: float, *, verbose: bool | str | None = None):
    """The same segments as ``dataset`` with face crops at another frame rate.

    Builds (once; it is cached like every store) the store with ``dataset``'s reader,
    physiological and face settings except ``fps``, beside ``dataset``'s own store, and opens it
    with the same subjects, modalities and ``segments_per_trial``.  Returns ``dataset`` itself
    when its face crops are already at ``fps`` or it has no face modality.
    """
    from emolab.data.store import build_store
    from emolab.preprocess.face import FaceConfig
    from emolab.preprocess.physio import PhysioConfig

    cfg = dataset.store.config
    if cfg.get("face") is None or abs(float(cfg["face"]["fps"]) - float(fps)) < 1e-9:
        return dataset
    face = FaceConfig(**{**cfg["face"], "fps": float(fps)})
    store = build_store(cfg["reader"]["root"], dataset=cfg["reader"]["dataset"], subjects=list(dataset.subjects),
                        physio=PhysioConfig(**cfg["physio"]), face=face, modalities=tuple(cfg["modalities"]),
                        store_root=Path(dataset.store.path).parent, progress=True, verbose=verbose)  # fmt: skip
    return open_segments(str(store.path), subjects=list(dataset.subjects), modalities=tuple(dataset.modalities),
                         segments_per_trial=getattr(dataset, "segments_per_trial", None))  # fmt: skip


class TrialHeads(torch.utils.data.Dataset):
    """The first ``segments_per_trial`` segments of every trial of a SegmentDataset.

    Behaves like the dataset it wraps (items, ``metadata`` with one row per kept item, ``store``,
    ``subjects``, ``modalities``); ``indices`` are the kept positions in the wrapped dataset.
    """

    def __init__(self, dataset, segments_per_trial: int) -> None:
        meta = dataset.metadata.reset_index(drop=True)
        # rank of each segment inside its trial, 0-based, by segment number
        order = meta.groupby(["subject", "trial"])["segment"].rank(method="first").to_numpy() - 1
        self.dataset = dataset
        self.segments_per_trial = int(segments_per_trial)
        self.indices = np.flatnonzero(order < self.segments_per_trial)
        self.metadata: pd.DataFrame = meta.iloc[self.indices].reset_index(drop=True)
        self.store, self.subjects, self.modalities = dataset.store, dataset.subjects, dataset.modalities

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        return self.dataset[int(self.indices[i])]

    def arrays(self, indices: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """:meth:`SegmentDataset.arrays <emolab.data.store.SegmentDataset.arrays>` of kept items."""
        keep = self.indices if indices is None else self.indices[np.asarray(indices, dtype=np.int64)]
        return self.dataset.arrays(keep)


def open_segments(store: str, subjects: Sequence[int] | None = None,
                  modalities: Sequence[str] = ("face", "bio"), segments_per_trial: int | None = None):
    """Open a built store as a dataset (also the data factory the sweep's workers call).

    Returns a :class:`~emolab.data.store.SegmentDataset`, or :class:`TrialHeads` of it when
    ``segments_per_trial`` is given.
    """
    from emolab.data.store import SegmentDataset

    ds = SegmentDataset(store, subjects=None if subjects is None else list(subjects), modalities=tuple(modalities))
    return ds if segments_per_trial is None else TrialHeads(ds, segments_per_trial)


def segment_shapes(dataset) -> dict[str, int]:
    """``n_chans``, ``n_times``, ``n_frames`` and ``image_size`` of a SegmentDataset — the model's
    input sizes."""
    store = dataset.store
    bio = store.bio(dataset.subjects[0])
    shape = store.face_shape()
    return {"n_chans": int(bio.shape[1]), "n_times": int(bio.shape[2]),
            "n_frames": int(shape[0]) if shape is not None else 5,
            "image_size": int(shape[1]) if shape is not None else 64}


def default_results_path(profile: str | ExperimentProfile = "smoke") -> Path:
    """``cache_dir("results", <profile name>) / "results.csv"`` — shared by every chapter."""
    return cache_dir("results", get_profile(profile).name) / "results.csv"


# ------------------------------------------------------------------------------------- the grid
def grid_cells(
    dataset,
    *,
    models: Sequence[str],
    modalities: Sequence[Sequence[str]],
    tasks: Sequence[str] = ("valence", "arousal"),
    protocols: Sequence[str] = ("paper-segment-kfold", "trial-kfold"),
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    device: str = "auto",
    model_kwargs: dict | None = None,
    train: dict | None = None,
) -> list:
    """The :class:`~emolab.train.sweep.Cell` list of a grid, without running it.

    Each modality set opens the store with only the modalities it needs (a bio-only cell never
    decodes face crops), and the cells with faces only the subjects that have faces
    (:func:`face_subjects`).  The training settings are the profile's, then ``train`` overrides
    (fields of :class:`~emolab.train.config.TrainConfig`); ``model_kwargs`` go to
    :func:`emolab.models.build_model` after the input sizes read from the store.  The profile's
    per-model settings apply here: ``model_fps`` (another store for that model's face cells,
    :func:`segments_at_fps`), ``augment_models`` and ``paper_protocols``.
    """
    from emolab.train.config import AugmentConfig, TrainConfig

    profile = get_profile(profile)
    fmt = dataset.store.config["reader"]["dataset"]
    base_train = TrainConfig(lr=profile.lr, batch_size=profile.batch_size, epochs=profile.epochs,
                             patience=profile.patience, val_fraction=profile.val_fraction, seed=seed,
                             device=device, progress=False,
                             checkpoint_interval_s=profile.checkpoint_interval_s,
                             keep=profile.keep).to_dict()  # fmt: skip
    # models sharing the same settings keep one make_cells call (and the cell order of before)
    groups: dict[tuple, list[str]] = {}
    for model in models:
        fps = profile.model_fps.get(model, {}).get(fmt)
        proto = tuple(profile.paper_protocols.get(model, p) if p == "paper-segment-kfold" else p
                      for p in protocols)  # fmt: skip
        fused = json.dumps(profile.fused_kwargs(model), sort_keys=True)
        groups.setdefault((fps, model in profile.augment_models, proto, fused), []).append(model)
    # a protocol's own epoch budget (profile.protocol_epochs), unless `train` sets the epochs
    protocol_epochs = {} if "epochs" in (train or {}) else dict(profile.protocol_epochs)
    cells = []
    for (fps, augment, protos, _), group in groups.items():
        data_set = dataset if fps is None else segments_at_fps(dataset, fps)
        train_d = dict(base_train)
        if augment:
            train_d["augment"] = dataclasses.asdict(AugmentConfig.all_on())
        train_d.update(train or {})
        fused_d = _fused_train(train_d, profile.fused_train, train)
        cells += _modality_cells(data_set, group, modalities, tasks, list(protos), profile, seed, train_d,
                                 model_kwargs, protocol_epochs, fused_train=fused_d)  # fmt: skip
    return cells


def _modality_cells(dataset, models, modalities, tasks, protocols, profile, seed, train, model_kwargs,
                    protocol_epochs=None, *, fused_train: dict) -> list:  # fmt: skip
    from emolab.train.protocols import get_protocol
    from emolab.train.sweep import make_cells

    def protocol_train(protocol: str, base: dict) -> dict:
        epochs = (protocol_epochs or {}).get(get_protocol(protocol).name)
        return base if epochs is None else {**base, "epochs": epochs}

    store_path = str(Path(dataset.store.path).resolve())
    mk = {**segment_shapes(dataset), **(model_kwargs or {})}
    cells = []
    for mods in modalities:
        mods = tuple(mods)
        missing = set(mods) - set(dataset.modalities)
        if missing:
            raise ValueError(f"the dataset serves {dataset.modalities}, not {sorted(missing)}; "
                             "call prepare_segments(..., modalities=...) with them")  # fmt: skip
        subjects = [int(s) for s in dataset.subjects]
        meta = dataset.metadata
        if "face" in mods:
            with_face = face_subjects(dataset)
            if with_face != subjects:
                logger.info("%s cells: the %d of %d subjects with face video", "+".join(mods), len(with_face),
                            len(subjects))  # fmt: skip
                subjects, meta = with_face, meta[meta["subject"].isin(with_face)]
        elif not profile.face_subjects_only and "face" in dataset.modalities:
            n_face = len(face_subjects(dataset))
            if n_face != len(subjects):
                logger.warning("%s cells use all %d subjects, the cells with faces only the %d with face "
                               "video: their numbers are not on the same subjects", "+".join(mods),
                               len(subjects), n_face)  # fmt: skip
        data = {"factory": "emolab.experiments:open_segments",
                "kwargs": {"store": store_path, "subjects": subjects, "modalities": list(mods),
                           "segments_per_trial": getattr(dataset, "segments_per_trial", None)}}  # fmt: skip
        fused = profile.fused_kwargs(models[0]) if len(mods) > 1 else {}  # one setting per group
        mods_train = fused_train if len(mods) > 1 else train
        for protocol in protocols:
            cells += make_cells(meta.reset_index(drop=True), models=list(models), modalities=[mods],
                                tasks=list(tasks), protocols=[protocol], n_splits=profile.n_splits,
                                split_seed=seed, max_folds=profile.max_folds,
                                train=protocol_train(protocol, mods_train),
                                model_kwargs={**fused, **mk}, data=data)  # fmt: skip
    return cells


def run_grid(
    dataset,
    *,
    models: Sequence[str],
    modalities: Sequence[Sequence[str]],
    tasks: Sequence[str] = ("valence", "arousal"),
    protocols: Sequence[str] = ("paper-segment-kfold", "trial-kfold"),
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    device: str = "auto",
    results_path: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    model_kwargs: dict | None = None,
    train: dict | None = None,
    progress: bool | None = None,
    verbose: bool | str | None = None,
) -> pd.DataFrame:
    """Train and test every cell of the grid not yet in the results table; return the grid's rows.

    Parameters
    ----------
    dataset : SegmentDataset
        From :func:`prepare_segments`.
    models : sequence of {"safavi", "gbvnet"}
    modalities : sequence of modality tuples, e.g. ``[("bio",), ("face",), ("face", "bio")]``
    tasks, protocols : sequences
        See :data:`emolab.train.protocols.PROTOCOLS`.
    profile : str or ExperimentProfile
        Folds, epochs, batch size, learning rate.
    results_path : path or None
        The results CSV (default :func:`default_results_path` of the profile).  Cells already in
        it are skipped, so re-running a chapter — or running the next chapter that needs the same
        cells — trains nothing twice.
    n_jobs : int or None
        Worker processes (default ``profile.n_jobs``).

    Returns
    -------
    DataFrame
        The rows of this grid's cells (:data:`emolab.train.results.RESULT_COLUMNS`), old and new.
    """
    from emolab.train.sweep import run_sweep

    profile = get_profile(profile)
    path = Path(results_path) if results_path is not None else default_results_path(profile)
    cells = grid_cells(dataset, models=models, modalities=modalities, tasks=tasks, protocols=protocols,
                       profile=profile, seed=seed, device=device, model_kwargs=model_kwargs, train=train)  # fmt: skip
    with use_log_level(verbose):
        logger.info("grid: %d cells (%s profile) -> %s", len(cells), profile.name, path)
        with torch_threads(profile.torch_threads):
            run_sweep(cells, path, n_jobs=profile.n_jobs if n_jobs is None else n_jobs, progress=progress,
                      verbose=verbose)  # fmt: skip
    return load_grid_results(path, cells=cells)


def load_grid_results(
    results_path: str | os.PathLike | None = None,
    *,
    cells: Sequence | None = None,
    profile: str | ExperimentProfile = "smoke",
    **equal: Any,
) -> pd.DataFrame:
    """Rows of a results table, optionally only those of ``cells`` and with columns equal to values.

    ``load_grid_results(profile="smoke", model="safavi", protocol="trial-kfold")`` reads the
    profile's shared table and keeps the matching rows.  Raises ``FileNotFoundError`` (naming the
    file and how to produce it) when the table does not exist, ``KeyError`` for unknown columns.
    """
    from emolab.train.results import load_results

    path = Path(results_path) if results_path is not None else default_results_path(profile)
    df = load_results(path)
    if cells is not None:
        ids = {c if isinstance(c, str) else c.cell_id for c in cells}
        df = df[df["cell_id"].isin(ids)]
        missing = ids - set(df["cell_id"])
        if missing:
            raise KeyError(f"{len(missing)} cells of the grid are not in {path} (first: {sorted(missing)[0]}); "
                           "run the grid (run_grid) to compute them")  # fmt: skip
    for col, val in equal.items():
        if col not in df.columns:
            raise KeyError(f"the results table has no column {col!r}")
        df = df[df[col].isin(val if isinstance(val, (list, tuple, set)) else [val])]
    return df.reset_index(drop=True)


def summarize(
    results: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "modalities", "task", "protocol"),
    metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "majority_baseline"),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean and confidence interval over subjects (every subject weighs the same) per group.

    Each subject's folds are pooled first (accuracy over all its test segments, the majority
    baseline of those same segments: :func:`emolab.train.metrics.pool_folds`), so the baseline of
    every group is that of the protocol's own test segments.  The interval is a percentile
    bootstrap over subjects (:func:`emolab.train.metrics.bootstrap_ci`), which never leaves
    [0, 1].  Adds ``leaky`` (the protocol shares trials between train and test), ``n_folds``
    (rows per subject, to show when a run used fewer folds than the protocol has) and
    ``above_baseline`` (accuracy minus the majority-class baseline).  With a single subject the
    interval is taken over folds instead (``unit`` column says which).  ``pooled-segment-kfold``
    groups are averaged over their folds, as GBV-Net's Eq. 7 does
    (:func:`~emolab.train.metrics.aggregate_folds`; ``unit`` is ``"fold"`` there).
    """
    from emolab.train.metrics import aggregate, aggregate_folds

    if results.empty:
        raise ValueError("no results to summarise")
    by = list(by)
    pooled = (results["protocol"] == "pooled-segment-kfold") if "protocol" in by else np.zeros(len(results), bool)
    parts = []
    if (~pooled).any():
        rest = results[~pooled]
        unit = "subject" if rest["subject"].nunique() > 1 else "fold"
        parts.append(aggregate(rest, by=by, unit=unit, metrics=list(metrics), confidence=confidence)
                     .assign(unit=unit))  # fmt: skip
    if pooled.any():
        folds = aggregate_folds(results[pooled], by=by, metrics=list(metrics), confidence=confidence)
        subjects = results[pooled].groupby(by, dropna=False)["subject"].nunique().rename("n_subjects")
        folds = folds.drop(columns="n_folds").merge(subjects.reset_index(), on=by, how="left")
        parts.append(folds.assign(unit="fold"))  # n_folds is added below, as for every group
    out = pd.concat(parts, ignore_index=True).sort_values(by, ignore_index=True)
    if "protocol" in by:
        leaky = results.groupby("protocol")["leaky"].first()
        out.insert(by.index("protocol") + 1, "leaky", out["protocol"].map(leaky).astype(bool))
    folds = results.groupby(by, dropna=False).size() / results.groupby(by, dropna=False)["subject"].nunique()
    if pooled.any():  # a pooled fold has one row per test subject: count its folds instead
        n_pooled = results[pooled].groupby(by, dropna=False)["fold"].nunique()
        folds = n_pooled.combine_first(folds)
    out = out.merge(folds.rename("n_folds").reset_index(), on=by, how="left")
    if "accuracy" in metrics and "majority_baseline" in metrics:
        out["above_baseline"] = out["accuracy"] - out["majority_baseline"]
    return out


def accuracy_table(summary: pd.DataFrame, *, metric: str = "accuracy", columns: str = "protocol",
                   index: Sequence[str] = ("model", "modalities", "task"), digits: int = 3) -> pd.DataFrame:
    """A readable pivot of :func:`summarize`: ``"mean [low, high]"`` per cell, leaky columns marked.

    Column names get ``" (leaky)"`` when their protocol shares trials between train and test.
    After them, one ``"majority (<column>)"`` column per column value gives the majority-class
    baseline of exactly the segments that column's protocol tested.
    """
    def fmt(r) -> str:
        lo, hi = r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]
        ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
        return f"{r[metric]:.{digits}f}{ci}"

    df = summary.copy()
    df["_cell"] = df.apply(fmt, axis=1)
    plain = df[columns].astype(str)
    if "leaky" in df.columns and columns == "protocol":
        df[columns] = [f"{p} (leaky)" if lk else p for p, lk in zip(df[columns], df["leaky"])]
    out = df.pivot_table(index=list(index), columns=columns, values="_cell", aggfunc="first")
    if "majority_baseline" in df.columns:
        df["_base"] = [f"{v:.{digits}f}" for v in df["majority_baseline"]]
        df["_col"] = [f"majority ({p})" for p in plain]
        base = df.pivot_table(index=list(index), columns="_col", values="_base", aggfunc="first")
        out = out.join(base)
    out.columns.name = None
    return out


def verdicts(summary: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """One row per group of :func:`summarize` saying what its numbers support, in words.

    Columns: the group keys, ``accuracy``, its interval, ``majority_baseline``, ``margin``
    (accuracy minus baseline), ``clears`` (the interval's lower end is above the baseline — the
    group beat guessing the most frequent label of its own test segments, for this set of
    subjects) and ``sentence``, which the chapters print instead of typing numbers in.
    """
    keys = [c for c in ("model", "modalities", "task", "protocol") if c in summary.columns]
    rows = []
    for _, r in summary.iterrows():
        lo, hi, base = r["accuracy_ci_low"], r["accuracy_ci_high"], r["majority_baseline"]
        clears = bool(np.isfinite(lo) and lo > base)
        below = bool(np.isfinite(hi) and hi < base)
        what = " ".join(str(r[k]) for k in keys)
        verdict = ("its interval lies above the baseline" if clears else
                   "its interval lies below the baseline: it does worse than always answering the "
                   "majority class" if below else "its interval includes the baseline: no evidence "
                   "that it learned more than the label balance")  # fmt: skip
        ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) else ""
        sentence = (f"{what}: accuracy {r['accuracy']:.{digits}f}{ci}, majority baseline {base:.{digits}f} "
                    f"({r['accuracy'] - base:+.{digits}f}); {verdict}.")  # fmt: skip
        rows.append({**{k: r[k] for k in keys}, "accuracy": r["accuracy"], "ci_low": lo, "ci_high": hi,
                     "majority_baseline": base, "margin": r["accuracy"] - base, "clears": clears,
                     "sentence": sentence})  # fmt: skip
    return pd.DataFrame(rows)


def protocol_gaps(summary: pd.DataFrame, *, leaky: str, honest: str = "trial-kfold",
                  index: Sequence[str] = ("model", "modalities", "task"),
                  profile: str | ExperimentProfile | None = None) -> pd.DataFrame:  # fmt: skip
    """The leak gap per group: accuracy under ``leaky`` minus under ``honest``.

    ``separated`` says whether the two intervals are disjoint with the leaky one above (a gap
    the intervals support); ``overlap`` whether they overlap (no gap can be claimed).  Only the
    groups that ran both protocols get a row.

    With a ``profile`` whose ``paper_protocols`` give a model a protocol of its own (the full
    profile: GBV-Net's pooled 10-fold), ``leaky="paper-segment-kfold"`` means, for that model,
    the protocol its grid ran in place of it (:func:`grid_cells`), so every model gets its gap
    under its own paper's protocol.
    """
    if profile is not None and leaky == "paper-segment-kfold" and "model" in summary:
        own = summary["model"].map(get_profile(profile).paper_protocols)
        if own.notna().any():
            mapped = own.eq(summary["protocol"])
            # a model that ran its own paper protocol: its per-subject segment k-fold rows, if any, give way
            replaced = summary["model"].isin(summary.loc[mapped, "model"]) & summary["protocol"].eq(leaky)
            summary = summary.assign(protocol=summary["protocol"].where(~mapped, leaky))[~replaced]
    idx = list(index)
    s = summary.set_index([*idx, "protocol"])
    a, b = s.xs(leaky, level="protocol"), s.xs(honest, level="protocol")
    a, b = a.align(b, join="inner", axis=0)  # the groups that ran both protocols
    out = pd.DataFrame({leaky: a["accuracy"], honest: b["accuracy"]})
    out["gap"] = out[leaky] - out[honest]
    out["separated"] = a["accuracy_ci_low"] > b["accuracy_ci_high"]
    out["overlap"] = ~((a["accuracy_ci_low"] > b["accuracy_ci_high"]) | (b["accuracy_ci_low"] > a["accuracy_ci_high"]))
    return out.reset_index()


def fusion_gains(results: pd.DataFrame, *, fused: str = "face+bio", confidence: float = 0.95,
                 index: Sequence[str] = ("model", "task", "protocol")) -> pd.DataFrame:
    """What fusion adds over the better single modality, per group, with an interval over subjects.

    For every subject: the fused model's pooled accuracy minus the best of the single-modality
    models' pooled accuracies (the best one chosen on the group mean, the same for every
    subject); then the mean over subjects and its percentile-bootstrap interval.  A pooled
    protocol (one row per fold, ``subject == -1``) pairs folds instead of subjects (``unit``).  Face-only
    models are scored on segments with a detected face only, fusion on all segments: on data
    where every segment has a face, the test sets are identical.  Where some have none (real
    videos), pass :func:`has_face_results` of the rows instead, so that every model is scored on
    the same segments.
    """
    from emolab.train.metrics import bootstrap_ci, pool_folds

    idx = list(index)
    rows = []
    for key, cells in results.groupby(idx):
        unit = "subject" if cells["subject"].nunique() > 1 else "fold"
        g = pool_folds(cells, [*idx, "modalities"], unit)
        wide = g.pivot_table(index=unit, columns="modalities", values="accuracy")
        singles = [m for m in wide.columns if m != fused]
        if fused not in wide.columns or not singles:
            continue
        best = wide[singles].mean().idxmax()
        diff = (wide[fused] - wide[best]).dropna()
        m, lo, hi = bootstrap_ci(diff, confidence=confidence)
        rows.append({**_group_columns(idx, key), "fused": wide[fused].mean(),
                     "best_single": best, "best_single_accuracy": wide[best].mean(), "gain": m,
                     "gain_ci_low": lo, "gain_ci_high": hi, "n_units": len(diff), "unit": unit})  # fmt: skip
    return pd.DataFrame(rows)


def _group_columns(index: Sequence[str], key: Any) -> dict[str, Any]:
    """``{column: value}`` of one ``groupby(index)`` key (a scalar when pandas gives one)."""
    return dict(zip(index, key if isinstance(key, tuple) else (key,)))


def fusion_branches(predictions: pd.DataFrame, *,
                    index: Sequence[str] = ("model", "task", "protocol")) -> pd.DataFrame:
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
    branches = [c for c in predictions.columns if c.startswith("logits_")]
    if not branches:
        raise ValueError("these predictions hold no branch logits (columns logits_face, logits_bio): only fused "
                         "models with auxiliary_heads=True (profile.fused_model_kwargs) keep them, and cells trained "
                         "before predictions kept each branch's answer lack them (delete their results table to retrain)")
    pred = predictions.dropna(subset=branches)
    if pred.empty:
        raise ValueError("no prediction row has branch logits; pass the predictions of fused cells")
    idx = list(index)
    sources = {"fused": "logits", **{c.removeprefix("logits_"): c for c in branches}}
    rows = []
    for key, g in pred.groupby(idx):
        y = g["y_true"].to_numpy() > 0
        fused_says = g["logits"].to_numpy() >= 0
        for source, col in sources.items():
            says = g[col].to_numpy() >= 0
            correct = pd.Series(says == y, index=g.index)
            rows.append({**_group_columns(idx, key), "source": source,
                         "accuracy": float(correct.groupby(g["subject"]).mean().mean()),
                         "mean_abs_logit": float(np.abs(g[col].to_numpy()).mean()),
                         "agreement": float(np.mean(says == fused_says)), "n_test": len(g)})  # fmt: skip
    return pd.DataFrame(rows)


def fusion_branch_verdicts(branches: pd.DataFrame, *, tolerance: float = 0.02,
                           index: Sequence[str] = ("model", "task", "protocol")) -> pd.DataFrame:
    """Read :func:`fusion_branches` in words: did the fused output keep up with its best branch,
    and if not, which branch did its head follow?

    One row per group: ``fused`` and ``best_branch_accuracy`` (accuracies), ``best_branch`` (the
    branch whose own classifier scored highest), ``followed`` (the branch whose answers the fused
    output shares most often) and its ``agreement``, ``keeps_up`` (fused at least the best branch
    minus ``tolerance``), ``follows_best`` and a ``sentence`` with the numbers.
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
        head = ", ".join(str(v) for v in _group_columns(idx, key).values())
        sentence = (f"{head}: fused {fused['accuracy']:.3f}; {alone}. The fused output gives the {followed} "
                    f"branch's answer on {parts.loc[followed, 'agreement']:.0%} of the test segments"
                    + "".join(f" (the {b} branch's on {parts.loc[b, 'agreement']:.0%})" for b in other)
                    + f"; mean |logit| on them: "
                    + ", ".join(f"{b} {parts.loc[b, 'mean_abs_logit']:.1f}" for b in parts.index) + ". ")  # fmt: skip
        if keeps_up:
            sentence += f"The fusion keeps up with its best branch ({best})."
        elif followed != best:
            louder = parts.loc[followed, "mean_abs_logit"] > parts.loc[best, "mean_abs_logit"]
            sentence += (f"The {best} encoder learned, but the fusion head follows the {followed} branch"
                         + (", the louder one on these new segments." if louder else
                            f", although the {best} branch is as loud or louder on these segments."))  # fmt: skip
        else:
            sentence += f"The head follows the {best} branch, and still falls {parts.loc[best, 'accuracy'] - fused['accuracy']:.3f} below it."
        rows.append({**_group_columns(idx, key), "fused": fused["accuracy"],
                     "best_branch": best, "best_branch_accuracy": parts.loc[best, "accuracy"],
                     "followed": followed, "agreement": parts.loc[followed, "agreement"], "keeps_up": keeps_up,
                     "follows_best": followed == best, "sentence": sentence})  # fmt: skip
    return pd.DataFrame(rows)


def has_face_results(results: pd.DataFrame, dataset, results_path: str | os.PathLike | None = None, *,
                     profile: str | ExperimentProfile = "smoke") -> pd.DataFrame:
    """``results`` scored again on the test segments with a detected face only.

    A face-only cell leaves out the segments without a face, a fusion or bio-only cell scores
    them too; so that "fusion minus its best half" compares the same test sets, every row is
    recomputed here from its cell's saved predictions (:func:`grid_predictions`) restricted to
    the segments whose ``has_face`` is True in ``dataset`` (a dataset with the face modality,
    from :func:`prepare_segments`).  Same columns as ``results`` (``accuracy``, ``n_test``,
    ``n_pos``, ``majority_baseline`` … recomputed), plus ``test_set = "has_face"``; a row whose
    test subject has no segment with a face is dropped.
    """
    from emolab.train.metrics import binary_metrics

    if "face" not in dataset.modalities:
        raise ValueError("has_face_results needs a dataset with the face modality (prepare_segments default)")
    keys = ["subject", "trial", "segment"]
    faces = dataset.metadata[[*keys, "has_face"]].rename(columns={"has_face": "_has_face"})
    pred = grid_predictions(results, results_path, profile=profile)
    pred = pred.drop(columns=["has_face"], errors="ignore").merge(faces, on=keys, how="left")
    if pred["_has_face"].isna().any():
        raise KeyError("some predictions are of segments the dataset does not hold; pass the dataset the "
                       "grid was run on")  # fmt: skip
    pred = pred[pred["_has_face"].astype(bool)]
    metrics = {(cid, int(subj)): binary_metrics(g["y_true"], g["y_score"])
               for (cid, subj), g in pred.groupby(["cell_id", "subject"])}  # fmt: skip
    rows = []
    for _, r in results.iterrows():
        m = metrics.get((r["cell_id"], int(r["subject"])))
        if m is None:
            continue
        rows.append({**r.to_dict(), **{k: m[k] for k in ("accuracy", "balanced_accuracy", "f1", "roc_auc",
                                                          "majority_baseline")},
                     "n_test": m["n"], "n_pos": m["n_pos"], "test_set": "has_face"})  # fmt: skip
    return pd.DataFrame(rows, columns=[*results.columns, "test_set"])


def synthetic_expectations(dataset) -> pd.DataFrame | None:
    """What the synthetic data's knobs predict for each modality and task, or ``None`` for real data.

    Reads the knobs the data folder of ``dataset``'s store was generated with
    (:func:`~emolab.data.synthetic.read_synthetic_config`): ``face_valence``, ``face_arousal``,
    ``physio_valence``, ``physio_arousal`` (how strongly each modality carries each dimension) and
    ``fingerprint`` (the trial signature that helps only leaky protocols).  One row per modality ×
    task with the knob's ``strength`` and its ``rank`` (1 = the modality carries this task best).
    """
    from emolab.data.synthetic import read_synthetic_config

    root = Path(dataset.store.config["reader"]["root"])
    try:
        knobs = read_synthetic_config(root)["config"]
    except FileNotFoundError:
        return None
    rows = [{"modalities": mod, "task": task, "knob": f"{prefix}_{task}", "strength": float(knobs[f"{prefix}_{task}"]),
             "fingerprint": float(knobs["fingerprint"])}
            for mod, prefix in (("bio", "physio"), ("face", "face")) for task in ("valence", "arousal")]  # fmt: skip
    out = pd.DataFrame(rows)
    out["rank"] = out.groupby("modalities")["strength"].rank(ascending=False, method="min").astype(int)
    return out


# ------------------------------------------------------------------------ per-cell outputs
def _cell_frames(results: pd.DataFrame, results_path, which: int) -> pd.DataFrame:
    from emolab.train.sweep import load_cell_outputs

    path = Path(results_path) if results_path is not None else None
    if path is None:
        raise ValueError("pass results_path (the table the rows were read from)")
    coords = ["cell_id", "model", "modalities", "task", "protocol", "leaky", "fold"]
    frames = []
    for cid, g in results.groupby("cell_id", sort=False):
        frame = load_cell_outputs(path, cid)[which].copy()
        for c in coords:
            frame[c] = g[c].iloc[0]
        if "subject" not in frame.columns:
            frame["subject"] = g["subject"].iloc[0]
        if which == 0:
            frame["best_epoch"] = g["best_epoch"].iloc[0]
            frame["subject"] = g["subject"].iloc[0]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def grid_histories(results: pd.DataFrame, results_path: str | os.PathLike | None = None, *,
                   profile: str | ExperimentProfile = "smoke") -> pd.DataFrame:
    """Per-epoch training histories of the cells in ``results``, with their grid coordinates.

    One row per cell × epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy`` … plus
    ``cell_id``, ``model``, ``modalities``, ``task``, ``protocol``, ``leaky``, ``subject``,
    ``fold`` and the cell's ``best_epoch`` (chosen on the validation split).
    """
    path = default_results_path(profile) if results_path is None else results_path
    return _cell_frames(results, path, 0)


def grid_predictions(results: pd.DataFrame, results_path: str | os.PathLike | None = None, *,
                     profile: str | ExperimentProfile = "smoke") -> pd.DataFrame:
    """Test-fold predictions of the cells in ``results``: ``y_true``, ``y_score``, ``subject``,
    ``trial``, ``segment`` … plus the grid coordinates (for confusion matrices)."""
    path = default_results_path(profile) if results_path is None else results_path
    return _cell_frames(results, path, 1)


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
    verbose: bool | str | None = None,
) -> pd.DataFrame:
    """Train folds for a fixed number of epochs, scoring validation *and* test after each one.

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
    config = TrainConfig(task=task, modalities=tuple(modalities), lr=profile.lr, batch_size=profile.batch_size,
                         epochs=epochs, patience=epochs, val_fraction=profile.val_fraction, seed=seed,
                         device=device, progress=False)  # fmt: skip
    fused = profile.fused_kwargs(model) if len(modalities) > 1 else {}
    if len(modalities) > 1:  # the fused cells' own training settings (profile.fused_train)
        config = TrainConfig.from_dict(_fused_train(config.to_dict(), profile.fused_train, None))
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


# ------------------------------------------------------------------- what the chapters claim
#: The grids chapters 05-07 run (and chapter 05's control without the fingerprint).
#: The protocol each paper evaluates with: Safavi et al. per subject over 1 s segments
#: :cite:`safavi_deep_multimodal`, GBV-Net over all subjects' pooled segments :cite:`yu2025gbvnet`.
PAPER_PROTOCOLS = {"safavi": "paper-segment-kfold", "gbvnet": "pooled-segment-kfold"}

CHAPTER_GRIDS = {
    "unimodal": dict(models=["safavi", "gbvnet"], modalities=[("bio",), ("face",)],
                     tasks=["valence", "arousal"], protocols=["paper-segment-kfold", "trial-kfold"]),
    "fusion": dict(models=["safavi", "gbvnet"], modalities=[("face", "bio")],
                   tasks=["valence", "arousal"], protocols=["trial-kfold"]),
    "control": [dict(models=["safavi", "gbvnet"], modalities=[(mod,)], tasks=[task],
                     protocols=["paper-segment-kfold", "trial-kfold"])
                for mod, task in (("face", "valence"), ("bio", "arousal"))],
    # chapter 08: each architecture under its paper's protocol and both leak-free ones
    "results": [dict(models=[model], modalities=[("bio",), ("face",), ("face", "bio")],
                     tasks=["valence", "arousal"], protocols=[PAPER_PROTOCOLS[model], "trial-kfold", "loso"])
                for model in ("safavi", "gbvnet")],
    # chapter 09: one deep model on bio-only stores of several fingerprint strengths
    "fingerprint": dict(models=["gbvnet"], modalities=[("bio",)], tasks=["arousal"],
                        protocols=["paper-segment-kfold", "trial-kfold", "loso"]),
}  # fmt: skip


def chapter_claims(
    *,
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    results_path: str | os.PathLike | None = None,
    margin: float = 0.10,
    fusion_tolerance: float = 0.02,
) -> pd.DataFrame:
    """Check, on results already computed by chapters 05-07, what their text claims.

    Reads the cells of :data:`CHAPTER_GRIDS` for the synthetic data of ``profile`` and ``seed``
    from the results table (``KeyError`` when a chapter has not run) and returns one row per
    claim with the measured value and ``holds``:

    * ``baseline``: under ``trial-kfold``, face-only valence and bio-only arousal beat their
      majority baseline by at least ``margin``, with the interval's lower end above it (each
      model);
    * ``leak``: the paper protocol scores above ``trial-kfold`` for every model x modalities x
      task;
    * ``control``: with the fingerprint off, the two protocols' intervals overlap;
    * ``fusion``: under ``trial-kfold`` fusion scores at least the better single modality minus
      ``fusion_tolerance`` (each model and task);
    * ``bounds``: every interval lies in [0, 1].
    """
    profile = get_profile(profile)
    path = default_results_path(profile) if results_path is None else results_path

    def load(dataset, grid):
        cells = grid_cells(dataset, profile=profile, seed=seed, **grid)
        return load_grid_results(path, cells=cells)

    data = prepare_segments(None, profile=profile, seed=seed, verbose="WARNING")
    control = prepare_segments(None, profile=profile, seed=seed, fingerprint=0.0, verbose="WARNING")
    uni = load(data, CHAPTER_GRIDS["unimodal"])
    fused = load(data, CHAPTER_GRIDS["fusion"])
    ctrl = pd.concat([load(control, g) for g in CHAPTER_GRIDS["control"]], ignore_index=True)
    rows = []
    s = summarize(uni)
    honest = s[s["protocol"] == "trial-kfold"].set_index(["model", "modalities", "task"])
    for model in CHAPTER_GRIDS["unimodal"]["models"]:
        for mod, task in (("face", "valence"), ("bio", "arousal")):
            r = honest.loc[(model, mod, task)]
            ok = r["accuracy"] - r["majority_baseline"] >= margin and r["accuracy_ci_low"] > r["majority_baseline"]
            rows.append({"claim": "baseline", "what": f"{model} {mod} {task} trial-kfold",
                         "measured": f"{r['accuracy']:.3f} [{r['accuracy_ci_low']:.3f}, {r['accuracy_ci_high']:.3f}]"
                                     f" vs majority {r['majority_baseline']:.3f}", "holds": bool(ok)})  # fmt: skip
    for _, g in protocol_gaps(s, leaky="paper-segment-kfold").iterrows():
        rows.append({"claim": "leak", "what": f"{g['model']} {g['modalities']} {g['task']}",
                     "measured": f"gap {g['gap']:+.3f}", "holds": bool(g["gap"] > 0)})  # fmt: skip
    for _, g in protocol_gaps(summarize(ctrl), leaky="paper-segment-kfold").iterrows():
        rows.append({"claim": "control", "what": f"{g['model']} {g['modalities']} {g['task']} fingerprint=0",
                     "measured": f"gap {g['gap']:+.3f}, intervals {'overlap' if g['overlap'] else 'apart'}",
                     "holds": bool(g["overlap"])})  # fmt: skip
    both = pd.concat([uni[uni["protocol"] == "trial-kfold"], fused], ignore_index=True)
    for _, g in fusion_gains(both).iterrows():
        rows.append({"claim": "fusion", "what": f"{g['model']} {g['task']} trial-kfold",
                     "measured": f"fusion {g['fused']:.3f} vs {g['best_single']} {g['best_single_accuracy']:.3f}",
                     "holds": bool(g["fused"] >= g["best_single_accuracy"] - fusion_tolerance)})  # fmt: skip
    every = pd.concat([summarize(uni), summarize(fused), summarize(ctrl)], ignore_index=True)
    inside = every["accuracy_ci_low"].ge(0).all() and every["accuracy_ci_high"].le(1).all()
    rows.append({"claim": "bounds", "what": f"{len(every)} intervals", "measured": "all in [0, 1]" if inside
                 else "some outside [0, 1]", "holds": bool(inside)})  # fmt: skip
    return pd.DataFrame(rows)


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
        ``paper_source``.
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


def audit_protocols(
    dataset,
    *,
    protocols: Sequence[str],
    task: str = "valence",
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`emolab.train.audit` of the evaluations a grid of this profile runs, per protocol.

    The folds are those :func:`run_grid` trains (same metadata, ``n_splits`` and seed).  What
    the pipeline fitted comes from the profile: ``normalize="baseline_std"`` uses each trial's
    own baseline (``"per-trial"``), ``None`` fits nothing; ``keep="last"`` selects no epoch,
    ``keep="best"`` selects on a validation split carved from the training fold; the labels use
    the fixed rating threshold of :func:`~emolab.train.protocols.make_labels`.

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
        fit = "per-trial" if profile.normalize == "baseline_std" else "none"
        selection = "none" if profile.keep == "last" else [f.train_idx for f in folds]
        frames.append(audit(folds, meta, fit_rows=fit, selection_rows=selection, threshold_rows="fixed")
                      .assign(protocol=protocol))  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    return out[["protocol", *[c for c in out.columns if c != "protocol"]]]


# ------------------------------------------------------------- chapter 09: the fingerprint, swept
@contextlib.contextmanager
def _without_video_warnings():
    """Drop the reader's "no face video folder" records (bio-only synthetic data has none by design)."""
    import logging

    class _NoVideo(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "no face video folder" not in record.getMessage()

    f = _NoVideo()
    logger.addFilter(f)
    try:
        yield
    finally:
        logger.removeFilter(f)


def fingerprint_sweep(
    *,
    fingerprints: Sequence[float] = (0.0, 0.5, 1.0, 2.0),
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    device: str = "auto",
    results_path: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    train: bool = True,
    with_video: bool = False,
    verbose: bool | str | None = "ERROR",
    **knobs: Any,
) -> pd.DataFrame:
    """:data:`CHAPTER_GRIDS` ``["fingerprint"]`` on synthetic data of each fingerprint strength.

    Each strength gets its own synthetic dataset: the profile's preset, ``seed`` and any other
    ``knobs`` of :class:`~emolab.data.synthetic.SyntheticConfig` (e.g. ``label_noise=0``).  By
    default it is bio-only (``face_subjects=0``: no video is rendered, so a store takes seconds,
    and the reader's warning about the missing video folders is dropped).  With
    ``with_video=True`` it is the dataset with face video that chapters 05-08 use (their store at
    the default strength, chapter 05's control at ``fingerprint=0``), opened bio-only: the grid's
    cells are then the very cells those chapters trained, and are read from the results table
    instead of trained again.  With ``train=False`` the cells are only read from the results
    table (``KeyError`` naming the first missing one).

    Returns
    -------
    DataFrame
        The grid's rows of every strength, with a ``fingerprint`` column.
    """
    profile = get_profile(profile)
    path = Path(results_path) if results_path is not None else default_results_path(profile)
    grid = CHAPTER_GRIDS["fingerprint"]
    frames = []
    for fp in fingerprints:
        if with_video:
            data = prepare_segments(None, profile=profile, seed=seed, verbose=verbose, fingerprint=float(fp), **knobs)
        else:
            with _without_video_warnings():
                data = prepare_segments(None, profile=profile, seed=seed, modalities=("bio",), verbose=verbose,
                                        fingerprint=float(fp), face_subjects=0, **knobs)  # fmt: skip
        if train:
            rows = run_grid(data, **grid, profile=profile, seed=seed, device=device, results_path=path,
                            n_jobs=n_jobs, verbose=verbose)  # fmt: skip
        else:
            cells = grid_cells(data, **grid, profile=profile, seed=seed, device=device)
            rows = load_grid_results(path, cells=cells)
        frames.append(rows.assign(fingerprint=float(fp)))
    return pd.concat(frames, ignore_index=True)

