"""Building a segment store: readers -> preprocessing -> one atomic folder per subject."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emolab._logging import logger, use_log_level
from emolab.data.formats import default_reader, list_subjects, qualname
from emolab.data.record import MODALITIES, Record, RecordError, Skip
from emolab.paths import cache_dir
from emolab.preprocess.physio import PhysioConfig, preprocess_record
from emolab.store.integrity import (
    INTEGRITY_NAME,
    file_sample_sha256,
    file_sha256,
    file_stat,
)
from emolab.store.keys import (
    ReaderConfig,
    json_default,
    store_config,
    store_key,
)
from emolab.store.segment_store import SegmentStore
from emolab.workers import pid_alive

_TMP_PREFIX = ".tmp-"


def _remove_stale_tmp(folder: Path) -> None:
    """Delete temporary subject folders left by processes that no longer run."""
    for p in folder.glob(f"{_TMP_PREFIX}*"):
        parts = p.name[len(_TMP_PREFIX):].split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else -1
        if not pid_alive(pid):
            logger.info("removing %s left by an interrupted build", p.name)
            shutil.rmtree(p, ignore_errors=True)


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{os.getpid()}-{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=json_default))
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
    size, SHA-256 and sampled SHA-256 of each file written, the skips.  A subject folder already there (being
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
        outputs = {p.name: {"size": p.stat().st_size, "sha256": file_sha256(p),
                            "sample_sha256": file_sample_sha256(p)}
                   for p in sorted(tmp.iterdir())}  # fmt: skip
        record = {
            "subject": subject,
            "n_segments": len(segments),
            "inputs": [file_stat(Path(p)) for p in inputs if Path(p).is_file()],
            "outputs": outputs,
            "skipped": [s.to_dict() for s in skipped],
        }
        (tmp / INTEGRITY_NAME).write_text(json.dumps(record, indent=1, default=json_default))
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
        Subjects preprocessed in parallel worker processes (:func:`emolab.workers.process_pool`:
        fresh processes, since MediaPipe's threads do not survive ``fork``; each worker opens its
        own landmarker).  The
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
    reader_cfg = ReaderConfig(dataset=dataset, root=str(root), reader=qualname(reader))
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
    if stored != json.loads(json.dumps(config, default=json_default)):
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
    """:func:`build_store`'s subjects in ``n_jobs`` worker processes (``reader=None``: the
    dataset's default reader, rebuilt in each worker)."""
    import pickle

    from emolab.workers import process_pool

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
    with process_pool(min(n_jobs, len(todo)), initializer=_store_worker_init, initargs=(settings, logger.level),
                      what="store build") as pool:  # fmt: skip
        futures = [pool.submit(_store_worker_run, s) for s in todo]
        for f in tqdm(futures, desc=f"{dataset} subjects", unit="subject", disable=not progress):
            f.result()

