"""Where one cell's time goes: process start, store open, folds, model, data, training, test.

Runs one cell of a chapter grid (default: Safavi et al.'s face-only model, valence,
``trial-kfold``, first subject and fold of the book's CI profile) in this process, twice: the first
run pays the one-time costs of a fresh worker process, the second is what every further cell of
that worker costs.  Prints the phases the sweep records per cell (``timings.json``), the
per-epoch training / validation / checkpoint seconds from the history, and the functions that
took the most time in the second run (:mod:`cProfile`).

Usage::

    python benchmarks/profile_cell.py
    python benchmarks/profile_cell.py --model gbvnet --modalities face+bio --task arousal
    python benchmarks/profile_cell.py --variant items    # DataLoader over items, checkpoint every epoch
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time

T0 = time.perf_counter()
import torch  # noqa: E402

from emolab import experiments as ex  # noqa: E402
from emolab.train import sweep  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="smoke")
    p.add_argument("--model", default="safavi")
    p.add_argument("--modalities", default="face")
    p.add_argument("--task", default="valence")
    p.add_argument("--protocol", default="trial-kfold")
    p.add_argument("--variant", choices=["in-memory", "items"], default="in-memory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args(argv)

    prof = ex.get_profile(args.profile)
    torch.set_num_threads(prof.torch_threads or torch.get_num_threads())
    t = time.perf_counter()
    ds = ex.prepare_segments(None, profile=prof, seed=args.seed, verbose="WARNING")
    prepare_s = time.perf_counter() - t
    train = {"in_memory": False, "checkpoint_interval_s": 0.0} if args.variant == "items" else {}
    cell = ex.grid_cells(ds, models=[args.model], modalities=[tuple(args.modalities.split("+"))],
                         tasks=[args.task], protocols=[args.protocol], profile=prof, seed=args.seed,
                         train=train)[0]  # fmt: skip
    print(f"cell {cell.cell_id} ({args.variant}); {torch.get_num_threads()} torch thread(s)")
    print(f"process start (import torch + emolab): {IMPORT_S:.2f} s; prepare_segments (cached store): {prepare_s:.2f} s")
    for run in ("first", "second"):
        sweep._DATA_CACHE.clear()
        profiler = cProfile.Profile()
        t = time.perf_counter()
        profiler.enable()
        out = sweep.run_cell(cell, tempfile.mkdtemp(prefix="profile-cell-"))
        profiler.disable()
        total = time.perf_counter() - t
        h = out.history
        phases = {k: round(v, 3) for k, v in out.timings.items()}
        per_epoch = {k: round(float(h[k].fillna(0).sum()), 3) for k in ("seconds", "val_seconds", "checkpoint_seconds") if k in h}
        print(f"{run} run: {total:.2f} s in all; phases {phases}; summed over {len(h)} epochs: "
              f"training {per_epoch.get('seconds', 0)} s, validation {per_epoch.get('val_seconds', 0)} s, "
              f"checkpoints {per_epoch.get('checkpoint_seconds', 0)} s")  # fmt: skip
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(args.top)
    print("\n".join(buf.getvalue().splitlines()[4:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
