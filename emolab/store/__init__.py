"""The segment store (the layer between preprocessing and the models): preprocessed 1 s segments on disk, per subject, keyed by their configuration.

Building segments is the slow part of every experiment (MNE filtering, face detection), training
reads them many times.  :func:`build_store` runs the readers and both preprocessing chains once
and writes, per subject,

``<store>/sNN/bio.npy``
    float32 (n_segments, n_channels, n_times) — the physiological windows.
``<store>/sNN/face.npy``
    uint8 (n_segments, T, 3, S, S) — the face crops of each window (zeros where there is no face),
    only for subjects with at least one face video and when the face modality was built.
``<store>/sNN/blendshapes.npy``
    float32 (n_segments, T, 52) — mediapipe's blendshapes beside the crops (when available).
``<store>/sNN/segments.csv``
    one row per segment: subject, trial, experiment_id, segment, onset_s, has_face and ratings.
``<store>/sNN/trials.csv``
    one row per trial: windows, the preprocessing steps taken, face detection figures.
``<store>/sNN/integrity.json``
    what the subject was built from and what was written (see :class:`SegmentStore`).

Why ``.npy``: a subject's segments are one fixed-shape array, which ``.npy`` stores as a header plus
the raw bytes, so :func:`numpy.load` with ``mmap_mode="r"`` maps the file instead of reading it —
a Dataset touches only the segments it serves, many DataLoader workers share the operating
system's page cache, and there is no extra dependency or chunk decompression (zarr and HDF5 would
add both, for features we do not need: we never append to or partially rewrite a subject).

Why a key: the store's folder name is a hash of everything that determines its content — the
reader (dataset, data folder, reader function), :class:`~emolab.preprocess.physio.PhysioConfig`,
the face configuration and the modalities built.  Changing any field gives a new folder, so a cache
built with other settings is never silently reused (TorchEEG reuses an existing ``io_path``
whatever its parameters).  The subject list is deliberately *not* part of the key: asking for more
subjects later fills the same store in.

Why ``integrity.json``: the key cannot see files edited in place inside the data folder, nor bytes
damaged inside the store.  Each subject folder records the size and modification time of every
input file and the size, SHA-256 and a sampled SHA-256 (a few KiB of each file) of every file
written; :class:`SegmentStore` checks the cheap part (sizes, times, ``.npy`` headers, sampled
checksums) whenever it is opened and the full checksums on request (``verify=True``,
``emolab data verify-store``), and refuses a store that does not match;
:func:`build_store` rebuilds such subjects instead.

Why atomic: each subject is written into a hidden temporary folder that is renamed to ``sNN`` only
when every file is complete (a rename is atomic on one file system).  A process killed mid-subject
leaves only a temporary folder, which the next build removes; the next build then processes only
the subjects that are missing.

>>> store = build_store(root, dataset="deap", subjects=[1, 2])     # doctest: +SKIP
>>> ds = SegmentDataset(store, modalities=("face", "bio"))         # doctest: +SKIP
>>> ds[0]["bio"].shape, ds[0]["face"].shape                        # doctest: +SKIP
(torch.Size([40, 128]), torch.Size([5, 3, 64, 64]))
"""

from emolab.data.record import MODALITIES
from emolab.store.build import build_store
from emolab.store.dataset import (META_KEYS, SegmentDataset, TrialHeads, collate_segments, face_subjects, open_segments,
                                  segment_shapes, stack_items)
from emolab.store.integrity import INTEGRITY_NAME, StoreIntegrityError, StoreProblem, file_sha256
from emolab.store.keys import STORE_FORMAT, ReaderConfig, store_config, store_key
from emolab.store.segment_store import SegmentStore

__all__ = [
    "INTEGRITY_NAME", "META_KEYS", "MODALITIES", "STORE_FORMAT", "ReaderConfig", "SegmentDataset", "SegmentStore",
    "StoreIntegrityError", "StoreProblem", "TrialHeads", "build_store", "collate_segments", "face_subjects",
    "file_sha256", "open_segments", "segment_shapes", "stack_items", "store_config", "store_key",
]  # fmt: skip
