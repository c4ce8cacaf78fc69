"""One full pass over the cached segment store against copying the same bytes in memory.

Run: ``python benchmarks/bench_store.py [--subjects 2] [--trials 20] [--fps 5]``.

Builds a store of DEAP-shaped random trials (60 s, 40 channels) with random face crops from an
in-memory stand-in for the face extractor (the face pipeline has its own benchmark), then times,
page cache warm:

- ``copy``: ``np.copyto`` of the store's arrays already in RAM (the reference: the same bytes);
- ``float32 batches from RAM``: the Dataset's output (faces converted to float32 in [0, 1], 4x
  the bytes) computed from the arrays in RAM, without the store or the DataLoader;
- ``memmap``: reading every subject's memory-mapped arrays in 256-segment chunks;
- ``DataLoader``: iterating :class:`~emolab.store.SegmentDataset` with batches of 256
  (batched fetch, float32 faces in [0, 1], collation), in order and shuffled;
- the same with ``collate_fn=collate_segments`` (NumPy stacking);
- ``items``: ``ds[i]`` for every i (what a Dataset without batched fetch costs).

Collation (``torch.stack``) runs in torch's intra-op thread pool; on a loaded 2-core machine that
pool's synchronisation dominates, so ``--torch-threads 1`` is worth comparing.

Throughput is given in stored bytes per second for all rows, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emolab.data.channels import DEAP_CH_NAMES, DEAP_CH_TYPES
from emolab.data.record import Record
from emolab.store import SegmentDataset, build_store, collate_segments
from emolab.preprocess.face import FaceConfig


@dataclass
class _Windows:
    frames: np.ndarray
    valid: np.ndarray
    blendshapes: None = None
    detected: None = None
    stats: None = None


def _reader(root, subject, *, n_trials: int):
    rng = np.random.default_rng(subject)
    for t in range(1, n_trials + 1):
        yield Record(dataset="deap", subject=subject, trial=t, experiment_id=t,
                     signals=rng.normal(0, 10, (40, 8064)).astype(np.float32), sfreq=128.0,
                     ch_names=list(DEAP_CH_NAMES), ch_types=list(DEAP_CH_TYPES),
                     baseline_samples=384, ratings={"valence": 1.0 + t % 9, "arousal": 5.0},
                     video_path=Path(f"s{subject:02d}_trial{t:02d}.avi"))  # fmt: skip


def _extractor(video_path, *, n_windows, window_s, offset_s, config, landmarker):
    rng = np.random.default_rng(abs(hash(str(video_path))) % 2**32)
    t = config.frames_per_window(window_s)
    frames = rng.integers(0, 256, (n_windows, t, 3, config.size, config.size), dtype=np.uint8)
    valid = np.ones(n_windows, bool)
    valid[::17] = False
    return _Windows(frames=frames, valid=valid)


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads(N) first (default: torch's own choice)")
    args = parser.parse_args()
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    print(f"torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = build_store(
            Path(tmp) / "data", dataset="deap", subjects=list(range(1, args.subjects + 1)),
            face=FaceConfig(fps=args.fps), store_root=Path(tmp) / "store",
            reader=lambda root, s: _reader(root, s, n_trials=args.trials),
            face_extractor=_extractor, progress=False, verbose="WARNING",
        )  # fmt: skip
        build_s = time.perf_counter() - t0
        subjects = store.subjects
        n_seg = sum(len(store.bio(s)) for s in subjects)
        nbytes = sum(store.bio(s).nbytes + store.face(s).nbytes for s in subjects)
        print(f"store: {len(subjects)} subjects, {n_seg} segments, {nbytes / 2**20:.0f} MiB "
              f"(bio float32 + face uint8 at {args.fps:g} fps), built in {build_s:.1f} s")

        src = [np.load(p) for s in subjects for p in (store.path / f"s{s:02d}").glob("*.npy")
               if p.stem in ("bio", "face")]  # fmt: skip
        dst = [np.empty_like(a) for a in src]
        t_copy = _best(lambda: [np.copyto(d, a) for d, a in zip(dst, src)])
        del dst

        def ram_batches():  # the Dataset's output (float32 faces in [0, 1]) made from RAM arrays
            for arr in src:
                for i in range(0, len(arr), args.batch_size):
                    chunk = arr[i : i + args.batch_size]
                    if chunk.dtype == np.uint8:
                        torch.from_numpy(np.divide(chunk, np.float32(255.0), dtype=np.float32))
                    else:
                        torch.from_numpy(chunk.copy())

        t_ram = _best(ram_batches)
        del src

        def memmap_pass():
            for s in subjects:
                for arr in (store.bio(s), store.face(s)):
                    for i in range(0, len(arr), args.batch_size):
                        np.array(arr[i : i + args.batch_size])

        t_mm = _best(memmap_pass)
        ds = SegmentDataset(store)

        def loader_pass(shuffle: bool, collate=None):
            torch.manual_seed(0)
            loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=shuffle,
                                                 collate_fn=collate)  # fmt: skip
            for _ in loader:
                pass

        t_dl = _best(lambda: loader_pass(False))
        t_dl_shuf = _best(lambda: loader_pass(True))
        t_dl_np = _best(lambda: loader_pass(False, collate_segments))
        t_dl_np_shuf = _best(lambda: loader_pass(True, collate_segments))
        t_items = _best(lambda: [ds[i] for i in range(len(ds))], repeats=1)

        rows = [("copy in memory (reference)", t_copy), ("memmap read, 256-row chunks", t_mm),
                ("float32 batches from RAM (no store)", t_ram),
                ("DataLoader, batches of 256, in order", t_dl),
                ("DataLoader, batches of 256, shuffled", t_dl_shuf),
                ("  + collate_segments, in order", t_dl_np),
                ("  + collate_segments, shuffled", t_dl_np_shuf),
                ("ds[i] one item at a time", t_items)]  # fmt: skip
        print(f"{'pass':40s} {'seconds':>8s} {'MiB/s':>8s} {'segments/s':>11s} {'vs copy':>8s}")
        for name, t in rows:
            print(f"{name:40s} {t:8.3f} {nbytes / 2**20 / t:8.0f} {n_seg / t:11,.0f} "
                  f"{t_copy / t:8.0%}")


if __name__ == "__main__":
    main()
