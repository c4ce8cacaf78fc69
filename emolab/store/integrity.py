"""Store integrity: what a subject folder records about its inputs and outputs, and the errors."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolab.paths import file_sha256  # noqa: F401 - re-exported with the store's integrity API

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


#: The sampled checksum checked on every open (``outputs[name]["sample_sha256"]``): a file of up
#: to SAMPLE_WHOLE_BYTES is hashed whole; a larger one through SAMPLE_BLOCKS blocks of
#: SAMPLE_BYTES spread evenly from its first byte to its last (the ``.npy`` header included).
SAMPLE_WHOLE_BYTES = 1 << 20
SAMPLE_BLOCKS = 16
SAMPLE_BYTES = 4096


def sample_offsets(size: int) -> list[int]:
    """Start of each sampled block of a ``size``-byte file (``[0]``: the whole file is hashed)."""
    if size <= SAMPLE_WHOLE_BYTES:
        return [0]
    last = size - SAMPLE_BYTES
    return [round(i * last / (SAMPLE_BLOCKS - 1)) for i in range(SAMPLE_BLOCKS)]


def file_sample_sha256(path: Path) -> str:
    """SHA-256 of the sampled blocks of a file (:func:`sample_offsets`), hex; a few KiB read.

    Catches a file rewritten with the same size (another subject's copy, a re-encoded or restored
    file, values overwritten over any region a block falls in) on every open; bytes changed only
    between the blocks of a large file are caught by the full SHA-256 (:func:`file_sha256`).
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= SAMPLE_WHOLE_BYTES:
            return hashlib.file_digest(f, "sha256").hexdigest()
        digest = hashlib.sha256(size.to_bytes(8, "little"))
        for offset in sample_offsets(size):
            f.seek(offset)
            digest.update(f.read(SAMPLE_BYTES))
        return digest.hexdigest()


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


