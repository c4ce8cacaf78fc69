"""Per-cell overhead of the sweep's Ray backend against the local one, on this machine.

Runs the same cells — a chapter's grid of :data:`emolab.experiments.GRIDS` on the book's
CI profile (synthetic data), by default the first ``--limit`` cells of chapter 06-07's fusion grid
with ``--epochs`` epochs — through ``run_sweep(backend="local", n_jobs=J)`` and
``run_sweep(backend="ray")`` on a local Ray instance of ``J`` CPUs, ``--repeats`` times each with
a fresh results table, and prints:

* the start-up of the Ray instance (``ray.init``), once;
* the wall time of each backend's sweep, median over repeats (the first Ray repeat also starts
  Ray's worker processes, which import torch: it is printed apart), and the overhead per cell,
  ``(median Ray - median local) / cells``, plus that overhead over the whole chapter grid;
* whether both backends wrote the same cell ids and metrics;
* data reach: the bytes of the store's arrays the cells read, the seconds to ``ray.put`` them
  and ``ray.get`` them back (what putting the store in Ray's object store would cost), against
  the seconds a Ray task took to open the store by path (``timings.json``, ``open``): the first
  time in a worker process, and the median (a worker keeps the store open between cells).

Usage::

    python benchmarks/bench_ray.py                                # fusion grid, 12 cells, 1 epoch
    python benchmarks/bench_ray.py --chapter unimodal --limit 24 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emolab import experiments as ex
from emolab.train.cells import CellDir
from emolab.train.sweep import run_sweep

COLS = ["cell_id", "subject", "accuracy", "balanced_accuracy", "roc_auc", "n_test", "best_epoch"]


def timed_sweep(cells, path: Path, **kwargs) -> float:
    t0 = time.perf_counter()
    run_sweep(cells, path, progress=False, verbose="WARNING", **kwargs)
    return time.perf_counter() - t0


def store_arrays(dataset) -> dict[str, np.ndarray]:
    """The arrays of every subject and modality the dataset serves, read into memory."""
    store = dataset.store
    out = {}
    for s in dataset.subjects:
        for mod in dataset.modalities:
            arr = store.bio(s, mmap=False) if mod == "bio" else store.face(s, mmap=False)
            if arr is not None:
                out[f"{mod}{s}"] = arr
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default="fusion", choices=["unimodal", "fusion"])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--limit", type=int, default=12, help="first N cells of the grid (0: all)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per cell (cheap cells show overhead)")
    parser.add_argument("--jobs", type=int, default=2, help="local workers = CPUs of the Ray instance")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import ray

    profile = ex.get_profile(args.profile)
    dataset = ex.prepare_segments(None, profile=profile, seed=0, verbose="WARNING")
    all_cells = [c for g in ex.grids(args.chapter) if not g.synthetic_only
                 for c in ex.grid_cells(dataset, profile=profile, seed=0, train={"epochs": args.epochs}, **g.kwargs())]
    cells = all_cells[: args.limit] if args.limit else all_cells
    print(f"{args.chapter} grid, {args.profile} profile: {len(all_cells)} cells; timing {len(cells)} "
          f"of them, {args.epochs} epoch(s) each, {args.jobs} workers/CPUs, {args.repeats} repeats")

    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    local, remote = [], []
    for attempt in range(1, 4):  # first: Ray's start-up is what fails on an overloaded machine
        t0 = time.perf_counter()
        try:
            ray.init(num_cpus=args.jobs, include_dashboard=False, log_to_driver=False)
            break
        except Exception as exc:  # Ray waits a fixed 30 s for its node to register
            if attempt == 3 or "timed out during startup" not in str(exc):
                raise
            print(f"ray.init attempt {attempt} timed out after {time.perf_counter() - t0:.1f} s; again")
    init_s = time.perf_counter() - t0
    with ex.torch_threads(1):
        for i in range(args.repeats):
            local.append(timed_sweep(cells, tmp / f"local{i}" / "r.csv", n_jobs=args.jobs))
    for i in range(args.repeats + 1):  # repeat 0 starts the worker processes
        remote.append(timed_sweep(cells, tmp / f"ray{i}" / "r.csv", backend="ray"))

    a = pd.read_csv(tmp / "local0" / "r.csv")[COLS].sort_values(["cell_id", "subject"]).reset_index(drop=True)
    b = pd.read_csv(tmp / "ray1" / "r.csv")[COLS].sort_values(["cell_id", "subject"]).reset_index(drop=True)
    same = a.equals(b)
    opens = [json.loads(CellDir.for_cell(tmp / "ray0" / "r.csv", c).timings_path.read_text())["open"]
             for c in cells]  # the first Ray run: each worker opens the store once, then reuses it
    arrays = store_arrays(dataset)
    nbytes = sum(x.nbytes for x in arrays.values())
    t0 = time.perf_counter()
    ref = ray.put(arrays)
    ray.get(ref)
    put_s = time.perf_counter() - t0
    ray.shutdown()

    med_local, med_ray = statistics.median(local), statistics.median(remote[1:])
    per_cell = (med_ray - med_local) / len(cells)
    print(f"ray.init (local instance, {args.jobs} CPUs): {init_s:.1f} s")
    print(f"local backend, n_jobs={args.jobs}: median {med_local:.2f} s  "
          f"({med_local / len(cells):.3f} s/cell; repeats {', '.join(f'{x:.2f}' for x in local)})")
    print(f"ray backend:            median {med_ray:.2f} s  "
          f"({med_ray / len(cells):.3f} s/cell; repeats {', '.join(f'{x:.2f}' for x in remote[1:])}); "
          f"first run, starting the workers: {remote[0]:.2f} s")
    print(f"overhead of Ray per cell: {per_cell:+.3f} s; over the whole {args.chapter} grid "
          f"({len(all_cells)} cells): {per_cell * len(all_cells):+.1f} s, plus ray.init and the "
          f"workers' start ({init_s + remote[0] - med_ray:.1f} s)")
    print(f"same cell ids and metrics in both backends: {same}")
    print(f"data reach: store arrays {nbytes / 2**20:.1f} MiB; ray.put + ray.get {put_s:.3f} s; "
          f"a Ray task opening the store by path: {max(opens) * 1e3:.1f} ms the first time in a "
          f"worker, median {statistics.median(opens) * 1e3:.1f} ms (a worker keeps it open)")


if __name__ == "__main__":
    main()
