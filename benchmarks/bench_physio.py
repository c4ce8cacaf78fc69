"""Physiological segments per second through the whole chain of :mod:`emolab.preprocess.physio`.

Run: ``python benchmarks/bench_physio.py [--trials 40] [--deap-root DIR]``.

Two in-memory workloads with the real shapes (no disk): DEAP preprocessed trials (40 channels,
63 s at 128 Hz: no resampling, no band-pass, EOG regression and the rest) and MAHNOB-HCI trials
(46 channels, 30 s baseline + 90 s at 256 Hz: resampling, average reference, 4-45 Hz band-pass).
With ``--deap-root`` the DEAP reader is timed too (read + preprocess, per subject).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emolab.data.channels import DEAP_CH_NAMES, DEAP_CH_TYPES, MAHNOB_CH_NAMES, MAHNOB_CH_TYPES
from emolab.data.record import Record
from emolab.preprocess.physio import PhysioConfig, preprocess_record


def _records(dataset: str, n: int, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    if dataset == "deap":
        names, types, sfreq, pre, stim = DEAP_CH_NAMES, DEAP_CH_TYPES, 128.0, 3.0, 60.0
    else:
        names, types, sfreq, pre, stim = MAHNOB_CH_NAMES, MAHNOB_CH_TYPES, 256.0, 30.0, 90.0
    n_samples = int((pre + stim) * sfreq)
    return [
        Record(dataset=dataset, subject=1, trial=k + 1, experiment_id=k + 1,
               signals=rng.normal(0, 10, (len(names), n_samples)).astype(np.float32),
               sfreq=sfreq, ch_names=list(names), ch_types=list(types),
               baseline_samples=int(pre * sfreq), ratings={"valence": 5.0, "arousal": 5.0})
        for k in range(n)
    ]  # fmt: skip


def _time(records: list[Record], config: PhysioConfig) -> tuple[float, int]:
    preprocess_record(records[0], config)  # warm-up (imports, filter design caches)
    t0 = time.perf_counter()
    n_seg = sum(preprocess_record(r, config).n_windows for r in records)
    return time.perf_counter() - t0, n_seg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per workload")
    parser.add_argument("--deap-root", default=None, help="a DEAP-format folder to read too")
    args = parser.parse_args()
    config = PhysioConfig()
    print(f"PhysioConfig: {config}")
    for dataset in ("deap", "mahnob"):
        dt, n_seg = _time(_records(dataset, args.trials), config)
        print(f"{dataset:7s} in memory: {args.trials} trials, {n_seg} segments in {dt:.2f} s -> "
              f"{n_seg / dt:,.0f} segments/s, {args.trials / dt:.1f} trials/s")
    if args.deap_root:
        from emolab.data import read_deap
        from emolab.data.deap import list_deap_subjects

        subjects = list_deap_subjects(args.deap_root)
        t0 = time.perf_counter()
        n_seg = sum(preprocess_record(r, config).n_windows
                    for r in read_deap(args.deap_root, subjects=subjects, verbose=False))  # fmt: skip
        dt = time.perf_counter() - t0
        print(f"deap read + preprocess ({len(subjects)} subjects): {n_seg} segments in {dt:.2f} s"
              f" -> {n_seg / dt:,.0f} segments/s")


if __name__ == "__main__":
    main()
