"""Worker processes start from a plain script: no ``if __name__ == "__main__":`` guard, or piped
to ``python -`` (emolab.workers: loky does not re-run the main module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emolab.workers import InProcessPool, default_threads, process_pool

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

#: A new user's script: generates a tiny synthetic DEAP folder, builds its segment store and runs
#: a sweep, each with 2 worker processes, at top level; the sweep's cell function is defined in
#: the script itself (so it reaches the workers by value).
SCRIPT = """
import sys
sys.path[:0] = [{tests!r}, {root!r}]
from pathlib import Path
from emolab.data.synthetic import ensure_synthetic
from emolab.store import build_store
from emolab.train.results import load_results
from emolab.train.sweep import run_cell, run_sweep
from test_sweep import _cells

out = Path({out!r})
root = ensure_synthetic(fmt="deap", seed=0, root=out / "deap", n_jobs=2, verbose=False,
                        n_subjects=2, n_trials=2, trial_s=4.0, face_subjects=0)
store = build_store(root, store_root=out / "store", modalities=("bio",), n_jobs=2, progress=False,
                    verbose="WARNING")
assert store.subjects == [1, 2], store.subjects

def my_cell(cell, workdir):
    return run_cell(cell, workdir)

cells = _cells(modalities=[("bio",)], protocols=["trial-kfold"])
run_sweep(cells, out / "results.csv", cell_fn=my_cell, n_jobs=2, verbose=False)
assert set(load_results(out / "results.csv")["cell_id"]) == {{c.cell_id for c in cells}}
print("WORKERS OK")
"""


@pytest.mark.slow  # two subprocesses that each build a store and run a sweep (about a minute each)
@pytest.mark.parametrize("how", ["file", "stdin"])
def test_a_script_without_a_main_guard_starts_workers(tmp_path, how):
    code = SCRIPT.format(tests=str(TESTS), root=str(ROOT), out=str(tmp_path / "out"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    if how == "file":
        script = tmp_path / "script.py"
        script.write_text(code)
        proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)  # fmt: skip
    else:
        proc = subprocess.run([sys.executable, "-"], input=code, env=env, capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WORKERS OK" in proc.stdout


def _square(x):
    import torch

    return x * x, torch.get_num_threads()


def test_process_pool_sets_the_torch_threads_of_each_worker():
    with process_pool(2, torch_threads=1) as pool:
        assert sorted(pool.map(_square, range(4))) == [(0, 1), (1, 1), (4, 1), (9, 1)]
    assert default_threads(10**6) == 1
    with pytest.raises(ValueError, match="positive"):
        process_pool(0)


def test_without_joblib_the_jobs_run_in_this_process(monkeypatch, caplog_emolab):
    monkeypatch.setitem(sys.modules, "joblib.externals.loky.process_executor", None)  # import fails
    seen = []
    with process_pool(2, initializer=seen.append, initargs=("init",), what="test jobs") as pool:
        assert isinstance(pool, InProcessPool)
        assert pool.submit(_square, 3).result()[0] == 9
        with pytest.raises(ZeroDivisionError):
            pool.submit(divmod, 1, 0).result()
    assert seen == ["init"] and "running the test jobs in this process" in caplog_emolab.text
