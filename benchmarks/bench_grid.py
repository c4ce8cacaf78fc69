"""Throughput of a chapter-sized grid of cells, and where one cell's time goes.

Runs the same grid (model x modalities x task x protocol x subject x fold, the book's CI
profile by default) twice on the synthetic data, with a fresh results table each time:

``items``
    the item-by-item path: a DataLoader builds every batch from per-item dicts, face crops are
    converted to float per item, a checkpoint is written after every epoch;
``in-memory``
    what the sweep does by default: each fold gathered once into stacked tensors
    (:class:`emolab.train.batches.InMemorySegments`), face crops kept uint8 until the device, a
    checkpoint only every ``--checkpoint-interval`` seconds and after the last epoch.

For each it prints the wall time, sample-steps per second over the whole grid (training samples x
epochs, summed over cells, divided by wall time), the achieved GFLOP/s (training FLOPs per sample
of each model from :func:`emolab.models.flops_per_sample`), and the time per phase summed over
cells: opening the data, enumerating folds, building the model, gathering the fold, training
steps, validation, checkpoints, scoring the test fold, and the rest (worker start-up, writing
results, waiting).  For scale it measures ``torch.matmul`` in the same run with one thread per
worker and all workers' threads, before and after the grids.

Usage::

    python benchmarks/bench_grid.py                       # the CI profile's chapter-05 grid
    python benchmarks/bench_grid.py --models safavi --modalities face --tasks valence
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import matmul_gflops  # noqa: E402

from emolab import experiments as ex  # noqa: E402
from emolab.models import build_model, flops_per_sample  # noqa: E402
from emolab.train.cells import CellDir  # noqa: E402

PHASES = ("open", "folds", "build", "gather", "train", "validation", "checkpoint", "test")


@functools.lru_cache(maxsize=None)
def _train_flops(model: str, modalities: tuple[str, ...], shapes: tuple) -> float:
    net = build_model(model, modalities=modalities, **dict(shapes))
    return float(flops_per_sample(net, training=True))


def train_flops(model: str, modalities: tuple[str, ...], shapes: dict) -> float:
    """Training FLOPs per sample (forward + backward) of one model on these input sizes."""
    return _train_flops(model, tuple(modalities), tuple(sorted(shapes.items())))


def run_variant(name: str, dataset, grid: dict, profile, *, n_jobs: int, train: dict) -> dict:
    results = Path(tempfile.mkdtemp(prefix=f"bench-grid-{name}-")) / "results.csv"
    start = time.perf_counter()
    rows = ex.run_grid(dataset, profile=profile, results_path=results, n_jobs=n_jobs, train=train,
                       progress=False, verbose="WARNING", **grid)  # fmt: skip
    wall = time.perf_counter() - start
    shapes = ex.segment_shapes(dataset)
    phases = dict.fromkeys(PHASES, 0.0)
    steps = flops = 0.0
    cells = rows.drop_duplicates("cell_id")
    for _, r in cells.iterrows():
        folder = CellDir.for_cell(results, r["cell_id"])
        history, _ = folder.load_outputs()
        t = json.loads(folder.timings_path.read_text())
        for k in ("open", "folds", "build", "gather", "test"):
            phases[k] += t.get(k, 0.0)
        phases["train"] += history["seconds"].sum()
        phases["validation"] += history.get("val_seconds", pd.Series(dtype=float)).fillna(0).sum()
        phases["checkpoint"] += history.get("checkpoint_seconds", pd.Series(dtype=float)).fillna(0).sum()
        n = float(r["n_train"]) * float(r["epochs_run"])
        steps += n
        flops += n * train_flops(r["model"], tuple(r["modalities"].split("+")), shapes)
    busy = sum(phases.values())
    return {"variant": name, "cells": len(cells), "wall_s": wall, "sample_steps": steps,
            "samples_per_s": steps / wall, "gflop_per_s": flops / wall / 1e9,
            **{f"{k}_s": v for k, v in phases.items()}, "rest_s": wall * n_jobs - busy}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="smoke")
    p.add_argument("--models", nargs="+", default=["safavi", "gbvnet"])
    p.add_argument("--modalities", nargs="+", default=["bio", "face"], help="e.g. bio face face+bio")
    p.add_argument("--tasks", nargs="+", default=["valence", "arousal"])
    p.add_argument("--protocols", nargs="+", default=["paper-segment-kfold", "trial-kfold"])
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--checkpoint-interval", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", nargs="+", default=["items", "in-memory"])
    args = p.parse_args(argv)

    profile = ex.get_profile(args.profile)
    n_jobs = args.n_jobs or profile.n_jobs
    threads = profile.torch_threads or 1
    dataset = ex.prepare_segments(None, profile=profile, seed=args.seed, verbose="WARNING")
    grid = {"models": args.models, "modalities": [tuple(m.split("+")) for m in args.modalities],
            "tasks": args.tasks, "protocols": args.protocols, "seed": args.seed}
    torch.set_num_threads(threads)
    roof = {"matmul_1thread_before": matmul_gflops(size=1024, repeats=5, device="cpu")}
    torch.set_num_threads(os.cpu_count() or 1)
    roof["matmul_allthreads_before"] = matmul_gflops(size=2048, repeats=5, device="cpu")
    torch.set_num_threads(threads)
    variants = {"items": {"in_memory": False, "checkpoint_interval_s": 0.0},
                "in-memory": {"in_memory": True, "checkpoint_interval_s": args.checkpoint_interval}}
    out = [run_variant(v, dataset, grid, profile, n_jobs=n_jobs, train=variants[v]) for v in args.variants]
    roof["matmul_1thread_after"] = matmul_gflops(size=1024, repeats=5, device="cpu")
    torch.set_num_threads(os.cpu_count() or 1)
    roof["matmul_allthreads_after"] = matmul_gflops(size=2048, repeats=5, device="cpu")
    df = pd.DataFrame(out).set_index("variant").T
    pd.set_option("display.float_format", lambda v: f"{v:,.2f}")
    print(f"grid: {grid}, profile {profile.name}, {n_jobs} workers x {threads} thread(s), {os.cpu_count()} CPUs")
    print(df.to_string())
    if len(out) == 2:
        print(f"speed-up (in-memory / items): {out[1]['samples_per_s'] / out[0]['samples_per_s']:.2f}x")
    mm = statistics.median([roof["matmul_1thread_before"], roof["matmul_1thread_after"]])
    mm_all = statistics.median([roof["matmul_allthreads_before"], roof["matmul_allthreads_after"]])
    print("matmul GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in roof.items()))
    print(f"grid GFLOP/s as a share of the matmul roof ({n_jobs} x 1 thread = {n_jobs * mm:.1f}; "
          f"all threads {mm_all:.1f}): " + ", ".join(f"{o['variant']} {o['gflop_per_s'] / (n_jobs * mm):.1%}" for o in out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
