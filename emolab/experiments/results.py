"""Reading a grid's results back: its rows, each cell's per-epoch history and test predictions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emolab.experiments.profiles import ExperimentProfile, default_results_path


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
    from emolab.train.cells import CellDir

    path = Path(results_path) if results_path is not None else None
    if path is None:
        raise ValueError("pass results_path (the table the rows were read from)")
    coords = ["cell_id", "model", "modalities", "task", "protocol", "leaky", "fold"]
    frames = []
    for cid, g in results.groupby("cell_id", sort=False):
        frame = CellDir.for_cell(path, cid).load_outputs()[which].copy()
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


