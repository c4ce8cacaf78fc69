"""Dress rehearsal of the full profile: the chapters' grids on real-sized data, cut short, and
the projected wall time of the complete run.

What it runs is the code path of chapters 05-07 with ``profile="full"``
(:func:`emolab.experiments.prepare_segments`, :func:`~emolab.experiments.run_grid` over
:data:`~emolab.experiments.GRIDS`, :func:`~emolab.experiments.summarize`,
:func:`~emolab.experiments.fusion_gains` on :func:`~emolab.experiments.has_face_results`), on
the synthetic ``deap`` preset (DEAP's sizes: 40 trials of 63 s per subject, face video for
participants 1-22 with some trial videos missing) or the MAHNOB-HCI preset, or on a real data
folder.  The full profile's settings are kept (GBV-Net at 10/12 fps with its augmentations and
its pooled protocol, subjects with face video, batch 256) except two cuts: one fold per
subject-and-group (``max_folds=1``) and one epoch.

Projection.  Each finished cell gives a throughput, training sample-steps per second
(``n_train x epochs_run / train_seconds``, validation included), averaged per model x
modalities.  The complete full profile's work is counted from the dataset's real sizes: per
subject-level fold of ``n_splits`` k-fold, ``S (1 - 1/k) (1 - val_fraction)`` training samples
(``S`` = segments of one subject), ``n_face_subjects x n_splits`` such cells per group; a pooled
fold trains on ``n_face_subjects`` times that and there are ``n_splits`` of them; every cell at
the profile's ``epochs`` (an upper bound: early stopping usually ends sooner).  Wall time =
work / measured throughput, summed over the groups of the chapters' grids.  The GPU figure comes
from running the same script with ``--device cuda`` on a machine that has one.

Usage::

    # reduced size, CPU (about half an hour on 2 busy cores): 3 subjects, 2 with face video, 10 trials
    python benchmarks/rehearse_full.py --n-subjects 3 --face-subjects 2 --n-trials 10 --no-control
    # DEAP's real sizes (all 32 subjects; hours on a CPU: face extraction, two stores)
    python benchmarks/rehearse_full.py
    # the GPU measurement (prepared command; prints the same lines with device cuda)
    python benchmarks/rehearse_full.py --device cuda --n-subjects 4 --face-subjects 3

Output (one line each)::

    data: <fmt> <root>, <n> subjects (<k> with face video), <S> segments per subject
    grid <name>: <cells> cells in <seconds> s
    throughput <model> <modalities> <device>: <samples/s> sample-steps/s over <cells> cells
    projected <grid>: <sample-steps> sample-steps, <hours> h on <device>
    projected chapter <NN>: <hours> h on <device>
    projected full profile (chapters 05-07 grids, <fmt> at its real sizes): <hours> h on <device>
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emolab import experiments as ex
from emolab.data.synthetic import make_config

#: Real sizes (subjects with face video, trials, seconds of stimulus) of the datasets, for the
#: projection: DEAP 22 x 40 x 60 s; MAHNOB-HCI 27 x 20 x 60 s (the synthetic preset's choice of
#: clip length; real clips last 35-117 s).
REAL_SIZES = {"deap": (22, 40, 60), "mahnob": (27, 20, 60)}
#: Which grids each chapter trains (cells two chapters share are trained once, by the first).
CHAPTERS = {"05": ("unimodal", "control"), "06": ("fusion",), "07": ("gated",)}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fmt", choices=["deap", "mahnob"], default="deap")
    p.add_argument("--data-root", default=None, help="a real data folder (default: the synthetic preset)")
    p.add_argument("--n-subjects", type=int, default=None, help="synthetic: fewer subjects than the preset")
    p.add_argument("--face-subjects", type=int, default=None, help="synthetic: subjects with face video")
    p.add_argument("--n-trials", type=int, default=None, help="synthetic: fewer trials per subject")
    p.add_argument("--device", default="auto", help='"auto", "cpu" or "cuda"')
    p.add_argument("--no-control", action="store_true", help="skip chapter 05's control without trial signatures")
    p.add_argument("--workdir", default=None, help="synthetic data, stores and results (default: a temp dir)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main() -> None:
    args = parse()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="rehearse-"))
    profile = ex.get_profile("full", max_folds=1, epochs=1, patience=1)
    full = ex.get_profile("full")
    knobs = {k: v for k, v in (("n_subjects", args.n_subjects), ("face_subjects", args.face_subjects),
                               ("n_trials", args.n_trials)) if v is not None}  # fmt: skip
    if knobs and args.fmt == "deap":  # keep only the missing videos of subjects that exist
        base = make_config(fmt="deap", preset="deap")
        n = knobs.get("n_subjects", base.n_subjects)
        t = knobs.get("n_trials", base.n_trials)
        knobs["missing_videos"] = tuple((s, tr) for s, tr in base.missing_videos if s <= n and tr <= t)
    if args.n_trials is not None and args.n_trials < full.n_splits:
        raise SystemExit(f"--n-trials must be >= {full.n_splits}: trial-kfold splits each subject's trials "
                         f"into the full profile's {full.n_splits} folds")  # fmt: skip
    root = args.data_root
    if root is None:
        from emolab.data.synthetic import ensure_synthetic

        t0 = time.perf_counter()
        root = ensure_synthetic(fmt=args.fmt, preset="deap", seed=args.seed, root=work / f"syn-{args.fmt}",
                                verbose="WARNING", **knobs)  # fmt: skip
        print(f"synthetic data: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    dataset = ex.prepare_segments(root, profile=profile, seed=args.seed, fmt=args.fmt,
                                  store_root=work / "store", verbose="WARNING")  # fmt: skip
    meta = dataset.metadata
    per_subject = int(meta.groupby("subject").size().median())
    print(f"stores: {time.perf_counter() - t0:.1f} s")
    print(f"data: {args.fmt} {root}, {len(dataset.subjects)} subjects ({len(ex.face_subjects(dataset))} with "
          f"face video), {per_subject} segments per subject")  # fmt: skip
    results_path = work / "results" / "results.csv"
    run = dict(profile=profile, seed=args.seed, device=args.device, results_path=results_path, progress=False,
               verbose="WARNING")  # fmt: skip
    grids = {name: [(dataset, g.kwargs(), profile) for g in ex.grids(name)] for name in ("unimodal", "fusion", "gated")}
    if not args.no_control and args.data_root is None:
        control_grids = ex.grids("control")
        cprofile = control_grids[0].profile(profile)  # its preprocessing stamps no trial signature
        control = ex.prepare_segments(None, profile=cprofile, seed=args.seed, fmt=args.fmt, store_root=work / "store",
                                      verbose="WARNING", **{**knobs, **control_grids[0].synthetic[0]})  # fmt: skip
        grids["control"] = [(control, g.kwargs(), cprofile) for g in control_grids]
    frames = []
    for name, parts in grids.items():
        t0 = time.perf_counter()
        res = pd.concat([ex.run_grid(ds, **g, **{**run, "profile": prof}) for ds, g, prof in parts],
                        ignore_index=True)  # fmt: skip
        print(f"grid {name}: {res['cell_id'].nunique()} cells in {time.perf_counter() - t0:.1f} s")
        frames.append(res.assign(grid=name))
    results = pd.concat(frames, ignore_index=True)
    summary = ex.summarize(results)
    same = ex.has_face_results(results[results["grid"] != "control"], dataset, results_path)
    gains = ex.fusion_gains(same[same["protocol"] == "trial-kfold"])
    print(f"summary: {len(summary)} groups; fusion gains on the has-face test set: {len(gains)} rows")

    cells = results.drop_duplicates("cell_id")
    speed = (cells.assign(steps=cells["n_train"] * cells["epochs_run"])
             .groupby(["model", "modalities", "device"])[["steps", "train_seconds"]].sum())  # fmt: skip
    speed["rate"] = speed["steps"] / speed["train_seconds"]
    for (model, mods, device), r in speed.iterrows():
        n = int((cells["model"] == model).mul(cells["modalities"] == mods).sum())
        print(f"throughput {model} {mods} {device}: {r['rate']:.1f} sample-steps/s over {n} cells")
    rate = {(m, mods): r["rate"] for (m, mods, _), r in speed.iterrows()}
    device = ",".join(sorted(set(cells["device"])))

    n_face, n_trials, trial_s = REAL_SIZES[args.fmt]
    seg = n_trials * trial_s  # segments of one subject
    k, val = full.n_splits, full.val_fraction
    fold_train = seg * (1 - 1 / k) * (1 - val)
    total_h, grid_h = 0.0, {}
    counted = set()  # a cell two grids share (e.g. bio-only trial-kfold) is trained once, by the first
    for name in ("unimodal", "control", "fusion", "gated"):
        specs = [(g.kwargs(), json.dumps(g.synthetic, sort_keys=True)) for g in ex.grids(name)]
        steps = hours = 0.0
        for g, data in specs:
            for model in g["models"]:
                for mods in g["modalities"]:
                    key = "+".join(mods)
                    for proto in g["protocols"]:
                        proto = ex.paper_protocol(model) if proto == ex.PAPER_PROTOCOL else proto
                        tasks = [t for t in g["tasks"] if (data, model, key, proto, t) not in counted]
                        counted |= {(data, model, key, proto, t) for t in tasks}
                        if proto == "pooled-segment-kfold":
                            work_steps = k * n_face * fold_train * full.epochs
                        else:
                            work_steps = n_face * k * fold_train * full.epochs
                        work_steps *= len(tasks)
                        steps += work_steps
                        if (model, key) in rate:
                            hours += work_steps / rate[(model, key)] / 3600
                        else:
                            hours = float("nan")
        total_h += hours
        grid_h[name] = hours
        print(f"projected {name}: {steps:.3g} sample-steps, {hours:.1f} h on {device}")
    for chapter, names in CHAPTERS.items():
        print(f"projected chapter {chapter}: {sum(grid_h[n] for n in names):.1f} h on {device}")
    print(f"projected full profile (chapters 05-07 grids, {args.fmt} at its real sizes): {total_h:.1f} h on "
          f"{device} (upper bound: {full.epochs} epochs per cell, no early stopping)")  # fmt: skip
    if np.isnan(total_h):
        print("(nan: a model x modalities of the projection had no measured cell; run without --no-control)")


if __name__ == "__main__":
    main()
