"""Grids for a headless sweep (``emolab sweep``): a chapter's grid or a small YAML file, as cells.

A *grid* is a dict with the arguments of :func:`emolab.experiments.grid_cells` that say what to
train — ``models``, ``modalities``, ``tasks``, ``protocols`` — and optionally ``synthetic``:
knobs of the synthetic data (``{"fingerprint": 0.0}`` for chapter 05's control).  The run
parameters — ``profile``, ``data_root``, ``seed``, ``device`` — are the notebooks' parameters of
the same names: the same values give the same cells, so a chapter run afterwards with them finds
its cells in the results table and only reads them.

A grid file holds one grid, or several under ``grids:``::

    # grid.yaml
    grids:
      - models: [safavi, gbvnet]
        modalities: [[face, bio]]
        tasks: [valence, arousal]
        protocols: [trial-kfold]
      - models: [gbvnet]
        modalities: [[face, bio]]
        tasks: [valence, arousal]
        protocols: [pooled-segment-kfold]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from emolab._logging import logger

#: Keys of a grid, and which of them must be given.
GRID_KEYS = ("models", "modalities", "tasks", "protocols", "synthetic", "preprocessing", "model_kwargs", "train")
REQUIRED_GRID_KEYS = ("models", "modalities")
#: The run parameters (as in the chapters' ``parameters`` cells) and their defaults.
RUN_PARAMETERS = {"profile": "smoke", "data_root": None, "seed": 0, "device": "auto"}


def chapter_grids(chapter: str) -> list[dict[str, Any]]:
    """The registry's grids (:data:`emolab.experiments.GRIDS`) of one name, or ``"all"``, as
    grid dicts: one per grid and synthetic dataset (a grid whose ``synthetic`` lists two knob
    sets, such as chapter 09's fingerprint strengths, gives two dicts).

    The grids that set synthetic knobs (chapter 05's control, chapter 09's signature sources)
    run on the synthetic data only: :func:`sweep_cells` skips them, with a log line, when the
    run names a real data folder.
    """
    from emolab.experiments import grids

    out = []
    for g in grids(chapter):
        for knobs in g.synthetic:
            grid = {**g.kwargs(), "synthetic": dict(knobs)} if knobs else g.kwargs()
            if g.preprocessing:
                grid["preprocessing"] = dict(g.preprocessing)
            out.append(check_grid(grid, g.name))
    return out


def check_grid(grid: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``grid`` with its modality sets as tuples; ``ValueError`` naming ``where`` when malformed."""
    if not isinstance(grid, Mapping):
        raise ValueError(f"{where}: a grid is a mapping with keys {list(GRID_KEYS)}, got {grid!r}")
    unknown = set(grid) - set(GRID_KEYS)
    missing = [k for k in REQUIRED_GRID_KEYS if k not in grid]
    if unknown or missing:
        raise ValueError(f"{where}: grid keys {sorted(unknown)} unknown, {missing} missing; "
                         f"a grid has {list(GRID_KEYS)} ({list(REQUIRED_GRID_KEYS)} required)")  # fmt: skip
    out = dict(grid)
    for key in ("models", "tasks", "protocols"):
        if key in out and (isinstance(out[key], str) or not isinstance(out[key], Sequence)):
            raise ValueError(f"{where}: {key} must be a list, got {out[key]!r}")
    mods = out["modalities"]
    if isinstance(mods, str) or not all(isinstance(m, Sequence) and not isinstance(m, str) for m in mods):
        raise ValueError(f"{where}: modalities must be a list of lists, e.g. [[face, bio], [bio]], got {mods!r}")
    out["modalities"] = [tuple(m) for m in mods]
    if not isinstance(out.get("synthetic", {}), Mapping):
        raise ValueError(f"{where}: synthetic must be a mapping of knobs, got {out['synthetic']!r}")
    from emolab.experiments.grids import PREPROCESSING

    prep = out.get("preprocessing", {})
    if not isinstance(prep, Mapping) or set(prep) - set(PREPROCESSING):
        raise ValueError(f"{where}: preprocessing must be a mapping with keys among {list(PREPROCESSING)}, "
                         f"got {prep!r}")  # fmt: skip
    if not isinstance(out.get("model_kwargs", {}), Mapping):
        raise ValueError(f"{where}: model_kwargs must be a mapping of build_model arguments (a fusion arm, e.g. "
                         f"{{auxiliary_heads: true}}), got {out['model_kwargs']!r}")  # fmt: skip
    if not isinstance(out.get("train", {}), Mapping):
        raise ValueError(f"{where}: train must be a mapping of TrainConfig fields (a fusion arm's, e.g. "
                         f"{{balance: {{method: ogm-ge}}}}), got {out['train']!r}")  # fmt: skip
    return out


def load_grid_file(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The grids of a YAML grid file (see the module doc); errors name the file and the grid."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"grid file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    grids = doc.get("grids", [doc]) if isinstance(doc, Mapping) else doc
    if not isinstance(grids, list) or not grids:
        raise ValueError(f"{path}: expected a grid (models, modalities, ...) or 'grids:' with a list of them")
    return [check_grid(g, f"{path}: grid {i + 1}") for i, g in enumerate(grids)]


def run_parameters(given: Mapping[str, Any]) -> dict[str, Any]:
    """:data:`RUN_PARAMETERS` updated by ``given``; ``KeyError`` for an unknown name."""
    unknown = set(given) - set(RUN_PARAMETERS)
    if unknown:
        raise KeyError(f"unknown sweep parameter(s) {sorted(unknown)}; known: {sorted(RUN_PARAMETERS)}")
    return {**RUN_PARAMETERS, **given}


def sweep_cells(grids: Sequence[Mapping[str, Any]], *, profile: str = "smoke", data_root=None,
                seed: int = 0, device: str = "auto", verbose: bool | str | None = None) -> list:
    """The :class:`~emolab.train.sweep.Cell` list of ``grids``, with each grid's segments prepared
    (:func:`~emolab.experiments.prepare_segments`; one store per distinct synthetic knobs).

    A grid that sets synthetic knobs is skipped, with a log line saying why, when ``data_root``
    names real data.
    """
    from emolab import experiments as ex

    datasets: dict[str, Any] = {}
    cells: list = []
    seen: set[str] = set()
    for grid in grids:
        knobs = dict(grid.get("synthetic") or {})
        if knobs and data_root is not None:
            logger.warning("skipping the grid %s: it sets synthetic knobs %s and runs on the synthetic data only, "
                           "not on %s", {k: v for k, v in grid.items() if k != "synthetic"}, knobs, data_root)  # fmt: skip
            continue
        prof = ex.get_profile(profile, **dict(grid.get("preprocessing") or {}))
        key = json.dumps([knobs, prof.to_dict()], sort_keys=True)
        if key not in datasets:
            # synthetic data without video (face_subjects=0, e.g. chapter 09's signature sources) has a
            # bio-only store
            mods = ("bio",) if knobs.get("face_subjects") == 0 else ("face", "bio")
            datasets[key] = ex.prepare_segments(data_root, profile=prof, seed=seed, verbose=verbose,
                                                modalities=mods, **knobs)  # fmt: skip
        what = {k: grid[k] for k in ("models", "modalities", "tasks", "protocols", "model_kwargs", "train")
                if k in grid}  # fmt: skip
        for cell in ex.grid_cells(datasets[key], profile=prof, seed=seed, device=device, **what):
            if cell.cell_id not in seen:  # two grids may share cells
                seen.add(cell.cell_id)
                cells.append(cell)
    return cells
