"""The torch Dataset over a segment store, and the views of it the experiments open."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from emolab.data.record import MODALITIES
from emolab.store.segment_store import SegmentStore

# ---------------------------------------------------------------------------------------------
# the Dataset


#: Keys every item of a segment dataset carries besides its modalities, ``labels`` and ``ratings``.
META_KEYS = ("subject", "trial", "experiment_id", "segment", "has_face")


#: Tensor dtypes NumPy has no view of, stacked by torch instead.
_NUMPY_LESS = (torch.bfloat16,)


def stack_items(items: Sequence[dict], *, keys: Sequence[str] | None = None, as_numpy: bool = False) -> dict:
    """Stack item dicts key by key into one batch dict: the one collate function of the package.

    Tensors (e.g. ``"bio"`` (C, L)) become one tensor (n, C, L); arrays (and lists) one array (a
    tensor unless ``as_numpy``); bools, integers and floats one (n,) bool, int64 or float32 array or
    tensor.  Copies go through :func:`numpy.stack`, one thread: ``torch.stack`` and
    :func:`torch.utils.data.default_collate` run in torch's intra-op thread pool, and on a small,
    busy CPU machine waiting for that pool costs more than the copy itself
    (``benchmarks/bench_store.py`` measures both).

    Parameters
    ----------
    items : sequence of dict
        Items with the same keys, e.g. of :class:`SegmentDataset`.
    keys : sequence of str or None
        Keep only these keys (those the items lack are skipped); ``None``: every key.
    as_numpy : bool
        Arrays and scalars stay NumPy arrays (tensors stay tensors).

    Raises ``ValueError`` for no items, ``TypeError`` naming the key of a value of another type.
    """
    if not items:
        raise ValueError("cannot stack an empty list of items")
    first_item = items[0]
    out: dict = {}
    for key in first_item if keys is None else [k for k in keys if k in first_item]:
        first, values = first_item[key], [it[key] for it in items]
        if isinstance(first, torch.Tensor):
            if first.dtype in _NUMPY_LESS:  # no NumPy view of these: torch's own stack
                out[key] = torch.stack(values)
            else:
                out[key] = torch.from_numpy(np.stack([v.numpy() for v in values]))
            continue
        if isinstance(first, (np.ndarray, list, tuple)):
            arr = np.stack([np.asarray(v) for v in values])
        elif isinstance(first, (bool, np.bool_)):
            arr = np.asarray(values, dtype=bool)
        elif isinstance(first, (int, np.integer)):
            arr = np.asarray(values, dtype=np.int64)
        elif isinstance(first, (float, np.floating)):
            arr = np.asarray(values, dtype=np.float32)
        else:
            raise TypeError(f"stack_items: items hold a {type(first).__name__} under {key!r}, which has no "
                            "batch form; pass keys=[...] without it (or drop it from the items)")
        out[key] = arr if as_numpy else torch.from_numpy(arr)
    return out


def collate_segments(items: Sequence[dict]) -> dict:
    """Stack a list of :class:`SegmentDataset` items into a batch (:func:`stack_items`): like
    :func:`torch.utils.data.default_collate` (same keys, dtypes and shapes) but with
    :func:`numpy.stack`, which copies in one thread.  Use
    ``DataLoader(ds, collate_fn=collate_segments)``."""
    return stack_items(items)


def _to_unit_float(frames: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1].  NumPy, not torch: a single-threaded pass is faster on
    arrays this small than torch's thread pool (measured in benchmarks/bench_store.py)."""
    return np.divide(frames, np.float32(255.0), dtype=np.float32)


class SegmentDataset(torch.utils.data.Dataset):
    """Items of a segment store for the trainers: one 1 s segment of one trial per item.

    Each item is a dict:

    - ``"bio"``: float32 tensor (C, L) — when ``"bio"`` is selected;
    - ``"face"``: float32 tensor (T, 3, S, S) in [0, 1] (zeros when ``has_face`` is False) — when
      ``"face"`` is selected;
    - ``"has_face"``: bool (always False when ``"face"`` is not selected);
    - ``"labels"``: float32 (2,) binary [valence, arousal], ``rating >= threshold`` (DeepVANet's
      rule with threshold 5, the default);
    - ``"ratings"``: float32 (2,) the 1-9 ratings [valence, arousal];
    - ``"subject"``, ``"trial"``, ``"experiment_id"``, ``"segment"``: ints.

    ``metadata`` holds the same fields as a DataFrame (one row per item, in item order) so that the
    evaluation protocols can group segments by trial or subject without touching the arrays.

    Parameters
    ----------
    store : SegmentStore or path
    subjects : sequence of int or None
        Subset of the store's subjects (default: all).
    modalities : sequence of {"face", "bio"}
    threshold : float
        Rating threshold of the binary labels.
    """

    def __init__(
        self,
        store: SegmentStore | str | Path,
        *,
        subjects: Sequence[int] | None = None,
        modalities: Sequence[str] = MODALITIES,
        threshold: float = 5.0,
    ) -> None:
        self.store = store if isinstance(store, SegmentStore) else SegmentStore(store)
        self.modalities = tuple(modalities)
        missing = set(self.modalities) - set(self.store.modalities)
        if missing:
            raise ValueError(f"the store {self.store.path} was built without {sorted(missing)}; "
                             f"it has {list(self.store.modalities)}")  # fmt: skip
        subjects = self.store.subjects if subjects is None else list(subjects)
        absent = [s for s in subjects if s not in self.store.subjects]
        if absent:
            raise KeyError(f"subjects {absent} are not in the store {self.store.path}; build them "
                           "with build_store(subjects=[...])")  # fmt: skip
        self.subjects = subjects
        self.threshold = float(threshold)
        meta = self.store.metadata(subjects)
        if "face" not in self.modalities:
            meta["has_face"] = False
        meta["has_face"] = meta["has_face"].astype(bool)
        meta["label_valence"] = (meta["valence"] >= threshold).astype(np.float32)
        meta["label_arousal"] = (meta["arousal"] >= threshold).astype(np.float32)
        self.metadata: pd.DataFrame = meta
        self._subject = meta["subject"].to_numpy(np.int64)
        self._row = meta["row"].to_numpy(np.int64)
        self._has_face = meta["has_face"].to_numpy(bool)
        self._ratings = meta[["valence", "arousal"]].to_numpy(np.float32)
        self._labels = meta[["label_valence", "label_arousal"]].to_numpy(np.float32)
        self._ints = meta[["trial", "experiment_id", "segment"]].to_numpy(np.int64)
        self._face_shape = self.store.face_shape() if "face" in self.modalities else None
        self._arrays: dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self.metadata)

    def __getstate__(self) -> dict:
        # memory maps are re-opened in each DataLoader worker instead of being pickled (copied)
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def _open(self, subject: int) -> tuple:
        arrays = self._arrays.get(subject)
        if arrays is None:
            bio = self.store.bio(subject) if "bio" in self.modalities else None
            face = self.store.face(subject) if "face" in self.modalities else None
            arrays = self._arrays[subject] = (bio, face)
        return arrays

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """Batched fetch (used by :class:`torch.utils.data.DataLoader`): one memory-map read and
        one uint8 -> float32 conversion per subject in the batch instead of one per item."""
        idx = np.asarray(indices, dtype=np.int64)
        idx = np.where(idx < 0, idx + len(self), idx)
        items: list[dict | None] = [None] * len(idx)
        subjects = self._subject[idx]
        for subject in np.unique(subjects):
            pos = np.flatnonzero(subjects == subject)  # positions in the batch
            rows = self._row[idx[pos]]
            bio, face = self._open(int(subject))
            bio_b = face_b = None
            if bio is not None:
                bio_b = torch.from_numpy(np.asarray(bio[rows], dtype=np.float32))  # (b, C, L)
            if "face" in self.modalities:
                if face is not None:
                    face_np = _to_unit_float(face[rows])  # (b, T, 3, S, S)
                    face_np[~self._has_face[idx[pos]]] = 0.0
                    face_b = torch.from_numpy(face_np)
                else:
                    t, s = self._face_shape
                    face_b = torch.zeros((len(pos), t, 3, s, s), dtype=torch.float32)
            for j, p in enumerate(pos):
                items[p] = self._item(int(idx[p]), None if bio_b is None else bio_b[j],
                                      None if face_b is None else face_b[j])  # fmt: skip
        return items

    def arrays(self, indices: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """Many items at once as plain arrays, with one memory-map read per subject.

        What the trainers use to gather a whole fold before training
        (:class:`emolab.train.batches.InMemorySegments`).  Unlike the items, the face crops stay
        **uint8** (1 byte per value instead of 4): they are converted to float on the device that
        trains on them.

        Parameters
        ----------
        indices : sequence of int or None
            Positions in this dataset (default: all).

        Returns
        -------
        dict of arrays, one entry per item along the first axis
            ``"bio"`` float32 (n, C, L) and/or ``"face"`` uint8 (n, T, 3, S, S) (zeros where
            ``has_face`` is False), ``"has_face"`` bool (n,), ``"labels"`` and ``"ratings"``
            float32 (n, 2), ``"subject"``, ``"trial"``, ``"experiment_id"``, ``"segment"``
            int64 (n,).
        """
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        idx = np.where(idx < 0, idx + len(self), idx)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"indices out of range for {len(self)} segments")
        n, subjects, rows = len(idx), self._subject[idx], self._row[idx]
        has_face = self._has_face[idx]
        out: dict[str, np.ndarray] = {}
        for subject in np.unique(subjects):
            pos = np.flatnonzero(subjects == subject)  # positions in the output
            bio, face = self._open(int(subject))
            if bio is not None:
                if "bio" not in out:
                    out["bio"] = np.empty((n, *bio.shape[1:]), dtype=np.float32)
                out["bio"][pos] = bio[rows[pos]]  # (b, C, L)
            if "face" in self.modalities:
                if "face" not in out:
                    t, s = self._face_shape
                    out["face"] = np.zeros((n, t, 3, s, s), dtype=np.uint8)
                if face is not None:
                    keep = pos[has_face[pos]]
                    out["face"][keep] = face[rows[keep]]  # (b, T, 3, S, S) uint8
        out["has_face"] = has_face.copy()
        out["labels"], out["ratings"] = self._labels[idx].copy(), self._ratings[idx].copy()
        out["subject"] = subjects.copy()
        for j, key in enumerate(("trial", "experiment_id", "segment")):
            out[key] = self._ints[idx, j].copy()
        return out

    def _item(self, index: int, bio: torch.Tensor | None, face: torch.Tensor | None) -> dict:
        item: dict = {}
        if bio is not None:
            item["bio"] = bio
        if face is not None:
            item["face"] = face
        item["has_face"] = bool(self._has_face[index])
        item["labels"] = torch.from_numpy(self._labels[index].copy())
        item["ratings"] = torch.from_numpy(self._ratings[index].copy())
        trial, experiment_id, segment = (int(v) for v in self._ints[index])
        item.update(subject=int(self._subject[index]), trial=trial, experiment_id=experiment_id,
                    segment=segment)  # fmt: skip
        return item

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} segments")
        subject, row = int(self._subject[index]), int(self._row[index])
        bio, face = self._open(subject)
        bio_t = face_t = None
        if bio is not None:
            bio_t = torch.from_numpy(np.array(bio[row], dtype=np.float32))  # (C, L)
        if "face" in self.modalities:
            if self._has_face[index]:
                face_t = torch.from_numpy(_to_unit_float(face[row]))  # (T, 3, S, S)
            else:
                t, s = self._face_shape
                face_t = torch.zeros((t, 3, s, s), dtype=torch.float32)
        return self._item(index, bio_t, face_t)


def face_subjects(dataset) -> list[int]:
    """The subjects of ``dataset`` with a detected face in at least one segment, in its order.

    DEAP has face video for participants 1-22 only; MAHNOB-HCI sessions may lack theirs.  A
    dataset opened without the face modality has no face anywhere (``has_face`` all False).
    """
    meta = dataset.metadata
    with_face = set(meta.loc[meta["has_face"].to_numpy(bool), "subject"].astype(int))
    return [int(s) for s in dataset.subjects if int(s) in with_face]



class TrialHeads(torch.utils.data.Dataset):
    """The first ``segments_per_trial`` segments of every trial of a SegmentDataset.

    Behaves like the dataset it wraps (items, ``metadata`` with one row per kept item, ``store``,
    ``subjects``, ``modalities``); ``indices`` are the kept positions in the wrapped dataset.
    """

    def __init__(self, dataset, segments_per_trial: int) -> None:
        meta = dataset.metadata.reset_index(drop=True)
        # rank of each segment inside its trial, 0-based, by segment number
        order = meta.groupby(["subject", "trial"])["segment"].rank(method="first").to_numpy() - 1
        self.dataset = dataset
        self.segments_per_trial = int(segments_per_trial)
        self.indices = np.flatnonzero(order < self.segments_per_trial)
        self.metadata: pd.DataFrame = meta.iloc[self.indices].reset_index(drop=True)
        self.store, self.subjects, self.modalities = dataset.store, dataset.subjects, dataset.modalities

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        return self.dataset[int(self.indices[i])]

    def arrays(self, indices: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """:meth:`SegmentDataset.arrays <emolab.store.SegmentDataset.arrays>` of kept items."""
        keep = self.indices if indices is None else self.indices[np.asarray(indices, dtype=np.int64)]
        return self.dataset.arrays(keep)


def open_segments(store: str, subjects: Sequence[int] | None = None,
                  modalities: Sequence[str] = ("face", "bio"), segments_per_trial: int | None = None):
    """Open a built store as a dataset (also the data factory the sweep's workers call).

    Returns a :class:`~emolab.store.SegmentDataset`, or :class:`TrialHeads` of it when
    ``segments_per_trial`` is given.
    """
    ds = SegmentDataset(store, subjects=None if subjects is None else list(subjects), modalities=tuple(modalities))
    return ds if segments_per_trial is None else TrialHeads(ds, segments_per_trial)


def segment_shapes(dataset) -> dict[str, int]:
    """``n_chans``, ``n_times``, ``n_frames`` and ``image_size`` of a SegmentDataset — the model's
    input sizes."""
    store = dataset.store
    bio = store.bio(dataset.subjects[0])
    shape = store.face_shape()
    return {"n_chans": int(bio.shape[1]), "n_times": int(bio.shape[2]),
            "n_frames": int(shape[0]) if shape is not None else 5,
            "image_size": int(shape[1]) if shape is not None else 64}


