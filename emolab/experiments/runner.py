"""Running a grid of model x modalities x task x protocol cells, resumably, into a results table."""

from __future__ import annotations

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
    :func:`segments_at_fps`), ``augment_models`` and the architecture's recipe ``model_train``
    (the same for every modality set and protocol); ``"paper"``
    among ``protocols`` is each model's paper protocol (:func:`~emolab.experiments.paper_protocol`).
    """
    profile = get_profile(profile)
    fmt = dataset.store.config["reader"]["dataset"]
    # models sharing the same settings keep one make_cells call (and the cell order of before)
    groups: dict[tuple, list[str]] = {}
    for model in models:
        fps = profile.model_fps.get(model, {}).get(fmt)
        proto = resolve_protocols(model, protocols)
        recipe = json.dumps(profile.train_settings(model, seed=seed, device=device, given=train), sort_keys=True)
        groups.setdefault((fps, recipe, proto), []).append(model)
    cells = []
    for (fps, _, protos), group in groups.items():
        at_fps = dataset if fps is None else segments_at_fps(dataset, fps, n_jobs=profile.build_workers())
        cells += _modality_cells(at_fps, models=group,
                                 modalities=modalities, tasks=tasks, protocols=protos, profile=profile,
                                 seed=seed, device=device, model_kwargs=model_kwargs, train=train)  # fmt: skip
    return cells


def _modality_cells(dataset, *, models: Sequence[str], modalities: Sequence[Sequence[str]], tasks: Sequence[str],
                    protocols: Sequence[str], profile: ExperimentProfile, seed: int, device: str,
                    model_kwargs: dict | None, train: dict | None) -> list:  # fmt: skip
    """The cells of one group of models that share their settings (:func:`grid_cells`)."""
    from emolab.train.sweep import make_cells

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
        for protocol in protocols:
            settings = profile.train_settings(models[0], fused=len(mods) > 1, protocol=protocol, seed=seed,
                                              device=device, given=train)  # one recipe per group of models
            cells += make_cells(meta.reset_index(drop=True), models=list(models), modalities=[mods],
                                tasks=list(tasks), protocols=[protocol], n_splits=profile.n_splits,
                                split_seed=seed, max_folds=profile.max_folds, train=settings,
                                model_kwargs=mk, data=data)  # fmt: skip
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


