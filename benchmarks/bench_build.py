"""Building a segment store serially against one subject per worker process.

Run: ``python benchmarks/bench_build.py [--preset book] [--seed 0] [--jobs 2] [--size 32]``.

Generates (or reuses) the synthetic DEAP-format dataset of ``--preset`` and ``--seed``, then
builds its segment store with face crops twice into temporary folders: ``n_jobs=1`` (in this
process) and ``n_jobs=--jobs`` (spawned workers, each with its own MediaPipe landmarker).
Prints both wall times, the speed-up beside the cores this process may use, the seconds per
face frame of the serial build, and whether the two stores hold the same bytes (they must: the
store does not depend on ``n_jobs``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from emolab.store import build_store
from emolab.data.synthetic import ensure_synthetic
from emolab.preprocess.face import FaceConfig
from emolab.preprocess.physio import PhysioConfig


def _files(store) -> dict[str, bytes]:
    return {str(p.relative_to(store.path)): p.read_bytes() for p in sorted(store.path.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="book")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    root = ensure_synthetic(fmt="deap", preset=args.preset, seed=args.seed, n_jobs=args.jobs, verbose=False)
    kw = dict(dataset="deap", physio=PhysioConfig(normalize="baseline_std"),
              face=FaceConfig(fps=args.fps, size=args.size), progress=False, verbose="WARNING")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        seconds, stores = {}, {}
        for jobs in (1, args.jobs):
            t0 = time.perf_counter()
            stores[jobs] = build_store(root, store_root=Path(tmp) / f"jobs{jobs}", n_jobs=jobs, **kw)
            seconds[jobs] = time.perf_counter() - t0
        serial = stores[1]
        n_subjects = len(serial.subjects)
        n_frames = sum(len(serial.bio(s)) for s in serial.subjects) * round(args.fps)
        same = _files(serial) == _files(stores[args.jobs])
    print(f"{args.preset} preset, seed {args.seed}: {n_subjects} subjects, {n_frames} face frames "
          f"at {args.fps:g} fps, {args.size}-px crops; {cores} CPU cores available")  # fmt: skip
    print(f"n_jobs=1: {seconds[1]:.1f} s ({1e3 * seconds[1] / n_frames:.1f} ms per frame, reading, "
          f"detection, cropping and physiology together)")  # fmt: skip
    print(f"n_jobs={args.jobs}: {seconds[args.jobs]:.1f} s, {seconds[1] / seconds[args.jobs]:.2f}x "
          f"(ideal {min(args.jobs, cores, n_subjects)}x); identical stores: {same}")  # fmt: skip


if __name__ == "__main__":
    main()
