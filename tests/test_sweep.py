"""The sweep runner: one tidy table, finished cells skipped, failures retried, workers in parallel."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from emolab.train.config import TrainConfig
from emolab.train.metrics import aggregate
from emolab.train.results import RESULT_COLUMNS, append_results, config_of, finished_cells, load_results
from emolab.train.sweep import Cell, load_cell_outputs, make_cells, run_cell, run_sweep
from test_trainer import ToyModel, ToySegments

DATA = {"factory": "test_sweep:toy_data", "kwargs": {"n_subjects": 2, "n_trials": 6, "n_segments": 4}}
TRAIN = TrainConfig(batch_size=16, epochs=2, patience=2, lr=1e-2, progress=False)


def toy_data(**kwargs):
    """Data factory named in the cells (resolved by dotted path, also in worker processes)."""
    return ToySegments(**kwargs)


def toy_model(name, *, modalities, **kwargs):
    return ToyModel(modalities=modalities, **kwargs)


def _cells(**kw):
    meta = toy_data(**DATA["kwargs"]).metadata
    args = dict(models=["toy"], modalities=[("bio",), ("face", "bio")], tasks=["valence"],
                protocols=["paper-segment-kfold", "trial-kfold"], n_splits=3, max_folds=1,
                train=TRAIN, data=DATA, model_factory="test_sweep:toy_model")
    args.update(kw)
    return make_cells(meta, **args)


def test_make_cells_enumerates_the_grid():
    meta = toy_data(**DATA["kwargs"]).metadata
    cells = make_cells(meta, models=["a", "b"], modalities=[("bio",), ("face",), ("face", "bio")],
                       tasks=["valence", "arousal"], protocols=["trial-kfold", "loso", "pooled-segment-kfold"],
                       n_splits=3, train=TRAIN, data=DATA)
    # per task: trial-kfold 2 subjects x 3 folds + loso 2 + pooled 3 = 11 folds; x 2 models x 3 modality sets
    assert len(cells) == 2 * 11 * 2 * 3
    assert len({c.cell_id for c in cells}) == len(cells)
    assert {c.subject for c in cells if c.protocol == "pooled-segment-kfold"} == {-1}
    c = cells[0]
    assert c.train_config().task == c.task and c.train_config().modalities == c.modalities
    assert Cell(**{**c.__dict__, "train": {**c.train, "lr": 0.5}}).cell_id != c.cell_id


def test_results_saved_by_an_older_cell_format_are_retrained_not_reused(tmp_path, monkeypatch):
    """A results table kept between runs (a cache, a CI machine's home) holds rows and predictions
    saved by older code; once :data:`CELL_FORMAT` moves, its cells count as not yet run."""
    import emolab.train.cells as cells_module

    path = tmp_path / "results.csv"
    cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])
    calls = []

    def counting(cell, workdir):
        calls.append(cell.cell_id)
        return run_cell(cell, workdir)

    monkeypatch.setattr(cells_module, "CELL_FORMAT", cells_module.CELL_FORMAT - 1)
    old_ids = {c.cell_id for c in cells}
    run_sweep(cells, path, cell_fn=counting, verbose=False)
    assert len(calls) == len(cells) and run_sweep(cells, path, cell_fn=counting, verbose=False).empty
    monkeypatch.undo()
    calls.clear()
    assert not old_ids & {c.cell_id for c in cells}
    added = run_sweep(cells, path, cell_fn=counting, verbose=False)
    assert len(calls) == len(cells) and set(added["cell_id"]) == {c.cell_id for c in cells}


def test_sweep_writes_tidy_table_and_skips_finished_cells(tmp_path):
    path = tmp_path / "results.csv"
    cells = _cells()
    assert len(cells) == 2 * 2 * 2  # 2 modality sets x 2 protocols x (1 fold of 2 subjects)
    calls, crash = [], {"on": True}

    def counting(cell, workdir):
        calls.append(cell.cell_id)
        if crash["on"] and cell.protocol == "trial-kfold" and cell.modalities == ("bio",) and cell.subject == 2:
            raise RuntimeError("simulated crash")
        return run_cell(cell, workdir)

    with pytest.raises(RuntimeError, match="1 of 8 cells failed"):
        run_sweep(cells, path, cell_fn=counting, verbose=False)
    assert len(calls) == 8
    df = load_results(path)
    assert list(df.columns) == RESULT_COLUMNS and len(df) == 7
    assert len(finished_cells(path)) == 7
    # second run: only the failed cell runs
    calls.clear()
    crash["on"] = False
    added = run_sweep(cells, path, cell_fn=counting, verbose=False)
    assert len(added) == 1 and len(calls) == 1
    calls.clear()
    df = load_results(path)
    assert len(df) == 8 and set(df["cell_id"]) == {c.cell_id for c in cells}
    # third run: nothing to do
    assert run_sweep(cells, path, cell_fn=counting, verbose=False).empty and calls == []
    # the table says which rows are leaky, and keeps the whole configuration
    assert set(df.loc[df["protocol"] == "paper-segment-kfold", "leaky"]) == {True}
    assert set(df.loc[df["protocol"] == "trial-kfold", "leaky"]) == {False}
    assert set(df.loc[df["protocol"] == "trial-kfold", "disjoint"]) == {"trial"}
    by_id = {c.cell_id: c for c in cells}
    for _, row in df.iterrows():
        assert config_of(row) == by_id[row["cell_id"]].to_dict()
        assert 0 <= row["accuracy"] <= 1 and row["majority_baseline"] >= 0.5
        assert row["epochs_run"] <= 2 and row["n_test"] > 0
    hist, pred = load_cell_outputs(path, df["cell_id"].iloc[0])
    assert len(hist) == df["epochs_run"].iloc[0] and {"y_true", "y_score", "trial"} <= set(pred.columns)
    assert not any((tmp_path / "cells").glob("*/checkpoint"))
    summary = aggregate(df)
    assert len(summary) == 4 and (summary["n_subjects"] == 2).all()


def test_pooled_protocol_gives_one_row_per_test_subject(tmp_path):
    cells = _cells(protocols=["pooled-segment-kfold"], modalities=[("bio",)])
    assert len(cells) == 1 and cells[0].subject == -1
    added = run_sweep(cells, tmp_path / "r.csv", verbose=False)
    assert sorted(added["subject"]) == [1, 2]
    assert added["n_test"].sum() == len(toy_data(**DATA["kwargs"])) // 3


def test_results_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the sweep"):
        load_results(tmp_path / "missing.csv")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="not an emolab results table"):
        load_results(tmp_path / "other.csv")
    with pytest.raises(KeyError, match="missing"):
        append_results(tmp_path / "x.csv", [{"cell_id": "a"}])


def test_parallel_workers_match_serial_run(tmp_path):
    cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])
    assert len(cells) == 2
    serial = run_sweep(cells, tmp_path / "serial.csv", n_jobs=1, verbose=False)
    parallel = run_sweep(cells, tmp_path / "parallel.csv", n_jobs=2, verbose=False)
    cols = ["cell_id", "accuracy", "balanced_accuracy", "roc_auc", "n_test", "best_epoch"]
    a = serial[cols].sort_values("cell_id").reset_index(drop=True)
    b = parallel[cols].sort_values("cell_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert json.loads(load_results(tmp_path / "parallel.csv")["config"].iloc[0])["data"] == DATA
