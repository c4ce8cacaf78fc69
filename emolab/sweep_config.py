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

#: Keys of a grid, and which of them must be given.
GRID_KEYS = ("models", "modalities", "tasks", "protocols", "synthetic")
REQUIRED_GRID_KEYS = ("models", "modalities")
#: Fingerprint strengths of chapter 09's deep-model sweep when run headless.
FINGERPRINTS = (0.0, 0.5, 1.0, 2.0)
#: The run parameters (as in the chapters' ``parameters`` cells) and their defaults.
RUN_PARAMETERS = {"profile": "smoke", "data_root": None, "seed": 0, "device": "auto"}


def chapter_grids(chapter: str) -> list[dict[str, Any]]:
    """The grids of :data:`emolab.experiments.CHAPTER_GRIDS` for one chapter, or ``"all"``.

    ``"control"`` (chapter 05's control) runs on the synthetic data with the trial fingerprint
    switched off; ``"fingerprint"`` (chapter 09) once per strength of :data:`FINGERPRINTS`, on
    bio-only synthetic data without video, as :func:`emolab.experiments.fingerprint_sweep` does.
    """
    from emolab.experiments import CHAPTER_GRIDS

    if chapter == "all":
        return [g for name in CHAPTER_GRIDS for g in chapter_grids(name)]
    if chapter not in CHAPTER_GRIDS:
        raise KeyError(f"unknown chapter grid {chapter!r}; known: {sorted(CHAPTER_GRIDS)} or 'all'")
    grids = CHAPTER_GRIDS[chapter]
    grids = list(grids) if isinstance(grids, list) else [grids]
    if chapter == "control":
        return [check_grid({**g, "synthetic": {"fingerprint": 0.0}}, "control") for g in grids]
    if chapter == "fingerprint":
        return [check_grid({**g, "synthetic": {"fingerprint": fp, "face_subjects": 0}}, "fingerprint")
                for g in grids for fp in FINGERPRINTS]  # fmt: skip
    return [check_grid(dict(g), chapter) for g in grids]


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

    ``ValueError`` when a grid sets synthetic knobs but ``data_root`` names real data.
    """
    from emolab import experiments as ex

    datasets: dict[str, Any] = {}
    cells: list = []
    seen: set[str] = set()
    for grid in grids:
        knobs = dict(grid.get("synthetic") or {})
        if knobs and data_root is not None:
            raise ValueError(f"the grid {dict(grid)} sets synthetic knobs {knobs}; it runs on the "
                             "synthetic data only (drop data_root, or that grid)")  # fmt: skip
        key = json.dumps(knobs, sort_keys=True)
        if key not in datasets:
            # synthetic data without video (face_subjects=0) has a bio-only store, as in chapter 09
            mods = ("bio",) if knobs.get("face_subjects") == 0 else ("face", "bio")
            datasets[key] = ex.prepare_segments(data_root, profile=profile, seed=seed, verbose=verbose,
                                                modalities=mods, **knobs)  # fmt: skip
        what = {k: grid[k] for k in ("models", "modalities", "tasks", "protocols") if k in grid}
        for cell in ex.grid_cells(datasets[key], profile=profile, seed=seed, device=device, **what):
            if cell.cell_id not in seen:  # two grids may share cells
                seen.add(cell.cell_id)
                cells.append(cell)
    return cells
