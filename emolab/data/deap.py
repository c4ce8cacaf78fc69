"""Read DEAP from its real on-disk layout, pairing each trial with its own face video.

DEAP (:cite:`koelstra2012deap`) ships, for 32 participants::

    data_preprocessed_python/sNN.dat          Python-2 pickles: {"data": (40, 40, 8064), "labels": (40, 4)}
    metadata_csv/participant_ratings.csv      Participant_id, Trial, Experiment_id, Start_time, Valence, ...
    face_video/sNN/sNN_trialTT.avi            participants 1-22 only, some trials missing

The rows of the ``.dat`` arrays are in **video order** (row ``e - 1`` is ``Experiment_id`` ``e``),
while ``TT`` in a face-video name is the **presentation order** (``Trial``).  The two differ for
every participant, and the only link between them is ``participant_ratings.csv``.  Pairing a
video with the row of the same number would silently give each trial another trial's face, so
:func:`read_deap` always goes through that table, and reports (never guesses) what is missing.

>>> from emolab.data import read_deap
>>> for rec in read_deap("/data/deap", subjects=[1]):          # doctest: +SKIP
...     print(rec.trial, rec.experiment_id, rec.signals.shape, rec.video_path.name)
1 5 (40, 8064) s01_trial01.avi
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emolab._logging import logger, use_log_level
from emolab.data._video import probe_video
from emolab.data.channels import (
    DEAP_BASELINE_S,
    DEAP_CH_NAMES,
    DEAP_CH_TYPES,
    DEAP_N_SAMPLES,
    DEAP_N_TRIALS,
    DEAP_SFREQ,
)
from emolab.data.record import RATING_SCALE, Record, Skip, first_nonfinite
from emolab.data.safe_pickle import load_numpy_pickle

__all__ = [
    "DEAP_LABEL_NAMES",
    "DEAP_VIDEO_SUBJECTS",
    "DeapFormatError",
    "deap_dat_path",
    "deap_video_path",
    "list_deap_subjects",
    "load_deap_dat",
    "read_deap",
    "read_participant_ratings",
]

#: Columns of the ``labels`` array, in order (self-assessment on a 1-9 scale).
DEAP_LABEL_NAMES: tuple[str, ...] = ("valence", "arousal", "dominance", "liking")
#: Participants for whom DEAP has face videos.
DEAP_VIDEO_SUBJECTS: tuple[int, ...] = tuple(range(1, 23))

RATINGS_CSV = Path("metadata_csv") / "participant_ratings.csv"
_CSV_COLUMNS = ("Participant_id", "Trial", "Experiment_id")
_CSV_RATINGS = {"Valence": "valence", "Arousal": "arousal", "Dominance": "dominance", "Liking": "liking"}
#: What a DEAP data file is called; anything else in ``data_preprocessed_python/`` is left out.
DAT_NAME = re.compile(r"s(\d{2})\.dat")


class DeapFormatError(ValueError):
    """A DEAP file whose content does not have the documented layout (message names the file)."""


def deap_dat_path(root: str | Path, subject: int) -> Path:
    """``root/data_preprocessed_python/sNN.dat``."""
    return Path(root) / "data_preprocessed_python" / f"s{int(subject):02d}.dat"


def deap_video_path(root: str | Path, subject: int, trial: int) -> Path:
    """``root/face_video/sNN/sNN_trialTT.avi`` (``trial`` is the presentation order)."""
    s, t = int(subject), int(trial)
    return Path(root) / "face_video" / f"s{s:02d}" / f"s{s:02d}_trial{t:02d}.avi"


def list_deap_subjects(root: str | Path, *, skips: list[Skip] | None = None) -> list[int]:
    """Subject numbers that have a ``data_preprocessed_python/sNN.dat`` under ``root``.

    Only names matching ``sNN.dat`` exactly (two digits) count.  Other ``*.dat`` files there
    (``s1.dat``, ``s01 (1).dat``, ``s01.dat.dat``) are left out with a warning and, when ``skips``
    is given, a :class:`~emolab.data.record.Skip` appended to it.  So is a ``face_video/sNN``
    folder whose ``sNN.dat`` is missing: without its signals and labels the subject is not read.
    """
    folder = Path(root) / "data_preprocessed_python"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: folder not found; point root at the DEAP folder that holds "
            "data_preprocessed_python/, metadata_csv/ and face_video/ (see data_manifest.yaml)"
        )
    subjects = []
    for p in sorted(folder.glob("*.dat")):
        m = DAT_NAME.fullmatch(p.name)
        if m:
            subjects.append(int(m.group(1)))
            continue
        skip = Skip(p, "file", "its name is not sNN.dat (two digits, e.g. s01.dat); rename it "
                    "to be read")  # fmt: skip
        logger.warning("%s", skip)
        if skips is not None:
            skips.append(skip)
    videos = Path(root) / "face_video"
    for d in sorted(videos.glob("s[0-9][0-9]")) if videos.is_dir() else []:
        if d.is_dir() and int(d.name[1:]) not in subjects:
            skip = Skip(d, f"face videos of subject {int(d.name[1:])}",
                        f"{deap_dat_path(root, int(d.name[1:]))} is missing; without its signals and "
                        "labels the subject is not read - copy it from data_preprocessed_python.zip")  # fmt: skip
            logger.warning("%s", skip)
            if skips is not None:
                skips.append(skip)
    return sorted(subjects)


def load_deap_dat(path: str | Path, *, strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load one ``sNN.dat`` safely and check its layout.

    Parameters
    ----------
    path : path-like
        A DEAP ``data_preprocessed_python/sNN.dat``.
    strict : bool
        Also require DEAP's exact trial count and length (40 trials of 8064 samples) and no key
        besides ``data`` and ``labels``.  Readers accept any count/length (the synthetic data set
        writes shorter trials) and log a warning naming other keys, which they do not read;
        ``verify`` of a real DEAP folder is strict.

    Returns
    -------
    data : np.ndarray, float64, shape (n_trials, 40, n_samples)
        Row ``e - 1`` is the trial of ``Experiment_id`` ``e``; the first 384 samples (3 s) of each
        trial are the pre-trial baseline.
    labels : np.ndarray, float64, shape (n_trials, 4)
        Valence, arousal, dominance, liking (1-9) per row.

    Raises
    ------
    DeapFormatError, pickle.UnpicklingError
        The file is not a safe NumPy pickle, or the arrays have the wrong keys/shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: DEAP data file not found")
    obj = load_numpy_pickle(path)
    if not isinstance(obj, dict) or not {"data", "labels"} <= set(obj):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise DeapFormatError(f"{path}: expected a dict with 'data' and 'labels', got {keys}")
    extra_keys = sorted(map(str, set(obj) - {"data", "labels"}))
    if extra_keys:
        text = (f"{path}: key(s) {extra_keys} besides 'data' and 'labels'; DEAP's files hold only "
                "those two, so this is not the file from the dataset archive")  # fmt: skip
        if strict:
            raise DeapFormatError(f"{text}; copy it again from data_preprocessed_python.zip")
        logger.warning("%s; only 'data' and 'labels' are read", text)
    data, labels = obj["data"], obj["labels"]
    for name, arr in (("data", data), ("labels", labels)):
        if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.floating):
            raise DeapFormatError(f"{path}: '{name}' must be a float array, got {type(arr).__name__}")
    n_base = int(round(DEAP_BASELINE_S * DEAP_SFREQ))
    if data.ndim != 3 or data.shape[1] != len(DEAP_CH_NAMES) or data.shape[2] <= n_base:
        raise DeapFormatError(
            f"{path}: 'data' must have shape (n_trials, {len(DEAP_CH_NAMES)}, n_samples > {n_base}) "
            f"(DEAP: ({DEAP_N_TRIALS}, 40, {DEAP_N_SAMPLES})), got {data.shape}"
        )
    if labels.shape != (data.shape[0], len(DEAP_LABEL_NAMES)):
        raise DeapFormatError(
            f"{path}: 'labels' must have shape ({data.shape[0]}, 4) to match 'data' {data.shape}, "
            f"got {labels.shape}"
        )
    if strict and data.shape != (DEAP_N_TRIALS, len(DEAP_CH_NAMES), DEAP_N_SAMPLES):
        raise DeapFormatError(
            f"{path}: 'data' has shape {data.shape}, DEAP's preprocessed files have "
            f"({DEAP_N_TRIALS}, {len(DEAP_CH_NAMES)}, {DEAP_N_SAMPLES})"
        )
    for row in range(data.shape[0]):  # one trial at a time: no (40, 40, 8064) boolean copy
        bad = first_nonfinite(data[row])
        if bad is not None:
            ch, sample, count = bad
            raise DeapFormatError(
                f"{path}: 'data' trial row {row} (Experiment_id {row + 1}), channel "
                f"{DEAP_CH_NAMES[ch]} (index {ch}) has a non-finite value ({data[row, ch, sample]}) "
                f"at sample {sample} ({count} in this trial); copy the file again from the "
                "dataset archive (data_preprocessed_python.zip)"
            )
    lo, hi = RATING_SCALE
    bad_labels = ~((labels >= lo) & (labels <= hi))  # NaN is bad too
    if bad_labels.any():
        row, col = (int(i) for i in np.argwhere(bad_labels)[0])
        raise DeapFormatError(
            f"{path}: 'labels' row {row} (Experiment_id {row + 1}), {DEAP_LABEL_NAMES[col]} = "
            f"{labels[row, col]} is not on DEAP's {lo:g}-{hi:g} scale ({int(bad_labels.sum())} "
            "such value(s)); copy the file again from the dataset archive"
        )
    return data, labels


def _cell(value) -> str:
    """A csv cell for a message: strings quoted, numbers as written."""
    return repr(value) if isinstance(value, str) else str(value)



def _refuse_cells(path, table: pd.DataFrame, column: str, bad: pd.Series, what: str) -> None:
    """Raise naming the file, the column and the first line whose cell is ``bad`` (not ``what``)."""
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DeapFormatError(
            f"{path}: column {column}, line {i + 2}: {_cell(table[column].iloc[i])} is not {what} "
            f"({int(bad.sum())} such cell(s)); fix the cell or copy the file again from DEAP's "
            "metadata_csv.zip"
        )

def read_participant_ratings(root: str | Path) -> pd.DataFrame:
    """Load ``metadata_csv/participant_ratings.csv`` and check its columns.

    Returns
    -------
    pandas.DataFrame
        One row per (participant, trial) with integer ``Participant_id``, ``Trial`` (presentation
        order) and ``Experiment_id`` (video id = ``.dat`` row + 1), plus the ratings columns.
    """
    path = Path(root) / RATINGS_CSV
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: not found; it maps presentation order (Trial) to video id (Experiment_id) "
            "and comes with DEAP's metadata (metadata_csv.zip)"
        )
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DeapFormatError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc}); "
                              "copy it again from DEAP's metadata_csv.zip") from None  # fmt: skip
    missing = [c for c in _CSV_COLUMNS if c not in table.columns]
    if missing:
        raise DeapFormatError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    for c in _CSV_COLUMNS:
        if table[c].isna().any():
            line = int(np.flatnonzero(table[c].isna().to_numpy())[0]) + 2  # header is line 1
            raise DeapFormatError(f"{path}: column {c} has empty cells (first on line {line}); "
                                  "every row needs Participant_id, Trial and Experiment_id")  # fmt: skip
        values = pd.to_numeric(table[c], errors="coerce")
        _refuse_cells(path, table, c, values.isna() | (values != values.round()) | (values < 1),
                      "a positive whole number")  # fmt: skip
        table[c] = values.astype(int)
    lo, hi = RATING_SCALE
    for c in _CSV_RATINGS:
        if c not in table.columns:
            continue
        values = pd.to_numeric(table[c], errors="coerce")
        _refuse_cells(path, table, c, (values.isna() & table[c].notna()) | (values < lo) | (values > hi),
                      f"a rating on the {lo:g}-{hi:g} scale")  # fmt: skip
        table[c] = values
    for c in ("Start_time", "Familiarity"):
        if c not in table.columns:
            continue
        values = pd.to_numeric(table[c], errors="coerce")
        bad = values.isna() & table[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DeapFormatError(f"{path}: column {c}, line {i + 2}: {_cell(table[c].iloc[i])} is not "
                                  "a number; fix the cell or copy the file again")  # fmt: skip
        table[c] = values
    dup = table.duplicated(["Participant_id", "Experiment_id"]) | table.duplicated(
        ["Participant_id", "Trial"]
    )
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = table.iloc[i]
        raise DeapFormatError(
            f"{path}: participant {int(first.Participant_id)} has Trial {int(first.Trial)} or "
            f"Experiment_id {int(first.Experiment_id)} twice (line {i + 2}); each participant "
            "needs one row per trial - fix the file or copy it again from DEAP's metadata_csv.zip"
        )
    return table


def _subject_mapping(table: pd.DataFrame, subject: int, n_trials: int, csv: Path) -> pd.DataFrame:
    """The csv rows of one subject indexed by Experiment_id, checked to cover 1..n_trials."""
    rows = table[table["Participant_id"] == subject].set_index("Experiment_id").sort_index()
    wanted = np.arange(1, n_trials + 1)
    missing = sorted(int(e) for e in set(wanted) - set(rows.index))
    if missing:
        raise DeapFormatError(
            f"{csv}: no row for participant {subject}, Experiment_id {missing} (the .dat has "
            f"{n_trials} trials); without it the presentation order, and so the face video, of "
            "that trial is unknown"
        )
    extra = sorted(int(e) for e in set(rows.index) - set(wanted))
    if extra:
        logger.warning("%s: participant %d has rows for Experiment_id %s beyond the %d trials of "
                       "the .dat; ignored", csv, subject, extra, n_trials)  # fmt: skip
    rows = rows.loc[wanted]
    trials = sorted(int(t) for t in rows["Trial"])
    if trials != list(range(1, n_trials + 1)):
        off = sorted(set(trials) ^ set(range(1, n_trials + 1)))
        raise DeapFormatError(
            f"{csv}: column Trial of participant {subject} is not a permutation of 1..{n_trials} "
            f"(values not matching: {off[:10]}); each trial's face video is found through it, so "
            "a shifted or renumbered column would pair videos with the wrong trials - fix the "
            "column or copy the file again from DEAP's metadata_csv.zip"
        )
    return rows


def _check_ratings(labels: np.ndarray, rows: pd.DataFrame, subject: int, csv: Path) -> None:
    """Warn when the ``.dat`` labels and the csv ratings disagree (the ``.dat`` wins)."""
    cols = [c for c in _CSV_RATINGS if c in rows.columns]
    if not cols:
        return
    csv_vals = rows[cols].to_numpy(dtype=float)
    dat_vals = labels[:, [list(_CSV_RATINGS).index(c) for c in cols]]
    bad = ~np.isclose(csv_vals, dat_vals, atol=1e-3) & np.isfinite(csv_vals)
    if bad.any():
        exps = [int(e) for e in rows.index[bad.any(axis=1)]]
        logger.warning(
            "subject %d: ratings in %s differ from the .dat labels for Experiment_id %s; "
            "using the .dat labels", subject, csv, exps,
        )  # fmt: skip


def read_deap(
    root: str | Path,
    subjects: Iterable[int] | None = None,
    *,
    check_videos: bool = False,
    skips: list[Skip] | None = None,
    verbose: bool | str | int | None = None,
) -> Iterator[Record]:
    """Yield one :class:`~emolab.data.record.Record` per DEAP trial, in presentation order.

    What is checked before a record is yielded (each failure a :class:`DeapFormatError` naming the
    file and the column, trial or channel): the ``.dat`` is a safe NumPy pickle of the documented
    shapes with only finite samples and 1-9 labels; every subject read in one call has the same
    trial length; the csv's id columns are whole numbers, its ratings numbers on the 1-9 scale, and
    per participant ``Experiment_id`` covers the ``.dat`` rows and ``Trial`` is a permutation of
    1..n; each record passes :meth:`~emolab.data.record.Record.validate`.

    Parameters
    ----------
    root : path-like
        The DEAP folder holding ``data_preprocessed_python/``, ``metadata_csv/`` and (optionally)
        ``face_video/`` — the layout ``data_manifest.yaml`` describes.
    subjects : iterable of int, optional
        Participant numbers (1-32); default: every ``sNN.dat`` found.  A requested subject without
        its ``.dat`` is an error.
    check_videos : bool
        Open every paired face video with OpenCV and raise :class:`~emolab.data._video.VideoError`
        naming the file if it cannot be decoded (default ``False``: only its existence is checked).
    skips : list or None
        When given, every :class:`~emolab.data.record.Skip` (a badly named ``.dat``, a missing
        face video) is appended to it as well as logged.
    verbose : bool, str, int or None
        Log level for this call (``None`` keeps emolab's current level).

    Yields
    ------
    Record
        ``dataset="deap"``, ``subject``, ``trial`` (presentation order, 1-based),
        ``experiment_id`` (video id = ``.dat`` row + 1), ``signals`` float32 (40, n_samples)
        including ``baseline_samples=384`` (3 s) of pre-trial baseline, ``sfreq=128``,
        ``ratings`` from the ``.dat`` ``labels`` (valence, arousal, dominance, liking; the csv is
        only cross-checked, with a warning when it differs), ``video_path`` of this trial's face
        video or ``None`` (subject without videos, or this trial's video missing; both logged),
        ``video_offset_s=0`` (the videos start with the stimulus), and in ``extra`` the csv's
        ``start_time_us`` and ``familiarity`` when present.
    """
    root = Path(root)
    with use_log_level(verbose):
        available = list_deap_subjects(root, skips=skips)
        if subjects is None:
            wanted = available
            if not wanted:
                raise FileNotFoundError(f"{root / 'data_preprocessed_python'}: no sNN.dat files")
        else:
            wanted = [int(s) for s in subjects]
            for s in wanted:
                if s not in available:
                    raise FileNotFoundError(f"{deap_dat_path(root, s)}: DEAP data file not found "
                                            f"(subjects present: {available})")  # fmt: skip
        table = read_participant_ratings(root)
        csv = root / RATINGS_CSV
        n_base = int(round(DEAP_BASELINE_S * DEAP_SFREQ))
        first: tuple[Path, int] | None = None  # (file, trial length) of the first subject read
        any_video = (root / "face_video").is_dir()
        if not any_video:  # a dataset without video (e.g. only data_preprocessed_python): say it once
            logger.info("%s has no face_video folder: every record has video_path=None (physiological data "
                        "only; put DEAP's face_video folder there for the face modality)", root)  # fmt: skip
        for s in wanted:
            dat = deap_dat_path(root, s)
            data, labels = load_deap_dat(dat)
            if first is None:
                first = (dat, data.shape[2])
            elif data.shape[2] != first[1]:
                raise DeapFormatError(
                    f"{dat}: trials of {data.shape[2]} samples, but {first[0]} has {first[1]}; "
                    f"every DEAP subject has trials of the same length ({DEAP_N_SAMPLES}) - copy "
                    "the odd file again from the dataset archive"
                )
            rows = _subject_mapping(table, s, data.shape[0], csv)
            _check_ratings(labels, rows, s, csv)
            video_dir = root / "face_video" / f"s{s:02d}"
            has_videos = video_dir.is_dir()
            if not has_videos and any_video:
                log = logger.warning if s in DEAP_VIDEO_SUBJECTS else logger.info
                log("subject %d: no face video folder %s; its records have video_path=None", s, video_dir)
            by_trial = rows.reset_index().sort_values("Trial")
            videos = {}
            for t in by_trial["Trial"]:
                path = deap_video_path(root, s, int(t)) if has_videos else None
                videos[int(t)] = path if path is not None and path.is_file() else None
            missing = [t for t, v in videos.items() if v is None]
            if has_videos and missing:
                logger.warning("subject %d: no face video for trial(s) %s in %s; those records "
                               "have video_path=None", s, missing, video_dir)  # fmt: skip
                if skips is not None:
                    skips.extend(Skip(deap_video_path(root, s, t), f"face video of subject {s}, "
                                      f"trial {t}", "file missing; the trial is read without "
                                      "its face") for t in missing)  # fmt: skip
            for _, row in by_trial.iterrows():
                e, t = int(row["Experiment_id"]), int(row["Trial"])
                video = videos[t]
                if video is not None and check_videos:
                    probe_video(video)
                extra = {}
                if "Start_time" in row and pd.notna(row["Start_time"]):
                    extra["start_time_us"] = int(row["Start_time"])
                if "Familiarity" in row and pd.notna(row["Familiarity"]):
                    extra["familiarity"] = float(row["Familiarity"])
                yield Record(
                    dataset="deap",
                    subject=s,
                    trial=t,
                    experiment_id=e,
                    signals=data[e - 1].astype(np.float32),  # row e-1 holds Experiment_id e
                    sfreq=DEAP_SFREQ,
                    ch_names=list(DEAP_CH_NAMES),
                    ch_types=list(DEAP_CH_TYPES),
                    baseline_samples=n_base,
                    ratings={k: float(v) for k, v in zip(DEAP_LABEL_NAMES, labels[e - 1])},
                    video_path=video,
                    source=dat,
                    video_offset_s=0.0,
                    extra={**extra, "inputs": [csv]},
                ).validate()
            logger.debug("subject %d: %d trials from %s", s, data.shape[0], dat)


def pairing_table(records: Sequence[Record]) -> pd.DataFrame:
    """For every record, its valence and the valence of the trial a *naive* loader would pair
    its face video with (the trial whose presentation number equals this row's video id).

    Chapter 01, section 2 (the Trial <-> Experiment_id pitfall); :func:`emolab.analysis.pairing_sentence` says it in words.  Columns: ``subject``,
    ``experiment_id``, ``trial``, ``valence``, ``valence_of_naive_video``, ``has_video``.
    """
    by_trial = {(r.subject, r.trial): r for r in records}
    rows = []
    for r in records:
        naive = by_trial.get((r.subject, r.experiment_id))  # the trial the row number names
        if naive is not None:
            rows.append({"subject": r.subject, "experiment_id": r.experiment_id, "trial": r.trial,
                         "valence": r.ratings["valence"], "valence_of_naive_video": naive.ratings["valence"],
                         "has_video": r.video_path is not None and naive.video_path is not None})  # fmt: skip
    return pd.DataFrame(rows)
