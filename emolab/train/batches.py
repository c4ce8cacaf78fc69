"""A fold's segments gathered into memory once, served as ready-made batches.

Why: a training fold of the book's experiments is small (one subject's segments: a few hundred
items of ``(40, 128)`` signals and ``(T, 3, 64, 64)`` uint8 face crops, a few MB to a few hundred
MB), yet a :class:`torch.utils.data.DataLoader` rebuilds every batch from per-item dicts every
epoch: one Python dict, one tensor and one uint8 -> float conversion per item, then a stack.  On a
small CPU that bookkeeping costs as much as the model's step.  :class:`InMemorySegments` reads the
fold once (:meth:`SegmentDataset.arrays <emolab.store.SegmentDataset.arrays>`: one
memory-map read per subject), keeps the face crops as uint8 (a quarter of the memory, and a
quarter of the bytes copied to a GPU) and cuts batches by indexing the stacked tensors.  The
trainer converts face crops to float on the training device.

>>> fold = InMemorySegments.gather(dataset, train_idx, targets=y[train_idx])  # doctest: +SKIP
>>> for batch in fold.batches(64, order=torch.randperm(len(fold))):          # doctest: +SKIP
...     batch["face"].dtype, batch["face"].shape
(torch.uint8, torch.Size([64, 5, 3, 64, 64]))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from emolab.store.dataset import stack_items


class InMemorySegments(Dataset):
    """Stacked tensors of ``n`` segments, one entry per key along the first axis.

    Keys: ``"bio"`` float32 (n, C, L), ``"face"`` uint8 or float32 (n, T, 3, S, S), ``"labels"``
    float32 (n, 2), ``"target"`` float32 (n,) when the caller gave targets, and the integer
    metadata of :data:`~emolab.store.dataset.META_KEYS`.  Indexing returns one item's dict, like the segment store's
    datasets; :meth:`batches` serves whole batches without per-item work.
    """

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        sizes = {k: len(v) for k, v in tensors.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"all tensors need the same first dimension, got {sizes}")
        self.tensors = tensors
        self._n = next(iter(sizes.values())) if sizes else 0

    @classmethod
    def gather(
        cls,
        dataset: Dataset,
        indices: Sequence[int],
        *,
        targets: np.ndarray | None = None,
        keys: Sequence[str] | None = None,
    ) -> "InMemorySegments":
        """Read items ``indices`` of ``dataset`` into memory.

        Datasets of the segment store (they have an ``arrays`` method) are read in one batched
        call, face crops kept as uint8; any other dataset of dict items is read item by item and
        stacked.  ``targets`` (aligned with ``indices``) become the ``"target"`` key; ``keys``
        limits what is kept (default: everything the items have).
        """
        idx = np.asarray(indices, dtype=np.int64)
        if hasattr(dataset, "arrays"):
            arrays = dataset.arrays(idx)
        else:
            items = [dataset[int(i)] for i in idx]
            arrays = stack_items(items, as_numpy=True) if items else {}
        if targets is not None:
            targets = np.asarray(targets, dtype=np.float32)
            if len(targets) != len(idx):
                raise ValueError(f"{len(targets)} targets for {len(idx)} indices")
            arrays["target"] = targets
        if keys is not None:
            arrays = {k: v for k, v in arrays.items() if k in set(keys) | {"target"}}
        tensors = {}
        for k, v in arrays.items():
            t = v if isinstance(v, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(v))
            tensors[k] = t
        out = cls(tensors)
        out._n = len(idx)
        return out

    def __len__(self) -> int:
        return self._n

    @property
    def targets(self) -> np.ndarray | None:
        """The ``"target"`` values as a NumPy array (``None`` when none were given)."""
        t = self.tensors.get("target")
        return None if t is None else t.numpy()

    @property
    def nbytes(self) -> int:
        """Memory held by the tensors, in bytes."""
        return int(sum(t.element_size() * t.nelement() for t in self.tensors.values()))

    def batch(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        """The items at ``index`` stacked: every key indexed along its first axis."""
        index = torch.as_tensor(index, dtype=torch.int64)
        return {k: v.index_select(0, index) for k, v in self.tensors.items()}

    def batches(self, batch_size: int, *, order: torch.Tensor | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Consecutive batches of ``batch_size`` items in ``order`` (default: stored order); the
        last batch holds the remainder."""
        order = torch.arange(self._n) if order is None else torch.as_tensor(order, dtype=torch.int64)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start:start + batch_size])

    def __getitem__(self, i: int) -> dict:
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"index {i} out of range for {self._n} segments")
        item = {}
        for k, v in self.tensors.items():
            x = v[i]
            if k == "face" and x.dtype == torch.uint8:
                x = x.float() / 255.0  # items look like the store's: float in [0, 1]
            item[k] = x
        return item
