"""Training throughput of emolab's Trainer (samples per second), on whatever device "auto" picks.

    python benchmarks/bench_trainer.py [--model standin|safavi|gbvnet] [--n 4096] [--epochs 3]

Data are random tensors in the segment store's shapes (bio (40, 128), face (5, 3, 64, 64)) held in
memory, so the figure is model + trainer speed, not disk speed.  ``standin`` is a small conv net
used until/unless :func:`emolab.models.build_model` is available; the other names build the
papers' models.  Prints one line per epoch and the median samples/s of the epochs after the
first (which includes warm-up).
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch import nn
from torch.utils.data import Dataset

from emolab.train import TrainConfig, Trainer, seed_everything


class RandomSegments(Dataset):
    def __init__(self, n: int, n_chans: int, n_times: int, n_frames: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.bio = torch.randn(n, n_chans, n_times, generator=g)
        self.face = torch.rand(n, n_frames, 3, 64, 64, generator=g)
        self.labels = (torch.rand(n, 2, generator=g) > 0.5).float()

    def __len__(self) -> int:
        return len(self.bio)

    def __getitem__(self, i: int) -> dict:
        return {"bio": self.bio[i], "face": self.face[i], "has_face": True, "labels": self.labels[i]}


class StandIn(nn.Module):
    """Per-frame conv encoder + mean over frames, and a 1-D conv over the signals."""

    def __init__(self, n_chans: int) -> None:
        super().__init__()
        self.face = nn.Sequential(nn.Conv2d(3, 32, 4, stride=4), nn.GELU(), nn.Conv2d(32, 64, 3, padding=1),
                                  nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 64))
        self.bio = nn.Sequential(nn.Conv1d(n_chans, 64, 7, padding=3), nn.BatchNorm1d(64), nn.ReLU(),
                                 nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 64))
        self.head = nn.Linear(128, 1)

    def forward(self, face=None, bio=None):
        B, T = face.shape[:2]
        f = self.face(face.flatten(0, 1)).view(B, T, -1).mean(1)  # (B, T, 3, H, W) -> (B, 64)
        return self.head(torch.cat([f, self.bio(bio)], dim=1))  # (B, 128) -> (B, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="standin")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(0)
    n_chans, n_times, n_frames = 40, 128, 5
    if args.model == "standin":
        model = StandIn(n_chans)
    else:
        from emolab.models import build_model

        model = build_model(args.model, modalities=("face", "bio"), n_chans=n_chans, n_times=n_times,
                            n_frames=n_frames)
    cfg = TrainConfig(modalities=("face", "bio"), epochs=args.epochs, patience=args.epochs,
                      val_fraction=0.0, batch_size=args.batch_size, device=args.device,
                      precision=args.precision, progress=False)
    trainer = Trainer(model, cfg, verbose=False)
    hist = trainer.fit(RandomSegments(args.n, n_chans, n_times, n_frames))
    for h in hist:
        print(f"epoch {h['epoch']}: {h['samples_per_s']:.0f} samples/s ({h['seconds']:.2f} s)")
    steady = [h["samples_per_s"] for h in hist[1:]] or [hist[0]["samples_per_s"]]
    print(f"model={args.model} device={trainer.device} amp={trainer.amp_dtype} "
          f"threads={torch.get_num_threads()} batch={args.batch_size}: "
          f"median {statistics.median(steady):.0f} samples/s")


if __name__ == "__main__":
    main()
