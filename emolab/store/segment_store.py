"""An opened segment store folder: configuration, subjects, arrays, and its integrity check."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emolab._logging import logger
from emolab.store.integrity import (
    INTEGRITY_NAME,
    REBUILD_HINT,
    StoreIntegrityError,
    StoreProblem,
    file_sample_sha256,
    file_sha256,
    npy_expected_size,
)
from emolab.store.keys import store_key


class SegmentStore:
    """A built (possibly partly built) store folder: its configuration, subjects and arrays.

    Opening a store checks it (:meth:`check`) and refuses it with :class:`StoreIntegrityError`
    rather than serve data that may be wrong.  Every subject folder carries ``integrity.json``,
    written by :func:`build_store` as the last file before the folder is renamed into place:

    - ``inputs``: size and modification time (ns) of every file the subject was read from (the
      ``.dat`` / BDF, the ratings csv or session.xml, the face videos);
    - ``outputs``: size, SHA-256 and sampled SHA-256 of every file written (``bio.npy``,
      ``face.npy``, ..., ``segments.csv``, ``trials.csv``);
    - ``skipped``: what the reader went on without (:class:`~emolab.data.record.Skip`).

    The cheap check (always, on open) compares ``config.json`` with the folder's key, reads each
    ``integrity.json``, stats every output (present, recorded size), reads each ``.npy`` header
    (shape and dtype consistent with the size, rows matching the segment count) and compares each
    output's sampled checksum (:func:`~emolab.store.integrity.file_sample_sha256`: files up to
    1 MiB whole, larger ones through 16 blocks of 4 KiB from first byte to last, so a file
    rewritten with the same size - another subject's copy, new values over any sampled block - is
    refused), and stats every input that still exists (same size and modification time; inputs
    that are gone, e.g. a store copied to another machine, are logged once, not refused).  On a
    DEAP-sized store (32 subjects, 4.9 GB) the sampled checksums read 5.5 MB and add about 20 ms
    to opening it with the page cache warm (to about 40 ms) and about 150 ms with the store's
    pages evicted (37 -> 182 ms), against 9-16 s for the full check
    (``benchmarks/bench_store_integrity.py deap``, a 2-core development machine).  The full check
    (``verify=True``, ``emolab data verify-store``) recomputes every output's SHA-256 instead,
    which also catches bytes changed between the sampled blocks of a large file.

    Parameters
    ----------
    path : str or Path
        The store folder (``<store_root>/<dataset>-<key>``) holding ``config.json``.
    verify : bool
        Run the full check (checksums) instead of the cheap one.
    check : bool
        ``False`` skips checking altogether (:func:`build_store` checks itself to decide what to
        rebuild).

    Raises
    ------
    FileNotFoundError
        ``config.json`` is missing (not a store).
    StoreIntegrityError
        The check found a problem; the message lists them and says how to rebuild.
    """

    def __init__(self, path: str | Path, *, verify: bool = False, check: bool = True) -> None:
        self.path = Path(path)
        cfg = self.path / "config.json"
        if not cfg.is_file():
            raise FileNotFoundError(f"{cfg} is missing: {self.path} is not a segment store; "
                                    "build one with emolab.store.build_store")  # fmt: skip
        try:
            self.config: dict = json.loads(cfg.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreIntegrityError(f"{cfg}: not valid JSON ({exc}); delete {self.path} and build "
                                      "the store again") from None  # fmt: skip
        if not isinstance(self.config, dict) or "modalities" not in self.config:
            raise StoreIntegrityError(f"{cfg}: not a store configuration; delete {self.path} and "
                                      "build the store again")  # fmt: skip
        self.key: str = self.path.name.rsplit("-", 1)[-1]
        self._gone_inputs: set[Path] = set()  # inputs already reported as gone
        self._unsampled_logged = False  # a store without sampled checksums is logged once
        if check:
            self.raise_problems(self.check(full=verify))

    def __repr__(self) -> str:
        return f"SegmentStore({str(self.path)!r}, subjects={self.subjects})"

    # -- integrity ------------------------------------------------------------------------------

    def check(self, *, full: bool = False, subjects: Iterable[int] | None = None) -> list[StoreProblem]:
        """Check the store (see the class doc) and return what is wrong (empty: all fine).

        Parameters
        ----------
        full : bool
            Also recompute every output's SHA-256 (reads every byte; ``False``: stat and headers).
        subjects : iterable of int or None
            Only these subjects (default: every complete subject folder).
        """
        problems: list[StoreProblem] = []
        cfg = {k: v for k, v in self.config.items() if k != "face_shape"}
        if store_key(cfg) != self.key:
            problems.append(StoreProblem(None, self.path / "config.json",
                                         f"its content does not hash to the folder's key {self.key} "
                                         "(edited or damaged)"))  # fmt: skip
        for s in self.subjects if subjects is None else subjects:
            problems.extend(self._check_subject(int(s), full=full))
        return problems

    def raise_problems(self, problems: Sequence[StoreProblem]) -> None:
        """Raise :class:`StoreIntegrityError` listing ``problems`` (nothing when empty)."""
        if not problems:
            return
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise StoreIntegrityError(
            f"segment store {self.path} is not what was built: {shown}{more}; "
            + REBUILD_HINT.format(folder=self.path)
        )

    def integrity(self, subject: int) -> dict:
        """The subject's ``integrity.json`` (:class:`StoreIntegrityError` when unreadable)."""
        path = self.path / f"s{subject:02d}" / INTEGRITY_NAME
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreIntegrityError(f"{path}: missing; the subject folder was not written by "
                                      "build_store or is damaged") from None  # fmt: skip
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreIntegrityError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(record, dict) or not {"inputs", "outputs"} <= set(record):
            raise StoreIntegrityError(f"{path}: no 'inputs' and 'outputs' records")
        return record

    def _check_subject(self, subject: int, *, full: bool) -> list[StoreProblem]:
        folder = self.path / f"s{subject:02d}"
        try:
            record = self.integrity(subject)
        except StoreIntegrityError as exc:
            return [StoreProblem(subject, folder / INTEGRITY_NAME, str(exc).split(": ", 1)[-1])]
        problems = []
        n_segments = record.get("n_segments")
        for name, want in record["outputs"].items():
            path = folder / name
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                problems.append(StoreProblem(subject, path, "missing"))
                continue
            if size != want["size"]:
                problems.append(StoreProblem(subject, path, f"{size} bytes, {want['size']} were "
                                             "written (truncated or replaced)"))  # fmt: skip
                continue
            if name.endswith(".npy"):
                try:
                    shape, expected = npy_expected_size(path)
                except (ValueError, OSError, SyntaxError) as exc:
                    problems.append(StoreProblem(subject, path, f"not a readable .npy header ({exc})"))
                    continue
                if expected != size or (n_segments is not None and shape[:1] != (n_segments,)):
                    problems.append(StoreProblem(subject, path, f"header says shape {shape} "
                                                 f"({expected} bytes) in a {size}-byte file with "
                                                 f"{n_segments} segments"))  # fmt: skip
                    continue
            if full:
                if file_sha256(path) != want["sha256"]:
                    problems.append(StoreProblem(subject, path, "content differs from what was "
                                                 "written (SHA-256 mismatch)"))  # fmt: skip
            elif "sample_sha256" not in want:  # built before the sampled checksum existed
                if not self._unsampled_logged:
                    self._unsampled_logged = True
                    logger.info("%s was built without sampled checksums: a file overwritten in place with the same "
                                "size is found only by the full check (emolab data verify-store, or rebuild the "
                                "store to get them)", self.path)  # fmt: skip
            elif file_sample_sha256(path) != want["sample_sha256"]:
                problems.append(StoreProblem(subject, path, "content differs from what was written "
                                             "(sampled checksum mismatch: overwritten in place)"))  # fmt: skip
        for want in record["inputs"]:
            path = Path(want["path"])
            try:
                st = path.stat()
            except OSError:
                if path not in self._gone_inputs:
                    self._gone_inputs.add(path)
                    logger.info("%s: input of subject %d of %s no longer exists; cannot tell "
                                "whether it changed", path, subject, self.path)  # fmt: skip
                continue
            if (st.st_size, st.st_mtime_ns) != (want["size"], want["mtime_ns"]):
                problems.append(StoreProblem(subject, path, f"input of subject {subject} changed "
                                             "since the store was built (size or modification "
                                             "time differ)"))  # fmt: skip
        return problems

    def skipped(self, subjects: Sequence[int] | None = None) -> pd.DataFrame:
        """What the readers went on without while building these subjects: one row per
        :class:`~emolab.data.record.Skip` (``subject``, ``path``, ``what``, ``reason``)."""
        subjects = self.subjects if subjects is None else list(subjects)
        rows = [{"subject": s, **skip} for s in subjects
                for skip in self.integrity(s).get("skipped", [])]  # fmt: skip
        return pd.DataFrame(rows, columns=["subject", "path", "what", "reason"])

    # -- content --------------------------------------------------------------------------------

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.config["modalities"])

    @property
    def subjects(self) -> list[int]:
        """Subjects whose folder is complete (temporary folders are never listed)."""
        found = []
        for p in self.path.iterdir():
            if p.is_dir() and p.name[:1] == "s" and p.name[1:].isdigit():
                found.append(int(p.name[1:]))
        return sorted(found)

    def subject_dir(self, subject: int) -> Path:
        path = self.path / f"s{subject:02d}"
        if not path.is_dir():
            raise KeyError(f"subject {subject} is not in the store {self.path} "
                           f"(it has {self.subjects}); build it with build_store(subjects=[...])")  # fmt: skip
        return path

    def _load(self, path: Path, mmap: bool) -> np.ndarray:
        try:
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise StoreIntegrityError(f"{path}: cannot be read as .npy ({type(exc).__name__}: "
                                      f"{exc}); " + REBUILD_HINT.format(folder=path.parent)) from None  # fmt: skip

    def bio(self, subject: int, *, mmap: bool = True) -> np.ndarray:
        """float32 (n_segments, n_channels, n_times), memory-mapped by default."""
        return self._load(self.subject_dir(subject) / "bio.npy", mmap)

    def face(self, subject: int, *, mmap: bool = True) -> np.ndarray | None:
        """uint8 (n_segments, T, 3, S, S), or ``None`` when the subject has no face video."""
        path = self.subject_dir(subject) / "face.npy"
        return self._load(path, mmap) if path.is_file() else None

    def blendshapes(self, subject: int) -> np.ndarray | None:
        """float32 (n_segments, T, 52), or ``None``."""
        path = self.subject_dir(subject) / "blendshapes.npy"
        return self._load(path, True) if path.is_file() else None

    def _csv(self, path: Path, **kwargs) -> pd.DataFrame:
        try:
            return pd.read_csv(path, **kwargs)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
            raise StoreIntegrityError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); "
                                      + REBUILD_HINT.format(folder=path.parent)) from None  # fmt: skip

    def metadata(self, subjects: Sequence[int] | None = None) -> pd.DataFrame:
        """One row per segment; ``row`` is the segment's index in its subject's arrays."""
        subjects = self.subjects if subjects is None else list(subjects)
        frames = [self._csv(self.subject_dir(s) / "segments.csv") for s in subjects]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    def trials(self, subjects: Sequence[int] | None = None) -> pd.DataFrame:
        """One row per trial: windows, preprocessing steps and face detection figures."""
        subjects = self.subjects if subjects is None else list(subjects)
        frames = [self._csv(self.subject_dir(s) / "trials.csv", keep_default_na=False)
                  for s in subjects]  # fmt: skip
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def face_shape(self) -> tuple[int, int] | None:
        """(T, S) of the face windows, or ``None`` when the face modality was not built."""
        shape = self.config.get("face_shape")
        return None if shape is None else tuple(shape)

