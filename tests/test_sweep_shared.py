"""Two sweeps on one results table share the work: every cell runs once and is written once.

The cells are claimed through an exclusive-create ``claim`` file in their folder
(:class:`emolab.train.cells.CellDir`); the recorder appends a cell's rows only when the table does
not hold that cell yet (:func:`emolab.train.results.append_new_results`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emolab.train.cells import CellDir, ClaimQueue
from emolab.train.results import append_new_results, append_results, finished_cells, load_results
from emolab.train.sweep import run_cell, run_sweep
from test_sweep import _cells

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def logged_run_cell(cell, workdir):
    """``run_cell`` that first appends ``<cell_id> <pid>`` to the file ``$EMOLAB_TEST_RUN_LOG``."""
    with open(os.environ["EMOLAB_TEST_RUN_LOG"], "a") as f:
        f.write(f"{cell.cell_id} {os.getpid()}\n")
    return run_cell(cell, workdir)


def grid18():
    """18 small cells: 3 modality sets x 2 subjects x 3 trial-kfold folds."""
    cells = _cells(modalities=[("bio",), ("face",), ("face", "bio")], protocols=["trial-kfold"], max_folds=3)
    assert len(cells) == 18
    return cells


SWEEP = """
import os, sys, time
sys.path[:0] = [{tests!r}, {root!r}]
from emolab.train.sweep import run_sweep
from test_sweep_shared import grid18, logged_run_cell
cells = grid18()
while not os.path.exists({go!r}):  # start together
    time.sleep(0.01)
added = run_sweep(cells, {path!r}, cell_fn=logged_run_cell, verbose=False)
print("ADDED", 0 if added.empty else added["cell_id"].nunique())
"""


@pytest.mark.slow  # two processes sweeping 18 cells
def test_two_sweeps_on_one_table_run_each_cell_once(tmp_path):
    path, go, log = tmp_path / "results.csv", tmp_path / "go", tmp_path / "runs.log"
    code = SWEEP.format(tests=str(TESTS), root=str(ROOT), go=str(go), path=str(path))
    env = {**os.environ, "EMOLAB_TEST_RUN_LOG": str(log), "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    time.sleep(1.0)
    go.touch()
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    runs = [line.split() for line in log.read_text().splitlines()]
    ids = {c.cell_id for c in grid18()}
    ran = [cid for cid, _ in runs]
    assert sorted(ran) == sorted(ids)  # every cell ran, and only once
    added = [int(out.split("ADDED")[1]) for out, _ in outs]
    assert sum(added) == 18
    assert len({pid for _, pid in runs}) == 2 and min(added) > 0  # both sweeps did part of the work
    df = load_results(path)
    assert set(df["cell_id"]) == ids
    assert not df.duplicated(["cell_id", "subject"]).any()
    assert not list((tmp_path / "cells").glob("*/claim"))  # every claim released


def test_append_new_results_skips_cells_already_in_the_table(tmp_path):
    cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])
    path = tmp_path / "r.csv"
    run_sweep(cells, path, verbose=False)
    before = load_results(path)
    rows = before.to_dict("records")
    assert append_new_results(path, rows) == []  # all there: nothing written
    assert len(load_results(path)) == len(before)
    new = [{**r, "cell_id": r["cell_id"] + "x"} for r in rows[:1]]
    assert append_new_results(path, rows + new) == new
    assert len(load_results(path)) == len(before) + 1
    append_results(path, new)  # the plain append still appends whatever it is given
    assert load_results(path)["cell_id"].duplicated().sum() == 1


def test_the_recorder_never_appends_a_cell_already_in_the_table(tmp_path):
    """A cell whose rows appear in the table while it runs (written by some other writer) is not
    appended a second time."""
    cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])[:1]
    path = tmp_path / "r.csv"

    def and_someone_else(cell, workdir):
        out = run_cell(cell, workdir)
        append_results(path, out.rows)
        return out

    added = run_sweep(cells, path, cell_fn=and_someone_else, verbose=False)
    assert added.empty and len(load_results(path)) == 1


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_claims_are_exclusive_released_and_stale_ones_taken_over(tmp_path, caplog_emolab):
    cell = _cells()[0]
    d = CellDir.for_cell(tmp_path / "r.csv", cell)
    assert d.claim() and not d.claim()  # exclusive, also within one process
    claim = d.read_claim()
    assert claim["pid"] == os.getpid() and claim["host"] == socket.gethostname() and claim["cell_id"] == cell.cell_id
    d.release()
    assert d.read_claim() is None and d.claim()
    d.release()
    # a claim left by a process that is gone is taken over, with a log line
    d.claim_path.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "time": 0}))
    assert d.claim_is_stale() and d.claim()
    assert "taking over the claim" in caplog_emolab.text and d.read_claim()["pid"] == os.getpid()
    d.release()
    # a live process's claim, or one from another host, is not
    for other in ({"pid": os.getppid(), "host": socket.gethostname()}, {"pid": 1, "host": "elsewhere"}):
        d.claim_path.write_text(json.dumps({**other, "time": 0}))
        assert not d.claim_is_stale() and not d.claim()
        d.release()  # not ours: left alone
        assert d.read_claim()["pid"] == other["pid"]
    d.claim_path.unlink()


def test_a_sweep_waits_for_cells_another_holds_and_reads_their_rows(tmp_path):
    """The cells another sweep holds are left for later; once that sweep has written them they
    count as done, and a cell it released without rows (it failed) is run here."""
    cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])
    path = tmp_path / "r.csv"
    a, b = (CellDir.for_cell(path, c) for c in cells)
    for d in (a, b):
        d.path.mkdir(parents=True)
        d.claim_path.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "time": 0}))
    queue = ClaimQueue(cells, path, poll_s=0.05)
    assert queue.take(wait=False) is None and len(queue.pending) == 2
    # the other sweep finishes the first cell and fails the second
    append_results(path, run_cell(cells[0], a.path).rows)
    a.claim_path.unlink()
    b.claim_path.unlink()
    assert queue.take(wait=True) is cells[1] and [c.cell_id for c in queue.done_elsewhere] == [cells[0].cell_id]
    assert queue.take(wait=True) is None
    queue.release(cells[1])
    assert b.read_claim() is None and finished_cells(path) == {cells[0].cell_id}


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_interrupted_sweep_releases_its_claims(tmp_path, n_jobs):
    cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])

    with pytest.raises(KeyboardInterrupt):
        run_sweep(cells, tmp_path / "r.csv", cell_fn=interrupt, n_jobs=n_jobs, verbose=False)
    assert not list((tmp_path / "cells").glob("*/claim"))


def interrupt(cell, workdir):
    raise KeyboardInterrupt
