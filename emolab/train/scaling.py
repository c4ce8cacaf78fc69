"""Normalisation fitted on the training fold: one mean and one scale per channel for all trials.

The papers' pipelines scale nothing, or scale each trial by its own baseline
(``PhysioConfig(normalize="baseline_std")``, :mod:`emolab.preprocess.physio`).  Scaling a trial
by its own statistics gives every segment of that trial the same per-channel gains: a trial
signature that a model can learn to recognise (chapter 09).  :class:`ChannelStandardizer` is
the alternative that stamps nothing: its statistics come from the training rows of a fold, the
same numbers are applied to every trial of the fold's training, validation and test rows, and
the test rows never contribute to them.  What it leaves: differences of scale between trials
stay as the recording made them.

>>> scaler = ChannelStandardizer.fit(train_bio)     # (n, C, L) float32   # doctest: +SKIP
>>> scaler.transform(test_bio).shape                                    # doctest: +SKIP
(n_test, C, L)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from emolab.train.config import STANDARDIZE

__all__ = ["STANDARDIZE", "ChannelStandardizer", "Standardized"]


@dataclass(frozen=True)
class ChannelStandardizer:
    """Per-channel mean and standard deviation of physiological segments.

    Attributes
    ----------
    mean, std : np.ndarray, float32, shape (C,)
        In the segments' units (µV for EEG, µS for GSR, …); ``std`` of a flat channel is 1.
    n_rows : int
        Segments the statistics were computed over.
    """

    mean: np.ndarray
    std: np.ndarray
    n_rows: int

    @classmethod
    def fit(cls, bio: np.ndarray | torch.Tensor, *, eps: float = 1e-12) -> "ChannelStandardizer":
        """Statistics of ``bio`` (n, C, L) over segments and time, per channel (float64 sums)."""
        x = bio.numpy() if isinstance(bio, torch.Tensor) else np.asarray(bio)
        if x.ndim != 3 or len(x) == 0:
            raise ValueError(f"fit needs segments of shape (n >= 1, C, L), got {x.shape}")
        x = x.astype(np.float64, copy=False)
        mean = x.mean(axis=(0, 2))
        std = x.std(axis=(0, 2))
        std = np.where(std < eps, 1.0, std)
        return cls(mean=mean.astype(np.float32), std=std.astype(np.float32), n_rows=int(len(x)))

    @classmethod
    def fit_rows(cls, dataset: Dataset, indices, *, chunk: int = 2048, eps: float = 1e-12) -> "ChannelStandardizer":
        """Statistics of the ``"bio"`` of items ``indices`` of ``dataset``, read ``chunk`` items
        at a time (a pooled fold of the whole of DEAP does not have to fit in memory).

        Datasets of the segment store are read with their batched ``arrays`` method, others item
        by item.  Chunks are combined exactly (Chan et al.'s pairwise update of mean and sum of
        squared deviations, in float64).
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            raise ValueError("no training rows to fit the standardisation on")
        n, mean, m2 = 0, None, None
        for start in range(0, len(idx), chunk):
            part = idx[start:start + chunk]
            if hasattr(dataset, "arrays"):
                x = dataset.arrays(part)["bio"]
            else:
                x = np.stack([np.asarray(dataset[int(i)]["bio"]) for i in part])
            x = np.asarray(x, dtype=np.float64)  # (b, C, L)
            k = x.shape[0] * x.shape[2]
            m = x.mean(axis=(0, 2))
            q = ((x - m[None, :, None]) ** 2).sum(axis=(0, 2))
            if mean is None:
                n, mean, m2 = k, m, q
            else:
                delta = m - mean
                total = n + k
                mean = mean + delta * k / total
                m2 = m2 + q + delta**2 * n * k / total
                n = total
        std = np.sqrt(m2 / n)
        std = np.where(std < eps, 1.0, std)
        return cls(mean=mean.astype(np.float32), std=std.astype(np.float32), n_rows=int(len(idx)))

    def transform(self, bio: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """``(bio - mean) / std`` per channel; (..., C, L) in, the same shape and type out."""
        if bio.shape[-2] != len(self.mean):
            raise ValueError(f"segments have {bio.shape[-2]} channels, the statistics {len(self.mean)}")
        if isinstance(bio, torch.Tensor):
            mean = torch.from_numpy(self.mean).to(bio.dtype)[:, None]
            std = torch.from_numpy(self.std).to(bio.dtype)[:, None]
            return (bio - mean) / std
        return ((np.asarray(bio) - self.mean[:, None]) / self.std[:, None]).astype(np.float32)


class Standardized(Dataset):
    """A dataset of dict items whose ``"bio"`` entry is standardised on the fly (the path of
    :func:`~emolab.train.sweep.run_fold` that does not gather a fold into memory)."""

    def __init__(self, dataset: Dataset, scaler: ChannelStandardizer) -> None:
        self.dataset = dataset
        self.scaler = scaler

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def targets(self) -> Any:
        return getattr(self.dataset, "targets", None)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        if item.get("bio") is not None:
            item["bio"] = self.scaler.transform(item["bio"])
        return item
