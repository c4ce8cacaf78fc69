"""The synthetic trial fingerprint, swept (chapter 09): one deep model's leak gap per strength."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emolab._logging import logger
from emolab.experiments.grids import grid
from emolab.experiments.profiles import (
    ExperimentProfile,
    default_results_path,
    get_profile,
)
from emolab.experiments.results import load_grid_results
from emolab.experiments.runner import grid_cells, run_grid
from emolab.experiments.segments import prepare_segments


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
    fingerprints: Sequence[float] | None = None,
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
    """The registry's ``"fingerprint"`` grid (:func:`emolab.experiments.grid`) on synthetic data of
    each fingerprint strength (``None``: the grid's own strengths, those chapter 09 shows).

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
    spec = grid("fingerprint")
    if fingerprints is None:
        fingerprints = [float(s["fingerprint"]) for s in spec.synthetic]
    frames = []
    for fp in fingerprints:
        if with_video:
            data = prepare_segments(None, profile=profile, seed=seed, verbose=verbose, fingerprint=float(fp), **knobs)
        else:
            with _without_video_warnings():
                data = prepare_segments(None, profile=profile, seed=seed, modalities=("bio",), verbose=verbose,
                                        fingerprint=float(fp), face_subjects=0, **knobs)  # fmt: skip
        if train:
            rows = run_grid(data, **spec.kwargs(), profile=profile, seed=seed, device=device, results_path=path,
                            n_jobs=n_jobs, verbose=verbose)  # fmt: skip
        else:
            cells = grid_cells(data, **spec.kwargs(), profile=profile, seed=seed, device=device)
            rows = load_grid_results(path, cells=cells)
        frames.append(rows.assign(fingerprint=float(fp)))
    return pd.concat(frames, ignore_index=True)

