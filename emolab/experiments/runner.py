"""Running a grid of model x modalities x task x protocol cells, resumably, into a results table."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from emolab._logging import logger, use_log_level
from emolab.experiments.grids import resolve_protocols
from emolab.experiments.profiles import (
    ExperimentProfile,
    default_results_path,
    fused_train_settings,
    get_profile,
    torch_threads,
)
from emolab.experiments.results import load_grid_results
from emolab.experiments.segments import segments_at_fps
from emolab.store.dataset import face_subjects, segment_shapes


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
    :func:`segments_at_fps`), ``augment_models``; ``"paper"``
    among ``protocols`` is each model's paper protocol (:func:`~emolab.experiments.paper_protocol`).
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
        proto = resolve_protocols(model, protocols)
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
        fused_d = fused_train_settings(train_d, profile.fused_train, train)
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
        data = {"factory": "emolab.store:open_segments",
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


