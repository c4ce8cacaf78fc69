"""The sweep's Ray backend against a real local Ray instance (one for the whole module).

Same cells through both backends give the same rows; a driver killed mid-sweep resumes with only
the missing cells; a cell that raises is reported with its cell id and leaves the table intact; a
worker process that dies is retried by Ray and its cell written once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray  # in the test extra: pip install -e '.[test]'

from emolab.train.ray_backend import cell_resources
from emolab.train.results import finished_cells, load_results
from emolab.train.sweep import run_cell, run_sweep
from test_sweep import _cells

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: Workers import the tests' data and model factories (``test_sweep:toy_data``) by name.  Ray's
#: worker processes inherit the environment of the instance, which ``ray.init`` starts here.
WORKER_PATH = os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])
COLS = ["cell_id", "subject", "fold", "accuracy", "balanced_accuracy", "f1", "roc_auc", "n_test",
        "n_pos", "best_epoch", "epochs_run"]  # fmt: skip


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance of two CPUs for the module; yields its address.

    Up to four idle worker processes are kept (Ray's default keeps as many as CPUs), so that the
    workers of this process survive while a second driver's run, and are not started again.
    """
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = WORKER_PATH
    try:
        for attempt in (1, 2):
            try:
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                         _system_config={"num_workers_soft_limit": 4})  # fmt: skip
                break
            except Exception as exc:
                # Ray waits a fixed 30 s for its node to register; a machine busy with other
                # work can miss that once.  Anything else, or a second miss, is an error.
                if attempt == 2 or "timed out during startup" not in str(exc):
                    raise
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df[COLS].sort_values(["cell_id", "subject"]).reset_index(drop=True)


def crash_on_subject_2(cell, workdir):
    """A cell function that raises for the cells of subject 2."""
    if cell.subject == 2:
        raise ArithmeticError(f"simulated failure in subject {cell.subject}")
    return run_cell(cell, workdir)


def die_once(cell, workdir):
    """Kills its worker process on the first attempt at each cell (a marker file remembers)."""
    marker = Path(workdir).parent / f"{cell.key}.attempted"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("1")
        os._exit(1)
    return run_cell(cell, workdir)


def _stalls(cell) -> bool:
    return cell.protocol == "trial-kfold" and cell.subject == 2


def stall_some(cell, workdir):
    """Runs the cells, but stalls on the trial-kfold cells of subject 2 (the driver is killed
    meanwhile)."""
    if _stalls(cell):
        time.sleep(60)
    return run_cell(cell, workdir)


def test_cell_resources_defaults_and_errors():
    cell = _cells()[0]
    assert cell_resources(cell) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert cell_resources(cell, {"num_gpus": 0.25})["num_gpus"] == 0.25
    gpu = type(cell)(**{**cell.__dict__, "train": {**cell.train, "device": "cuda"}})
    assert cell_resources(gpu)["num_gpus"] == 1.0
    with pytest.raises(ValueError, match="gets no GPU"):
        cell_resources(gpu, {"num_gpus": 0})
    with pytest.raises(ValueError, match="fraction only below 1"):
        cell_resources(cell, {"num_gpus": 1.5})
    with pytest.raises(ValueError, match="unknown Ray resource"):
        cell_resources(cell, {"gpus": 1})
    with pytest.raises(ValueError, match="backend='ray' only"):
        run_sweep([cell], "unused.csv", resources={"num_gpus": 1})


def test_ray_backend_gives_the_local_rows(ray_cluster, tmp_path):
    cells = _cells(protocols=["trial-kfold"])  # bio and face+bio, 2 subjects
    local = run_sweep(cells, tmp_path / "local.csv", verbose=False)
    remote = run_sweep(cells, tmp_path / "ray.csv", backend="ray", verbose=False)
    assert set(remote["cell_id"]) == {c.cell_id for c in cells}
    pd.testing.assert_frame_equal(_sorted(local), _sorted(remote))
    pd.testing.assert_frame_equal(_sorted(load_results(tmp_path / "local.csv")),
                                  _sorted(load_results(tmp_path / "ray.csv")))  # fmt: skip
    assert set(remote["device"]) == {"cpu"}
    # every cell's folder is written by the driver, checkpoints removed
    assert len(list((tmp_path / "cells").glob("*/predictions.csv"))) == len(cells)
    assert not any((tmp_path / "cells").glob("*/checkpoint"))
    # a second run finds everything done
    assert run_sweep(cells, tmp_path / "ray.csv", backend="ray", verbose=False).empty


def test_emolab_sweep_on_ray(ray_cluster, tmp_path, monkeypatch, capsys):
    from emolab import sweep_config
    from emolab.cli import main
    from test_sweep_cli import GRID_YAML

    monkeypatch.setattr(sweep_config, "sweep_cells", lambda grids, **params: _cells(modalities=[("bio",)]))
    (tmp_path / "grid.yaml").write_text(GRID_YAML)
    out = tmp_path / "r.csv"
    args = ["sweep", "--config", str(tmp_path / "grid.yaml"), "--results", str(out), "--backend", "ray",
            "--address", "auto", "--cpus-per-cell", "1"]  # fmt: skip
    assert main(args) == 0
    assert "4 cells (smoke profile, ray backend): 0 already done, 4 run now" in capsys.readouterr().out
    assert finished_cells(out) == {c.cell_id for c in _cells(modalities=[("bio",)])}
    assert main(args) == 0
    assert "4 already done, 0 run now" in capsys.readouterr().out
    args[args.index(str(out))] = str(tmp_path / "gpu.csv")
    assert main([*args, "--gpus-per-cell", "1"]) == 1  # this cluster has no GPU
    assert "a cell asks for 1 GPU(s) but the Ray cluster has 0" in capsys.readouterr().err


def test_cell_that_raises_is_named_and_the_table_stays_whole(ray_cluster, tmp_path):
    cells = _cells(modalities=[("bio",)])
    path = tmp_path / "r.csv"
    bad = {c.cell_id for c in cells if c.subject == 2}
    with pytest.raises(RuntimeError, match=rf"{len(bad)} of {len(cells)} cells failed") as info:
        run_sweep(cells, path, backend="ray", cell_fn=crash_on_subject_2, verbose=False)
    assert isinstance(info.value.__cause__, ArithmeticError)
    assert any(f"(first: {b}: ArithmeticError('simulated failure" in str(info.value) for b in bad)
    assert finished_cells(path) == {c.cell_id for c in cells} - bad
    added = run_sweep(cells, path, backend="ray", verbose=False)
    assert set(added["cell_id"]) == bad
    assert finished_cells(path) == {c.cell_id for c in cells}


def test_dead_worker_is_retried_and_written_once(ray_cluster, tmp_path):
    cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])[:1]
    path = tmp_path / "r.csv"
    added = run_sweep(cells, path, backend="ray", cell_fn=die_once, verbose=False)
    assert len(list((tmp_path / "cells").glob("*.attempted"))) == len(cells)  # each died once
    df = load_results(path)
    assert sorted(df["cell_id"]) == sorted(added["cell_id"]) == sorted(c.cell_id for c in cells)
    assert not df.duplicated(["cell_id", "subject"]).any()


DRIVER = """
import sys, ray
sys.path.insert(0, {tests!r})
ray.init(address={address!r}, log_to_driver=False)
from emolab.train.sweep import run_sweep
from test_sweep_ray import _cells, stall_some
run_sweep(_cells(modalities=[("bio",)]), {path!r}, backend="ray", cell_fn=stall_some, verbose=False)
"""


def test_killed_driver_resumes_with_only_the_missing_cells(ray_cluster, tmp_path):
    cells = _cells(modalities=[("bio",)])
    path = tmp_path / "r.csv"
    fast = {c.cell_id for c in cells if not _stalls(c)}
    assert 0 < len(fast) < len(cells)
    code = DRIVER.format(tests=str(TESTS), address=ray_cluster, path=str(path))
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while finished_cells(path) != fast:
            assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the driver finished no cell in 2 minutes"
            time.sleep(0.5)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert finished_cells(path) == fast  # the stalled cells never reached the table
    added = run_sweep(cells, path, backend="ray", verbose=False)
    assert set(added["cell_id"]) == {c.cell_id for c in cells} - fast
    df = load_results(path)
    assert set(df["cell_id"]) == {c.cell_id for c in cells}
    assert not df.duplicated(["cell_id", "subject"]).any()
