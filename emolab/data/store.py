"""The segment store: preprocessed 1 s segments on disk, per subject, keyed by their configuration.

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
input file and the size and SHA-256 of every file written; :class:`SegmentStore` checks the cheap
part (sizes, times, ``.npy`` headers) whenever it is opened and the checksums on request
(``verify=True``, ``emolab data verify-store``), and refuses a store that does not match;
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

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from emolab._logging import logger, use_log_level
from emolab.data.record import Record, RecordError, Skip
from emolab.paths import cache_dir
from emolab.preprocess.physio import PhysioConfig, preprocess_record

STORE_FORMAT = 2  # 2: integrity.json per subject.  Bump when the on-disk layout changes: old stores get a new key
MODALITIES = ("face", "bio")
_TMP_PREFIX = ".tmp-"


@dataclass
class ReaderConfig:
    """What the records come from (part of the store key).

    Attributes
    ----------
    dataset : {"deap", "mahnob"}
    root : str
        The data folder, resolved to an absolute path.
    reader : str
        Dotted name of the function that reads one subject's records.
    """

    dataset: str
    root: str
    reader: str


# ---------------------------------------------------------------------------------------------
# keys


def _config_dict(obj) -> dict | None:
    if obj is None:
        return None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return dict(obj)
    raise TypeError(f"expected a config dataclass or dict, got {type(obj).__name__}")


def _json_default(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot put {type(obj).__name__} ({obj!r}) into a store key")


def store_config(
    reader: ReaderConfig, physio: PhysioConfig, face, modalities: Sequence[str]
) -> dict:
    """The JSON-able description of a store's content, the input of :func:`store_key`."""
    mods = sorted(set(modalities))
    return {
        "format": STORE_FORMAT,
        "reader": dataclasses.asdict(reader),
        "physio": dataclasses.asdict(physio),
        "face": _config_dict(face) if "face" in mods else None,
        "modalities": mods,
    }


def store_key(config: dict) -> str:
    """16 hex digits of the SHA-256 of ``config`` as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# reading the datasets subject by subject


def _qualname(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def mahnob_sessions_by_subject(root: str | Path) -> dict[int, list[int]]:
    """Map subject id -> sorted ids of its rated stimulus sessions (``isStim="1"`` with felt
    valence and arousal), read with :func:`emolab.data.mahnob.read_session_xml`."""
    from emolab.data.mahnob import list_mahnob_sessions, read_session_xml

    out: dict[int, list[int]] = {}
    for sid in list_mahnob_sessions(root):
        info = read_session_xml(Path(root) / "Sessions" / str(sid) / "session.xml")
        if info.is_stim and info.ratings is not None:
            out.setdefault(info.subject, []).append(sid)
    return {s: sorted(v) for s, v in sorted(out.items())}


def list_subjects(root: str | Path, dataset: str) -> list[int]:
    """The subjects present in a data folder (DEAP: ``sNN.dat`` files; MAHNOB: rated sessions)."""
    if dataset == "deap":
        from emolab.data.deap import list_deap_subjects

        subjects = list_deap_subjects(root)
    elif dataset == "mahnob":
        subjects = list(mahnob_sessions_by_subject(root))
    else:
        raise ValueError(f"unknown dataset {dataset!r}; use 'deap' or 'mahnob'")
    if not subjects:
        raise FileNotFoundError(
            f"no {dataset} subjects under {root} (expected "
            + ("data_preprocessed_python/sNN.dat" if dataset == "deap" else "Sessions/*/session.xml")
            + "); check the folder or run `emolab data verify`"
        )
    return subjects


def default_reader(dataset: str) -> Callable[[Path, int], Iterable[Record]]:
    """``reader(root, subject) -> records`` for a dataset, over :mod:`emolab.data`'s readers."""
    if dataset == "deap":

        def read_deap_subject(root: Path, subject: int, *, skips: list | None = None) -> Iterable[Record]:
            from emolab.data import read_deap

            return read_deap(root, subjects=[subject], skips=skips, verbose=False)

        read_deap_subject.__qualname__ = "read_deap"
        read_deap_subject.__module__ = "emolab.data"
        return read_deap_subject
    if dataset == "mahnob":

        def read_mahnob_subject(root: Path, subject: int, *, skips: list | None = None) -> Iterable[Record]:
            from emolab.data import read_mahnob

            sessions = mahnob_sessions_by_subject(root).get(subject)
            if not sessions:
                raise ValueError(f"{root}: no rated stimulus session of subject {subject} "
                                 "under Sessions/")  # fmt: skip
            return read_mahnob(root, sessions=sessions, skips=skips, verbose=False)

        read_mahnob_subject.__qualname__ = "read_mahnob"
        read_mahnob_subject.__module__ = "emolab.data"
        return read_mahnob_subject
    raise ValueError(f"unknown dataset {dataset!r}; use 'deap' or 'mahnob'")


# ---------------------------------------------------------------------------------------------
# the store


class StoreIntegrityError(ValueError):
    """A segment store whose files do not match what was recorded when it was built (or whose
    inputs changed since): it is refused, never served.  The message names the file and the fix."""


#: Per-subject record of what the subject was built from and what was written (see module doc).
INTEGRITY_NAME = "integrity.json"
_REBUILD = ("run build_store (or emolab.experiments.prepare_segments) again, which rebuilds it, "
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


def _file_stat(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex (:func:`hashlib.file_digest`)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _npy_expected_size(path: Path) -> tuple[tuple[int, ...], int]:
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


class SegmentStore:
    """A built (possibly partly built) store folder: its configuration, subjects and arrays.

    Opening a store checks it (:meth:`check`) and refuses it with :class:`StoreIntegrityError`
    rather than serve data that may be wrong.  Every subject folder carries ``integrity.json``,
    written by :func:`build_store` as the last file before the folder is renamed into place:

    - ``inputs``: size and modification time (ns) of every file the subject was read from (the
      ``.dat`` / BDF, the ratings csv or session.xml, the face videos);
    - ``outputs``: size and SHA-256 of every file written (``bio.npy``, ``face.npy``, ...,
      ``segments.csv``, ``trials.csv``);
    - ``skipped``: what the reader went on without (:class:`~emolab.data.record.Skip`).

    The cheap check (always, on open) compares ``config.json`` with the folder's key, reads each
    ``integrity.json``, stats every output (present, recorded size) and reads each ``.npy``
    header (shape and dtype consistent with the size, rows matching the segment count), and
    stats every input that still exists (same size and modification time; inputs that are gone,
    e.g. a store copied to another machine, are logged once, not refused).  The full check
    (``verify=True``, ``emolab data verify-store``) also recomputes every output's SHA-256, which
    catches bytes overwritten in place.

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
                                    "build one with emolab.data.store.build_store")  # fmt: skip
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
            + _REBUILD.format(folder=self.path)
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
                    shape, expected = _npy_expected_size(path)
                except (ValueError, OSError, SyntaxError) as exc:
                    problems.append(StoreProblem(subject, path, f"not a readable .npy header ({exc})"))
                    continue
                if expected != size or (n_segments is not None and shape[:1] != (n_segments,)):
                    problems.append(StoreProblem(subject, path, f"header says shape {shape} "
                                                 f"({expected} bytes) in a {size}-byte file with "
                                                 f"{n_segments} segments"))  # fmt: skip
                    continue
            if full and file_sha256(path) != want["sha256"]:
                problems.append(StoreProblem(subject, path, "content differs from what was written "
                                             "(SHA-256 mismatch)"))  # fmt: skip
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
                                      f"{exc}); " + _REBUILD.format(folder=path.parent)) from None  # fmt: skip

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
                                      + _REBUILD.format(folder=path.parent)) from None  # fmt: skip

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_tmp(folder: Path) -> None:
    """Delete temporary subject folders left by processes that no longer run."""
    for p in folder.glob(f"{_TMP_PREFIX}*"):
        parts = p.name[len(_TMP_PREFIX):].split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else -1
        if not _pid_alive(pid):
            logger.info("removing %s left by an interrupted build", p.name)
            shutil.rmtree(p, ignore_errors=True)


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{os.getpid()}-{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))
    os.replace(tmp, path)


def _face_dims(face_cfg, window_s: float) -> tuple[int, int]:
    fps = getattr(face_cfg, "fps", None)
    size = getattr(face_cfg, "size", None)
    if fps is None or size is None:
        raise TypeError("the face configuration needs `fps` and `size` fields")
    return int(round(fps * window_s)), int(size)


def _process_subject(
    records: Iterable[Record],
    *,
    subject: int,
    physio: PhysioConfig,
    face_cfg,
    want_face: bool,
    extractor: Callable | None,
    landmarker,
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Preprocess one subject's trials; return arrays, the segment table and the trial table."""
    bio_parts, face_parts, blend_parts, seg_rows, trial_rows = [], [], [], [], []
    inputs: list[Path] = []
    for rec in records:
        if rec.subject != subject:
            raise ValueError(f"{rec.source}: the reader returned subject {rec.subject} "
                             f"when asked for subject {subject}")  # fmt: skip
        if "valence" not in rec.ratings or "arousal" not in rec.ratings:
            raise ValueError(f"{rec.source}: no valence/arousal rating; the reader should only "
                             "yield rated trials")  # fmt: skip
        rec.validate()  # finite samples, 1-9 ratings: whatever the reader
        inputs.extend(p for p in rec.input_files() if p not in inputs)
        seg = preprocess_record(rec, physio)
        bad = np.argwhere(~np.isfinite(seg.data))
        if len(bad):
            w, ch = (int(i) for i in bad[0][:2])
            raise RecordError(f"{rec.where}: preprocessing made non-finite values in window {w}, "
                              f"channel {seg.ch_names[ch]}; check PhysioConfig for this recording")  # fmt: skip
        n = seg.n_windows
        bio_parts.append(seg.data)
        has_face = np.zeros(n, dtype=bool)
        trial = {"subject": subject, "trial": rec.trial, "experiment_id": rec.experiment_id,
                 "n_segments": n, "steps": " | ".join(seg.steps),
                 "video": "" if rec.video_path is None else str(rec.video_path),
                 "face_valid_segments": 0, "face_detection_rate": np.nan}  # fmt: skip
        if want_face and rec.video_path is not None:
            try:
                fw = extractor(
                    rec.video_path, n_windows=n, window_s=physio.window_s,
                    offset_s=rec.video_offset_s, config=face_cfg, landmarker=landmarker,
                )  # fmt: skip
            except (ValueError, OSError) as exc:
                if str(rec.video_path) in str(exc):
                    raise
                raise type(exc)(f"{rec.video_path}: {exc} (subject {subject}, trial "
                                f"{rec.trial})") from exc  # fmt: skip
            frames = np.asarray(fw.frames)
            if frames.shape[0] != n or frames.dtype != np.uint8 or frames.ndim != 5:
                raise ValueError(f"{rec.video_path}: face extractor returned frames "
                                 f"{frames.shape} {frames.dtype}, expected ({n}, T, 3, S, S) uint8")
            has_face = np.asarray(fw.valid, dtype=bool).copy()
            frames = frames.copy()
            frames[~has_face] = 0  # no face in the window: excluded from the face modality
            face_parts.append(frames)
            blend = getattr(fw, "blendshapes", None)
            blend_parts.append(None if blend is None else np.asarray(blend, dtype=np.float32))
            detected = getattr(fw, "detected", None)
            trial["face_valid_segments"] = int(has_face.sum())
            if detected is not None:
                trial["face_detection_rate"] = float(np.mean(detected))
            stats = getattr(fw, "stats", None)
            if dataclasses.is_dataclass(stats):
                stats = dataclasses.asdict(stats)
            if isinstance(stats, dict):
                for k, v in stats.items():
                    if np.isscalar(v):
                        trial[f"face_{k}"] = v
        else:
            face_parts.append(None)
            blend_parts.append(None)
        trial_rows.append(trial)
        for i in range(n):
            row = {"subject": subject, "trial": rec.trial, "experiment_id": rec.experiment_id,
                   "segment": i, "onset_s": float(seg.onsets_s[i]), "has_face": bool(has_face[i])}  # fmt: skip
            row.update({k: float(v) for k, v in rec.ratings.items()})
            seg_rows.append(row)
    if not bio_parts:
        raise ValueError(f"the reader returned no records for subject {subject}")

    arrays: dict[str, np.ndarray] = {"bio": np.concatenate(bio_parts)}  # (N, C, L)
    if any(f is not None for f in face_parts):
        shape = next(f for f in face_parts if f is not None).shape[1:]  # (T, 3, S, S)
        arrays["face"] = np.concatenate(
            [f if f is not None else np.zeros((len(b),) + shape, np.uint8)
             for f, b in zip(face_parts, bio_parts)]
        )  # fmt: skip
        if all(b is not None for f, b in zip(face_parts, blend_parts) if f is not None):
            bshape = next(b for b in blend_parts if b is not None).shape[1:]  # (T, 52)
            arrays["blendshapes"] = np.concatenate(
                [b if b is not None else np.zeros((len(p),) + bshape, np.float32)
                 for b, p in zip(blend_parts, bio_parts)]
            )  # fmt: skip
    segments = pd.DataFrame(seg_rows)
    segments.insert(0, "row", np.arange(len(segments)))
    return arrays, segments, pd.DataFrame(trial_rows), inputs


def _write_subject(folder: Path, subject: int, arrays, segments, trials, *,
                   inputs: Sequence[Path] = (), skipped: Sequence[Skip] = ()) -> None:  # fmt: skip
    """Write one subject into a temporary folder, then rename it into place (atomic).

    ``integrity.json`` is written last: size and modification time of each input that exists,
    size and SHA-256 of each file written, the skips.  A subject folder already there (being
    rebuilt) is replaced only once the new one is complete.
    """
    final = folder / f"s{subject:02d}"
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = folder / f"{_TMP_PREFIX}s{subject:02d}-{tag}"
    tmp.mkdir()
    try:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr)
        segments.to_csv(tmp / "segments.csv", index=False)
        trials.to_csv(tmp / "trials.csv", index=False)
        outputs = {p.name: {"size": p.stat().st_size, "sha256": file_sha256(p)}
                   for p in sorted(tmp.iterdir())}  # fmt: skip
        record = {
            "subject": subject,
            "n_segments": len(segments),
            "inputs": [_file_stat(Path(p)) for p in inputs if Path(p).is_file()],
            "outputs": outputs,
            "skipped": [s.to_dict() for s in skipped],
        }
        (tmp / INTEGRITY_NAME).write_text(json.dumps(record, indent=1, default=_json_default))
        if final.exists():  # a rebuild: move the old one aside, then swap
            old = folder / f"{_TMP_PREFIX}s{subject:02d}old-{tag}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_store(
    root: str | Path,
    *,
    dataset: str = "deap",
    subjects: Sequence[int] | None = None,
    physio: PhysioConfig | None = None,
    face=None,
    modalities: Sequence[str] = MODALITIES,
    store_root: str | Path | None = None,
    reader: Callable[[Path, int], Iterable[Record]] | None = None,
    face_extractor: Callable | None = None,
    progress: bool = True,
    verify: bool = False,
    n_jobs: int = 1,
    verbose: bool | str | None = None,
) -> SegmentStore:
    """Preprocess the subjects that are not in the store yet (or no longer match it) and return
    the store.

    Subjects already present are checked first (:meth:`SegmentStore.check`: cheap, or full with
    ``verify=True``); one whose inputs changed since it was built, or whose files do not match
    what was written, is rebuilt (with a warning naming the file) instead of served.  Every record
    passes :meth:`~emolab.data.record.Record.validate` and the preprocessed windows must be finite,
    so a non-finite sample stops the build with an error naming the file, trial and channel.

    Parameters
    ----------
    root : path
        The data folder in the dataset's real layout (or :func:`ensure_synthetic`'s).
    dataset : {"deap", "mahnob"}
    subjects : sequence of int or None
        Subjects to make sure are present; ``None``: every subject in ``root``.
    physio : PhysioConfig
        Physiological settings (default: the papers').
    face : FaceConfig or None
        Face settings (default ``FaceConfig()`` when ``"face"`` is in ``modalities``).
    modalities : sequence of {"face", "bio"}
        What to build.  ``"bio"`` is always built (it defines the segments).
    store_root : path or None
        Parent folder of stores; default :func:`emolab.cache_dir` ``("store")``.
    reader : callable ``(root, subject) -> iterable of Record`` or None
        Default: :func:`emolab.data.read_deap` / :func:`~emolab.data.read_mahnob` for one subject.
    face_extractor : callable or None
        Same signature as :func:`emolab.preprocess.face.extract_face_windows` (the default); a
        mediapipe landmarker is opened once for the build only when the default is used.
    progress : bool
        Show a tqdm bar over subjects (notebook-aware).
    verify : bool
        Check the subjects present with checksums too (reads every stored byte).
    n_jobs : int
        Subjects preprocessed in parallel worker processes (``spawn`` start method, since
        MediaPipe's threads do not survive ``fork``; each worker opens its own landmarker).  The
        store is the same whatever ``n_jobs`` is: every subject is built from its own files alone,
        and the landmarker runs on single images.  A custom ``reader`` or ``face_extractor`` must
        then be picklable (a module-level function).  Face detection is ~20 ms per frame on one
        core, so on DEAP (22 filmed subjects x 40 trials x 60 s at 5 fps) a serial build spends
        about 1.5 h in it.

    Returns
    -------
    SegmentStore
        Stored under ``<store_root>/<dataset>-<key>``, key = :func:`store_key` of the configuration.
    """
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; use a subset of {MODALITIES}")
    if int(n_jobs) < 1:
        raise ValueError(f"n_jobs must be a positive number of processes, got {n_jobs}")
    n_jobs = int(n_jobs)
    want_face = "face" in modalities
    physio = PhysioConfig() if physio is None else physio
    if want_face and abs(physio.stride_s - physio.window_s) > 1e-9:
        raise ValueError("the face modality needs non-overlapping windows "
                         f"(stride_s == window_s), got {physio.stride_s} and {physio.window_s}")  # fmt: skip
    if want_face and face is None:
        from emolab.preprocess.face import FaceConfig

        face = FaceConfig()
    root = Path(root).expanduser().resolve()
    custom_reader = reader
    if reader is None:
        reader = default_reader(dataset)
    reader_cfg = ReaderConfig(dataset=dataset, root=str(root), reader=_qualname(reader))
    config = store_config(reader_cfg, physio, face, ["bio", *modalities])
    key = store_key(config)
    parent = Path(store_root) if store_root is not None else cache_dir("store")
    folder = parent / f"{dataset}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    if want_face:
        config["face_shape"] = list(_face_dims(face, physio.window_s))
    try:
        stored = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        stored = None
    if stored != json.loads(json.dumps(config, default=_json_default)):
        if stored is not None:
            logger.warning("%s: damaged or edited; rewriting it", folder / "config.json")
        _write_json_atomic(folder / "config.json", config)
    store = SegmentStore(folder, check=False)

    with use_log_level(verbose):
        _remove_stale_tmp(folder)
        if subjects is None:
            subjects = list_subjects(root, dataset)
        have = set(store.subjects)
        for problem in store.check(full=verify, subjects=sorted(have & set(subjects))):
            if problem.subject in have:
                logger.warning("%s; rebuilding subject %d", problem, problem.subject)
                have.discard(problem.subject)
        todo = [s for s in subjects if s not in have]
        logger.info("segment store %s: %d subjects present, %d to build",
                    folder, len(set(subjects) & have), len(todo))  # fmt: skip
        if not todo:
            return store
        if n_jobs > 1 and len(todo) > 1:
            _build_parallel(todo, n_jobs=n_jobs, root=root, dataset=dataset, reader=custom_reader,
                            face_extractor=face_extractor, physio=physio, face=face,
                            want_face=want_face, folder=folder, progress=progress)  # fmt: skip
            return store
        extractor, landmarker = _face_pipeline(want_face, face_extractor)
        try:
            for subject in tqdm(todo, desc=f"{dataset} subjects", unit="subject",
                                disable=not progress):  # fmt: skip
                _build_subject(root, subject, reader=reader, physio=physio, face=face, want_face=want_face,
                               extractor=extractor, landmarker=landmarker, folder=folder)  # fmt: skip
        finally:
            if landmarker is not None:
                landmarker.close()
    return store


def _face_pipeline(want_face: bool, extractor):
    """``(extractor, landmarker)``: the default extractor opens one MediaPipe landmarker (close it)."""
    if not want_face or extractor is not None:
        return extractor, None
    from emolab.preprocess.face import extract_face_windows
    from emolab.preprocess.landmarks import FaceLandmarker

    return extract_face_windows, FaceLandmarker()


def _build_subject(root: Path, subject: int, *, reader, physio, face, want_face: bool, extractor,
                   landmarker, folder: Path) -> int:  # fmt: skip
    """Read, preprocess and write one subject; return its number of segments."""
    skipped: list[Skip] = []
    pass_skips = "skips" in inspect.signature(reader).parameters
    records = reader(root, subject, skips=skipped) if pass_skips else reader(root, subject)
    arrays, segments, trials, inputs = _process_subject(
        records, subject=subject, physio=physio, face_cfg=face,
        want_face=want_face, extractor=extractor, landmarker=landmarker,
    )  # fmt: skip
    _write_subject(folder, subject, arrays, segments, trials, inputs=inputs, skipped=skipped)
    logger.debug("subject %d: %d segments written", subject, len(segments))
    return len(segments)


_WORKER: dict = {}


def _store_worker_init(settings: dict, log_level: int) -> None:
    """Set up one build worker: its reader, extractor and (for the default extractor) landmarker."""
    from multiprocessing import util

    logger.setLevel(log_level)
    settings = dict(settings)
    if settings["reader"] is None:
        settings["reader"] = default_reader(settings["dataset"])
    settings["extractor"], settings["landmarker"] = _face_pipeline(settings["want_face"], settings["extractor"])
    if settings["landmarker"] is not None:
        util.Finalize(settings["landmarker"], settings["landmarker"].close, exitpriority=10)
    _WORKER.update(settings)


def _store_worker_run(subject: int) -> int:
    w = _WORKER
    return _build_subject(w["root"], subject, reader=w["reader"], physio=w["physio"], face=w["face"],
                          want_face=w["want_face"], extractor=w["extractor"], landmarker=w["landmarker"],
                          folder=w["folder"])  # fmt: skip


def _build_parallel(todo, *, n_jobs: int, root: Path, dataset: str, reader, face_extractor, physio, face,
                    want_face: bool, folder: Path, progress: bool) -> None:  # fmt: skip
    """:func:`build_store`'s subjects in ``n_jobs`` spawned worker processes (``reader=None``: the
    dataset's default reader, rebuilt in each worker)."""
    import multiprocessing as mp
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    for name, fn in (("reader", reader), ("face_extractor", face_extractor)):
        if fn is not None:
            try:
                pickle.dumps(fn)
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                raise TypeError(f"build_store(n_jobs={n_jobs}) sends the {name} to worker processes, "
                                f"but {fn!r} cannot be pickled ({exc}); pass a module-level function "
                                "or n_jobs=1") from exc  # fmt: skip
    settings = {"root": root, "dataset": dataset, "reader": reader, "extractor": face_extractor,
                "physio": physio, "face": face, "want_face": want_face, "folder": folder}  # fmt: skip
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(todo)), mp_context=mp.get_context("spawn"),
                             initializer=_store_worker_init, initargs=(settings, logger.level)) as pool:  # fmt: skip
        futures = [pool.submit(_store_worker_run, s) for s in todo]
        for f in tqdm(futures, desc=f"{dataset} subjects", unit="subject", disable=not progress):
            f.result()


# ---------------------------------------------------------------------------------------------
# the Dataset


def collate_segments(items: Sequence[dict]) -> dict:
    """Stack a list of :class:`SegmentDataset` items into a batch, like
    :func:`torch.utils.data.default_collate` (same keys, dtypes and shapes) but with
    :func:`numpy.stack`, which copies in one thread.

    Why: ``default_collate`` stacks with ``torch.stack``, which runs in torch's intra-op thread
    pool; on a small, busy CPU machine waiting for that pool costs more than the copy itself
    (``benchmarks/bench_store.py`` measures both).  Use ``DataLoader(ds, collate_fn=collate_segments)``.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    out: dict = {}
    for key, first in items[0].items():
        values = [it[key] for it in items]
        if isinstance(first, torch.Tensor):
            out[key] = torch.from_numpy(np.stack([v.numpy() for v in values]))
        elif isinstance(first, (bool, np.bool_)):
            out[key] = torch.tensor(values, dtype=torch.bool)
        elif isinstance(first, (int, np.integer)):
            out[key] = torch.tensor(values, dtype=torch.int64)
        else:
            raise TypeError(f"collate_segments: unexpected {type(first).__name__} under {key!r}")
    return out


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
