"""Store integrity: what a subject folder records about its inputs and outputs, and the errors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------------
# the store


class StoreIntegrityError(ValueError):
    """A segment store whose files do not match what was recorded when it was built (or whose
    inputs changed since): it is refused, never served.  The message names the file and the fix."""


#: Per-subject record of what the subject was built from and what was written (see module doc).
INTEGRITY_NAME = "integrity.json"
REBUILD_HINT = ("run build_store (or emolab.experiments.prepare_segments) again, which rebuilds it, "
            "or delete {folder}")  # fmt: skip


@dataclass(frozen=True)
class StoreProblem:
    """One thing :meth:`SegmentStore.check` found wrong: the subject (``None`` for the whole
    store), the file, and what is wrong with it."""

    subject: int | None
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def file_stat(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex (:func:`hashlib.file_digest`)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def npy_expected_size(path: Path) -> tuple[tuple[int, ...], int]:
    """``(shape, expected file size)`` from a ``.npy`` header (:mod:`numpy.lib.format`)."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        version = fmt.read_magic(f)
        readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f".npy format version {version} is not one np.save writes here")
        shape, _fortran, dtype = readers[version](f)
        offset = f.tell()
    return tuple(shape), offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


