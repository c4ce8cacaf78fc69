"""What the segment store's integrity checks cost: on open (cheap) and on request (full).

Run: ``python benchmarks/bench_store_integrity.py smoke`` or ``... deap [--subjects 32]``.

- ``smoke``: builds the store the book's CI builds (:func:`emolab.experiments.prepare_segments`,
  smoke profile, face + bio, synthetic data) into a temporary folder, then times the build, the
  SHA-256 of what it wrote (the part of the build the checks add), opening the store (cheap
  check: ``config.json`` key, each ``integrity.json``, a stat of every input and output, every
  ``.npy`` header, every output's sampled checksum) and the full check (``verify=True``: every
  output's SHA-256).
- ``deap``: writes a store with the DEAP-sized synthetic preset's layout directly (32 subjects x
  40 trials x 60 one-second segments: bio (2400, 40, 128) float32, face (2400, 5, 3, 64, 64) uint8
  and blendshapes for the 22 subjects with video; per subject one ``.dat``, the ratings csv and
  40 videos as inputs, empty stand-ins since only their stat is read), skipping the preprocessing
  that would take hours on two cores, then times the same checks.

Both checks are timed twice: right after the build (page cache warm) and after evicting the
store's pages with ``posix_fadvise(DONTNEED)`` where the platform has it (closer to a cold read).
The cheap check is also timed without its sampled checksums (what it cost before they existed),
and the bytes those read are counted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _evict(folder: Path) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return True


class _MatchesAny:
    """Equal to every checksum: stands in for the sampled checksum to time the check without it."""

    def __eq__(self, other) -> bool:
        return True

    def __ne__(self, other) -> bool:
        return False


_MATCHES_ANY = _MatchesAny()


def _without_samples(fn):
    """Run ``fn`` with the store's sampled checksum replaced by one that reads nothing."""
    from emolab.store import segment_store

    real = segment_store.file_sample_sha256
    segment_store.file_sample_sha256 = lambda path: _MATCHES_ANY
    try:
        return fn()
    finally:
        segment_store.file_sample_sha256 = real


def _time(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _measure(path: Path, build_s: float | None) -> None:
    from emolab.store import SegmentStore, file_sha256, integrity

    store = SegmentStore(path, check=False)
    files = [p for p in path.rglob("*") if p.is_file()]
    mb = sum(p.stat().st_size for p in files) / 1e6
    n_inputs = sum(len(store.integrity(s)["inputs"]) for s in store.subjects)
    print(f"store {path.name}: {len(store.subjects)} subjects, {len(files)} files, {mb:.1f} MB, "
          f"{n_inputs} recorded inputs")  # fmt: skip
    if build_s is not None:
        hash_s = _time(lambda: [file_sha256(p) for p in files if p.name != "integrity.json"])
        print(f"  build {build_s:.1f} s, of which hashing the outputs ~{hash_s:.2f} s "
              f"({100 * hash_s / build_s:.1f} %)")  # fmt: skip
    outputs = [o for s in store.subjects for o in store.integrity(s)["outputs"].values()]
    sampled = sum(min(o["size"], integrity.SAMPLE_WHOLE_BYTES) if o["size"] <= integrity.SAMPLE_WHOLE_BYTES
                  else integrity.SAMPLE_BLOCKS * integrity.SAMPLE_BYTES for o in outputs)  # fmt: skip
    n = len(store.subjects)
    print(f"  sampled checksums read {sampled / 1e6:.1f} MB of the {mb:.1f} MB "
          f"({sum('sample_sha256' in o for o in outputs)} of {len(outputs)} outputs have one)")
    cheap = _time(lambda: SegmentStore(path), repeat=5)
    print(f"  open, cheap check, page cache warm: {1e3 * cheap:.1f} ms ({1e3 * cheap / n:.2f} ms/subject)")
    unsampled = _time(lambda: _without_samples(lambda: SegmentStore(path)), repeat=5)
    print(f"  open, cheap check without the sampled checksums, warm: {1e3 * unsampled:.1f} ms "
          f"(the sampled checksums: {1e3 * (cheap - unsampled):+.1f} ms)")  # fmt: skip
    if _evict(path):
        for label, open_it in (("", lambda: SegmentStore(path)),
                               (" without the sampled checksums",
                                lambda: _without_samples(lambda: SegmentStore(path)))):  # fmt: skip
            colds = []
            for _ in range(3):
                _evict(path)
                colds.append(_time(open_it))
            print(f"  open, cheap check{label}, pages evicted: {1e3 * min(colds):.1f} ms (best of 3; "
                  f"{1e3 * min(colds) / n:.2f} ms/subject)")  # fmt: skip
    warm = _time(lambda: SegmentStore(path, verify=True))
    print(f"  open, full check, page cache warm: {warm:.2f} s ({mb / warm:.0f} MB/s)")
    if _evict(path):
        cold = _time(lambda: SegmentStore(path, verify=True))
        print(f"  open, full check, pages evicted: {cold:.2f} s ({mb / cold:.0f} MB/s)")


def smoke(args) -> None:
    from emolab.experiments import prepare_segments

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ds = prepare_segments(None, profile="smoke", seed=0, store_root=tmp, verbose="WARNING")
        build_s = time.perf_counter() - t
        _measure(Path(ds.store.path), build_s)


def deap(args) -> None:
    from emolab.store import store_key
    from emolab.store.build import _write_json_atomic, _write_subject

    rng = np.random.default_rng(0)
    n_trials, n_seg, t, s = 40, 60, 5, 64
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        (data / "data_preprocessed_python").mkdir(parents=True)
        csv = data / "metadata_csv" / "participant_ratings.csv"
        csv.parent.mkdir()
        csv.write_text("Participant_id,Trial,Experiment_id\n")
        config = {"format": 2, "modalities": ["bio", "face"], "reader": {"root": str(data)}}
        folder = Path(tmp) / f"deap-{store_key(config)}"
        folder.mkdir()
        config["face_shape"] = [t, s]
        _write_json_atomic(folder / "config.json", config)
        bio = rng.normal(size=(n_trials * n_seg, 40, 128)).astype(np.float32)
        face = rng.integers(0, 255, (n_trials * n_seg, t, 3, s, s), dtype=np.uint8)
        blend = rng.random((n_trials * n_seg, t, 52), dtype=np.float32)
        segments = pd.DataFrame({"row": np.arange(n_trials * n_seg), "trial": np.repeat(np.arange(1, 41), n_seg)})
        trials = pd.DataFrame({"trial": np.arange(1, 41)})
        t0 = time.perf_counter()
        for subj in range(1, args.subjects + 1):
            dat = data / "data_preprocessed_python" / f"s{subj:02d}.dat"
            dat.write_bytes(b"")
            inputs = [dat, csv]
            arrays = {"bio": bio}
            if subj <= 22:
                for k in range(1, n_trials + 1):
                    v = data / "face_video" / f"s{subj:02d}" / f"s{subj:02d}_trial{k:02d}.avi"
                    v.parent.mkdir(parents=True, exist_ok=True)
                    v.write_bytes(b"")
                    inputs.append(v)
                arrays.update(face=face, blendshapes=blend)
            _write_subject(folder, subj, arrays, segments, trials, inputs=inputs)
        write_s = time.perf_counter() - t0
        print(f"wrote {args.subjects} DEAP-sized subjects in {write_s:.1f} s (np.save + SHA-256)")
        _measure(folder, build_s=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("smoke", help="the CI smoke store (builds it: a few minutes)")
    d = sub.add_parser("deap", help="a store with the DEAP-sized preset's layout")
    d.add_argument("--subjects", type=int, default=32)
    args = parser.parse_args()
    {"smoke": smoke, "deap": deap}[args.what](args)


if __name__ == "__main__":
    main()
