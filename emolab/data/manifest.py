"""The dataset registry (``data_manifest.yaml``) and ``emolab data verify``.

``data_manifest.yaml`` (shipped inside the package as ``emolab/data_manifest.yaml``) declares every
dataset emolab reads: where it comes from and under which licence, how to place the files, and the
layout and file counts a complete copy has.  :func:`verify_dataset` checks a folder against it
with the same code the readers use, and lists everything that is missing or malformed — instead
of a learner discovering a bad file an hour into training.

>>> from emolab.data.manifest import verify_dataset
>>> report = verify_dataset("/data/deap", dataset="deap")     # doctest: +SKIP
>>> print(report.format())                                    # doctest: +SKIP
>>> report.ok, report.missing_videos[:2]                      # doctest: +SKIP
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from emolab._logging import logger, use_log_level
from emolab.data._video import VideoError, probe_video
from emolab.data.record import Skip

__all__ = ["MANIFEST_PATH", "VerifyReport", "dataset_entry", "load_manifest", "verify_dataset"]

#: The manifest as installed with the package (a symlink to the repository's top-level file).
MANIFEST_PATH = Path(__file__).resolve().parents[1] / "data_manifest.yaml"


def load_manifest(path: str | Path | None = None) -> dict[str, Any]:
    """Parse ``data_manifest.yaml`` (default: the one shipped with emolab)."""
    path = Path(path) if path is not None else MANIFEST_PATH
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data manifest not found; reinstall emolab (pip install -e .)")
    with open(path, encoding="utf-8") as f:
        manifest = yaml.safe_load(f)
    if not isinstance(manifest, dict) or "datasets" not in manifest:
        raise ValueError(f"{path}: expected a mapping with a 'datasets' section")
    return manifest


def dataset_entry(name: str, manifest: dict | None = None) -> dict[str, Any]:
    """The manifest entry of dataset ``name``, with ``layout.same_as`` resolved (merged)."""
    manifest = load_manifest() if manifest is None else manifest
    datasets = manifest["datasets"]
    if name not in datasets:
        raise KeyError(f"unknown dataset {name!r}; data_manifest.yaml declares {sorted(datasets)}")
    entry = dict(datasets[name])
    layout = dict(entry.get("layout", {}))
    base = layout.pop("same_as", None)
    if base is not None:
        merged = dict(dataset_entry(base, manifest)["layout"])
        merged.update(layout)
        layout = merged
        layout["base"] = base
    else:
        layout["base"] = name
    entry["layout"] = layout
    return entry


@dataclass
class VerifyReport:
    """What :func:`verify_dataset` found.

    Attributes
    ----------
    dataset, root : the manifest entry checked and the folder.
    problems : list of str
        Everything that would make a reader fail or a result wrong (each names the file).
        Empty means the folder is usable: ``ok`` is True.
    missing_videos : list of Path
        Face videos the layout leads to expect but that are absent (DEAP: per subject and
        presentation trial; MAHNOB: the session folder without a ``C1 trigger`` video).  Real
        DEAP lacks a few; they are listed, not counted as problems unless the total is off.
    skipped : list of Skip
        What the readers would go on without, and why (a badly named file, an unrated session):
        the same :class:`~emolab.data.record.Skip` they log and record.
    notes : list of str
        Counts and harmless observations.
    """

    dataset: str
    root: Path
    problems: list[str] = field(default_factory=list)
    missing_videos: list[Path] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """A human-readable report (what ``emolab data verify`` prints)."""
        lines = [f"{self.dataset} in {self.root}: " + ("OK" if self.ok else f"{len(self.problems)} problem(s)")]
        if self.counts:
            lines.append("  found: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        for p in self.problems:
            lines.append(f"  PROBLEM  {p}")
        if self.missing_videos:
            lines.append(f"  missing face videos ({len(self.missing_videos)}):")
            lines += [f"    {_rel(p, self.root)}" for p in self.missing_videos]
        if self.skipped:
            lines.append(f"  skipped by the readers ({len(self.skipped)}):")
            lines += [f"    {_rel(k.path, self.root)}: {k.what}: {k.reason}" for k in self.skipped]
        for n in self.notes:
            lines.append(f"  note     {n}")
        return "\n".join(lines)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def verify_dataset(
    root: str | Path,
    *,
    dataset: str,
    check_videos: bool = True,
    verbose: bool | str | int | None = None,
) -> VerifyReport:
    """Check a dataset folder against its ``data_manifest.yaml`` entry.

    Parameters
    ----------
    root : path-like
        The folder a reader would be given.
    dataset : str
        A ``datasets`` key of the manifest: ``"deap"``, ``"mahnob"``, ``"synthetic-deap"`` or
        ``"synthetic-mahnob"``.  The real entries also check the real sizes and counts.
    check_videos : bool
        Open every face video with OpenCV (default); ``False`` only checks that it exists.
    verbose : bool, str, int or None
        Log level for this call.

    Returns
    -------
    VerifyReport
        ``.ok``, ``.problems``, ``.missing_videos``, ``.format()``.  Never raises for a bad
        dataset; raises ``KeyError`` for an unknown ``dataset`` name.
    """
    entry = dataset_entry(dataset)
    root = Path(root)
    report = VerifyReport(dataset=dataset, root=root)
    with use_log_level(verbose):
        if not root.is_dir():
            report.problems.append(f"{root}: folder not found")
            return report
        base = entry["layout"]["base"]
        if base == "deap":
            _verify_deap(root, entry, report, check_videos=check_videos)
        elif base == "mahnob":
            _verify_mahnob(root, entry, report, check_videos=check_videos)
        else:  # pragma: no cover - the manifest only has these two layouts
            raise ValueError(f"data_manifest.yaml: no verifier for layout {base!r}")
    return report


def _probe_if_asked(video: Path, report: VerifyReport, check_videos: bool) -> None:
    """Open ``video`` with OpenCV when ``check_videos``; a failure becomes a problem of ``report``."""
    if check_videos:
        try:
            probe_video(video)
        except VideoError as exc:
            report.problems.append(str(exc))


def _verify_deap(root: Path, entry: dict, report: VerifyReport, *, check_videos: bool) -> None:
    from emolab.data.deap import (
        RATINGS_CSV,
        DeapFormatError,
        _subject_mapping,
        deap_dat_path,
        deap_video_path,
        list_deap_subjects,
        load_deap_dat,
        read_participant_ratings,
    )

    layout = entry["layout"]
    real = dataset_entry_is_real(entry)
    sig, vid, rat = layout["signals"], layout["face_video"], layout["ratings"]
    try:
        present = list_deap_subjects(root, skips=report.skipped)
    except FileNotFoundError as exc:
        report.problems.append(str(exc))
        return
    if real:
        lo, hi = sig["subjects"]
        for s in range(lo, hi + 1):
            if s not in present:
                report.problems.append(f"{deap_dat_path(root, s)}: missing")
    elif not present:
        report.problems.append(f"{root / 'data_preprocessed_python'}: no sNN.dat files")
    report.counts["subjects"] = len(present)
    try:
        table = read_participant_ratings(root)
    except (FileNotFoundError, DeapFormatError) as exc:
        report.problems.append(str(exc))
        table = None
    else:
        missing_cols = [c for c in rat["columns"] if c not in table.columns]
        if missing_cols:
            report.problems.append(f"{root / RATINGS_CSV}: missing column(s) {missing_cols}")
        if real and len(table) != rat["rows"]:
            report.problems.append(f"{root / RATINGS_CSV}: {len(table)} rows, expected {rat['rows']}")
    strict = bool(layout.get("strict_shapes", False))
    if vid.get("subjects") and layout.get("face_video_subjects") != "present":
        video_subjects = set(range(vid["subjects"][0], vid["subjects"][1] + 1))
    else:
        video_subjects = {s for s in present if (root / "face_video" / f"s{s:02d}").is_dir()}
    n_videos = n_trials_total = 0
    first_len: tuple[Path, int] | None = None
    for s in tqdm(present, desc="verify DEAP subjects", disable=len(present) < 4):
        dat = deap_dat_path(root, s)
        try:
            data, _ = load_deap_dat(dat, strict=strict)
        except (DeapFormatError, pickle.UnpicklingError, OSError) as exc:
            report.problems.append(str(exc))
            continue
        if first_len is None:
            first_len = (dat, data.shape[2])
        elif data.shape[2] != first_len[1]:
            report.problems.append(f"{dat}: trials of {data.shape[2]} samples, but {first_len[0]} "
                                   f"has {first_len[1]}; every subject has the same trial length")  # fmt: skip
        n_trials = data.shape[0]
        n_trials_total += n_trials
        del data
        if table is not None:
            try:
                _subject_mapping(table, s, n_trials, root / RATINGS_CSV)
            except DeapFormatError as exc:
                report.problems.append(str(exc))
        video_dir = root / "face_video" / f"s{s:02d}"
        if s not in video_subjects:
            if video_dir.is_dir():
                report.notes.append(f"{video_dir}: face videos for a subject the layout lists without")
            continue
        if not video_dir.is_dir():
            report.problems.append(f"{video_dir}: missing (participant {s} has face videos in DEAP)")
            continue
        expected = {deap_video_path(root, s, t) for t in range(1, n_trials + 1)}
        for path in sorted(expected):
            if not path.is_file():
                report.missing_videos.append(path)
                continue
            n_videos += 1
            _probe_if_asked(path, report, check_videos)
        unexpected = sorted(set(video_dir.glob("*.avi")) - expected)
        if unexpected:
            report.notes.append(f"{video_dir}: unexpected file(s) {[p.name for p in unexpected]}")
    report.counts["trials"] = n_trials_total
    report.counts["face videos"] = n_videos
    # the total is only comparable when every subject is there; an unconfirmed count only notes
    if real and vid.get("count") is not None and len(present) == sig["count"] and n_videos != vid["count"]:
        text = f"{root / 'face_video'}: {n_videos} face videos, the manifest expects {vid['count']}"
        if vid.get("count_confirmed", True):
            report.problems.append(text)
        else:
            report.notes.append(text + " (a count not yet confirmed on the real download)")
    logger.info("verified %s: %d problem(s)", root, len(report.problems))


def dataset_entry_is_real(entry: dict) -> bool:
    """True for a licence-gated real dataset (no ``generator``), False for synthetic ones."""
    return "generator" not in entry


def _verify_mahnob(root: Path, entry: dict, report: VerifyReport, *, check_videos: bool) -> None:
    import mne

    from emolab.data.channels import MAHNOB_CH_NAMES, MAHNOB_STIM_CHANNEL
    from emolab.data.mahnob import (
        MahnobFormatError,
        _attr_float,
        _find_bdf,
        STIMULUS_FROM_TRIGGERS,
        _find_stimulus,
        _find_video,
        check_bdf_length,
        list_mahnob_sessions,
        read_session_xml,
    )

    sig = entry["layout"]["signals"]
    try:
        ids = list_mahnob_sessions(root)
    except FileNotFoundError as exc:
        report.problems.append(str(exc))
        return
    if not ids:
        report.problems.append(f"{root / 'Sessions'}: no <id>/session.xml")
    n_rated = n_videos = 0
    for sid in tqdm(ids, desc="verify MAHNOB sessions", disable=len(ids) < 10):
        xml = root / "Sessions" / str(sid) / "session.xml"
        try:
            info = read_session_xml(xml)
        except (MahnobFormatError, OSError) as exc:
            report.problems.append(str(exc))
            continue
        if not (info.is_stim and info.ratings is not None):  # neutral clips: no ratings, not read
            report.skipped.append(Skip(xml, f"session {sid}", "no felt valence/arousal "
                                       f"(isStim={info.attrs.get('isStim')!r})"))  # fmt: skip
            continue
        n_rated += 1
        bdf = None
        try:
            bdf = _find_bdf(info)
            check_bdf_length(bdf)
            raw = mne.io.read_raw_bdf(bdf, preload=False, verbose="ERROR")
        except (FileNotFoundError, MahnobFormatError) as exc:
            report.problems.append(str(exc))
        except Exception as exc:  # MNE raises several types for broken headers
            report.problems.append(f"{bdf}: cannot read this BDF ({type(exc).__name__}: {exc})")
        else:
            if MAHNOB_STIM_CHANNEL in raw.ch_names:
                try:
                    rate, begin = (_attr_float(info.attrs, a, xml) for a in ("vidRate", "vidBeginSmp"))
                    cut_len_s = _attr_float(info.attrs, "cutLenSec", xml)
                    *_, stimulus_from = _find_stimulus(
                        raw, bdf=bdf, cut_len_s=cut_len_s,
                        expected_onset_s=begin / rate if rate and begin is not None else None,
                    )  # fmt: skip
                except MahnobFormatError as exc:
                    report.problems.append(str(exc))
                else:
                    if stimulus_from != STIMULUS_FROM_TRIGGERS:
                        report.notes.append(f"{bdf}: {stimulus_from} ({cut_len_s:g} s)")
            names = {n.lower() for n in raw.ch_names}
            if MAHNOB_STIM_CHANNEL not in raw.ch_names:
                report.problems.append(f"{bdf}: no '{MAHNOB_STIM_CHANNEL}' channel")
            missing = [n for n in MAHNOB_CH_NAMES if n.lower() not in names]
            if missing:
                report.problems.append(f"{bdf}: missing channel(s) {missing}")
            if raw.info["sfreq"] != sig["sfreq"]:
                report.notes.append(f"{bdf}: {raw.info['sfreq']:g} Hz (expected {sig['sfreq']})")
        video = _find_video(info)
        if video is None:
            report.missing_videos.append(info.path.parent)
        else:
            n_videos += 1
            _probe_if_asked(video, report, check_videos)
    report.counts.update({"sessions": len(ids), "rated sessions": n_rated, "face videos": n_videos})
    logger.info("verified %s: %d problem(s)", root, len(report.problems))
