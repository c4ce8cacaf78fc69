"""Training-step throughput of every model at batch 256 on the CPU, next to plain matmul speed.

For each model of the registry (both modalities, the paper's fusion head) one training step is
forward + binary cross-entropy + backward + Adam update on a random batch.  The script prints
the median over ``--repeats`` timed steps (after ``--warmup`` untimed ones) as samples per
second, and the achieved GFLOP/s (training FLOPs per sample from
:func:`emolab.models.flops_per_sample` times samples per second).  For scale, it measures a
square ``torch.matmul`` in float32 in the same run, before and after the models (the machine may
be shared: a large difference between the two says the figures were taken under changing load).

Several ``--batch-size`` values give one row per model and batch, and a last table of each
model's time per sample relative to its smallest batch.  That is the most that training several
cells of one architecture as one computation (stacked parameters, a batch per cell) could gain
over training them one by one at the smallest batch: stacking K cells of batch B is at best one
step of batch K x B.

Usage::

    python benchmarks/bench_models.py                     # batch 256, DEAP 5 fps, 5 repeats
    python benchmarks/bench_models.py --n-frames 10 --threads 1
    # the CI profile's shapes, one thread per worker: how much bigger steps would help
    python benchmarks/bench_models.py --threads 1 --image-size 32 --batch-size 8 32 128
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import pandas as pd
import torch
from torch import nn

from emolab.models import MODEL_NAMES, build_model, count_parameters, flops_per_sample


def matmul_gflops(*, size: int, repeats: int, device: str) -> float:
    """Median GFLOP/s of ``a @ b`` for two ``(size, size)`` float32 matrices."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up
    rates = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_step_seconds(model: nn.Module, *, batch_size: int, repeats: int, warmup: int, device: str) -> list[float]:
    """Wall-clock seconds of ``repeats`` training steps (forward, BCE, backward, Adam)."""
    model.to(device).train()
    inputs = model.example_inputs(batch_size, seed=0)
    labels = torch.randint(0, 2, (batch_size, model.n_outputs), generator=torch.Generator().manual_seed(0))
    labels = labels.float().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        start = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        loss = nn.functional.binary_cross_entropy_with_logits(model(**inputs), labels)
        loss.backward()
        optimiser.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[256],
                        help="one or more batch sizes (default: the GBV-Net paper's 256)")
    parser.add_argument("--image-size", type=int, default=64, help="face crop side in pixels (papers: 64)")
    parser.add_argument("--n-chans", type=int, default=40)
    parser.add_argument("--n-frames", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--matmul-size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--modalities", nargs="+", default=["face+bio"], choices=["face", "bio", "face+bio"],
                        help="encoders alone (face, bio) or the fused model (default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
          f"batch {args.batch_size}, n_chans {args.n_chans}, n_frames {args.n_frames}, "
          f"{args.image_size}-px faces, median of {args.repeats} steps after {args.warmup} warm-up")

    mm_before = matmul_gflops(size=args.matmul_size, repeats=max(args.repeats, 5), device=args.device)
    rows = []
    for name, mods in itertools.product(args.models, args.modalities):
        model = build_model(name, modalities=tuple(mods.split("+")), n_chans=args.n_chans,
                            n_frames=args.n_frames, image_size=args.image_size, seed=0)
        flops = flops_per_sample(model, training=True)
        for batch in args.batch_size:
            times = train_step_seconds(model, batch_size=batch, repeats=args.repeats, warmup=args.warmup,
                                       device=args.device)
            step = statistics.median(times)
            rows.append({
                "model": name,
                "modalities": mods,
                "batch": batch,
                "params": count_parameters(model),
                "train MFLOP/sample": flops / 1e6,
                "step s (median)": step,
                "step s (min-max)": f"{min(times):.2f}-{max(times):.2f}",
                "ms/sample": 1e3 * step / batch,
                "samples/s": batch / step,
                "achieved GFLOP/s": flops * batch / step / 1e9,
            })
    mm_after = matmul_gflops(size=args.matmul_size, repeats=max(args.repeats, 5), device=args.device)
    table = pd.DataFrame(rows).set_index(["model", "modalities", "batch"])
    print(table.round(2).to_string())
    print(f"torch.matmul {args.matmul_size}x{args.matmul_size} float32: "
          f"{mm_before:.1f} GFLOP/s before, {mm_after:.1f} GFLOP/s after the models")
    if len(args.batch_size) > 1:
        per_sample = table["ms/sample"].unstack("batch")
        speedup = per_sample.rdiv(per_sample[min(args.batch_size)], axis=0)
        print(f"throughput relative to batch {min(args.batch_size)} (the ceiling of stacking cells):")
        print(speedup.round(2).to_string())
    return table


if __name__ == "__main__":
    main()
