"""Generation time and size of the synthetic presets, face detection rate, fingerprint gap.

Usage::

    python benchmarks/bench_synthetic.py                      # smoke presets (DEAP and MAHNOB)
    python benchmarks/bench_synthetic.py --preset deap        # DEAP's real sizes (minutes, ~4 GB)
    python benchmarks/bench_synthetic.py --detection --fingerprint

Prints figures; asserts nothing (speed goals are read, not tested).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emolab.data.synthetic import design, ensure_synthetic, make_config, simulate_trial, subject_params  # noqa: E402
from emolab.data.synthetic.face import FaceRenderer  # noqa: E402
from emolab.data.synthetic.signals import trial_fingerprint  # noqa: E402


def bench_generation(fmt: str, preset: str, out: Path) -> None:
    start = time.perf_counter()
    root = ensure_synthetic(fmt=fmt, preset=preset, root=out / f"{fmt}-{preset}", verbose="WARNING")
    seconds = time.perf_counter() - start
    files = [p for p in root.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    videos = [p for p in files if p.suffix == ".avi"]
    print(f"{fmt:7s} {preset:6s}: {seconds:7.1f} s, {len(files):5d} files, {size / 1e6:9.1f} MB "
          f"({sum(p.stat().st_size for p in videos) / 1e6:.1f} MB in {len(videos)} videos)")  # fmt: skip


def bench_detection(n_subjects: int = 8, step_s: float = 0.5) -> None:
    from emolab.preprocess.landmarks import FaceLandmarker

    cfg = make_config(n_subjects=n_subjects)
    gt = design(cfg, seed=0)
    detected = total = 0
    start = time.perf_counter()
    with FaceLandmarker() as lm:
        for row in gt.groupby("subject").head(2).itertuples():
            sp = subject_params(cfg, seed=0, subject=row.subject)
            sim = simulate_trial(cfg, row, seed=0, sfreq=128.0)
            fp = trial_fingerprint(cfg, seed=0, subject=row.subject, experiment_id=row.experiment_id)
            frames = FaceRenderer(cfg, sp).render(
                times_s=cfg.baseline_s + np.arange(0, cfg.trial_s, step_s), valence=row.valence,
                arousal=row.arousal, onset_s=cfg.baseline_s, offset_s=cfg.baseline_s + cfg.trial_s,
                blinks=sim.blinks, fingerprint=fp, experiment_id=row.experiment_id, seed=0,
            )  # fmt: skip
            detected += sum(lm.detect(f) is not None for f in frames)
            total += len(frames)
    print(f"face detection: {detected}/{total} frames = {detected / total:.1%} "
          f"({n_subjects} subjects x 2 trials, {time.perf_counter() - start:.1f} s)")  # fmt: skip


def bench_fingerprint(strengths=(0.0, 0.5, 1.0, 2.0)) -> None:
    from emolab.data.synthetic.leakage import fingerprint_gap

    for strength in strengths:
        r = fingerprint_gap(make_config(n_subjects=4, n_trials=20, trial_s=8.0, fingerprint=strength))
        print(f"fingerprint {strength:3.1f}: segment k-fold {r.segment_kfold:.3f}, trial-grouped "
              f"{r.trial_kfold:.3f}, gap {100 * r.gap:+.1f} points")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke", choices=["smoke", "deap"])
    parser.add_argument("--format", nargs="+", default=["deap", "mahnob"], choices=["deap", "mahnob"])
    parser.add_argument("--out", type=Path, help="where to generate (default: a temporary folder)")
    parser.add_argument("--detection", action="store_true", help="also measure the face detection rate")
    parser.add_argument("--fingerprint", action="store_true", help="also measure the segment-vs-trial gap")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for fmt in args.format:
            bench_generation(fmt, args.preset, out)
    if args.detection:
        bench_detection()
    if args.fingerprint:
        bench_fingerprint()


if __name__ == "__main__":
    main()
