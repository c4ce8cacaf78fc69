"""Read MAHNOB-HCI's emotion-elicitation sessions from their real on-disk layout.

MAHNOB-HCI (:cite:`soleymani2012mahnob`) stores one folder per session::

    Sessions/<id>/session.xml        <session isStim="1" feltVlnc="7" feltArsl="3" cutNr="…"
                                              vidRate="…" vidBeginSmp="…" …>
                                        <subject id="…"/> <track … filename="…"/> …
    Sessions/<id>/Part_<subject>_<S|N>_Trial<k>_emotion.bdf    47 channels at 256 Hz, last = Status
    Sessions/<id>/P<subject>-Rec1-<date>_C1 trigger _C_Section_<cutNr>.avi

The BDF holds about 30 s before and after the stimulus; the ``Status`` channel's first two
trigger events mark the stimulus onset and end (as TorchEEG reads them).  :func:`read_mahnob`
keeps up to ``baseline_s`` of pre-stimulus signal, the stimulus itself, and drops the rest and
the Status channel.  Sessions of neutral clips (``isStim="0"``) carry no felt ratings and are
skipped with a log line.

>>> from emolab.data import read_mahnob
>>> for rec in read_mahnob("/data/mahnob", sessions=[10]):     # doctest: +SKIP
...     print(rec.subject, rec.trial, rec.signals.shape, rec.baseline_samples, rec.video_offset_s)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emolab._logging import logger, use_log_level
from emolab.data._video import probe_video
from emolab.data.channels import (
    MAHNOB_CH_NAMES,
    MAHNOB_CH_TYPES,
    MAHNOB_SFREQ,
    MAHNOB_STIM_CHANNEL,
)
from emolab.data.record import Record, RecordError, Skip, check_rating

__all__ = [
    "MAHNOB_RATING_ATTRS",
    "MahnobFormatError",
    "SessionInfo",
    "find_stimulus",
    "list_mahnob_sessions",
    "read_mahnob",
    "read_session_xml",
]

#: session.xml attribute -> key of ``Record.ratings`` (felt self-reports; valence/arousal/control/
#: predictability on 1-9, ``feltEmo`` an emotion-category code).
MAHNOB_RATING_ATTRS: dict[str, str] = {
    "feltVlnc": "valence",
    "feltArsl": "arousal",
    "feltCtrl": "dominance",
    "feltPred": "predictability",
    "feltEmo": "emotion",
}

# Biosemi writes its own status bits (CMS in range, battery, ...) above bit 15 of the Status
# channel; the experiment's triggers are in the low 16 bits.
_TRIGGER_MASK = 0xFFFF
# How far (seconds) the trigger times may stray from what session.xml says (cutLenSec).
TRIGGER_TOLERANCE_S = 2.0
# MNE scales EDF/BDF physical values to volts for these units; we undo it (Records keep file units).
_MNE_UNIT_SCALE = {"\u03bcV": 1e-6, "\u00b5V": 1e-6, "\x83\xcaV": 1e-6, "uV": 1e-6, "mV": 1e-3}


class MahnobFormatError(ValueError):
    """A MAHNOB-HCI file whose content does not have the documented layout (names the file)."""


@dataclass
class SessionInfo:
    """What ``session.xml`` says about one session."""

    path: Path
    session_id: int
    subject: int
    is_stim: bool
    ratings: dict[str, float] | None  # None when the session has no felt valence/arousal
    attrs: dict[str, str] = field(default_factory=dict)
    tracks: list[dict[str, str]] = field(default_factory=list)


def _attr_float(attrs: dict[str, str], name: str, path: Path) -> float | None:
    """A numeric attribute of session.xml: ``None`` when absent or empty, an error when it is
    present but not a finite number (a typo must not read as "no value")."""
    text = attrs.get(name)
    if text is None or str(text).strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise MahnobFormatError(f"{path}: attribute {name}={text!r} is not a number; fix it or "
                                "copy session.xml again from the dataset archive")  # fmt: skip
    return value


def read_session_xml(path: str | Path) -> SessionInfo:
    """Parse one ``Sessions/<id>/session.xml``.

    Raises
    ------
    MahnobFormatError
        The XML is malformed, has no ``<session>`` root, or no ``<subject id=…>`` child; a felt
        rating (``feltVlnc``, ``feltArsl``, ``feltCtrl``, ``feltPred``) is present but not a
        number on the 1-9 scale, or ``feltEmo`` is present but not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: session.xml not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise MahnobFormatError(f"{path}: not well-formed XML ({exc})") from None
    if root.tag != "session":
        raise MahnobFormatError(f"{path}: root element is <{root.tag}>, expected <session>")
    attrs = dict(root.attrib)
    subj = root.find("subject")
    if subj is None or not str(subj.get("id", "")).strip().isdigit():
        raise MahnobFormatError(f"{path}: no <subject id=...> element with a numeric id")
    try:
        session_id = int(attrs.get("sessionId") or path.parent.name)
    except ValueError:
        raise MahnobFormatError(
            f"{path}: no sessionId attribute and the folder name {path.parent.name!r} is not a number"
        ) from None
    ratings: dict[str, float] | None = {}
    for attr, key in MAHNOB_RATING_ATTRS.items():
        value = _attr_float(attrs, attr, path)
        if value is not None:
            if key != "emotion":
                try:
                    check_rating(value, name=attr, where=str(path))
                except RecordError as exc:
                    raise MahnobFormatError(str(exc)) from None
            ratings[key] = value
    if "valence" not in ratings or "arousal" not in ratings:
        ratings = None
    return SessionInfo(
        path=path,
        session_id=session_id,
        subject=int(subj.get("id")),
        is_stim=str(attrs.get("isStim", "")).strip() == "1",
        ratings=ratings,
        attrs=attrs,
        tracks=[dict(t.attrib) for t in root.findall("track")],
    )


def list_mahnob_sessions(root: str | Path) -> list[int]:
    """Session ids (numeric folder names holding a ``session.xml``) under ``root/Sessions``."""
    folder = Path(root) / "Sessions"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: folder not found; point root at the MAHNOB-HCI folder that holds "
            "Sessions/<id>/session.xml (see data_manifest.yaml)"
        )
    return sorted(
        int(p.name) for p in folder.iterdir()
        if p.is_dir() and p.name.isdigit() and (p / "session.xml").is_file()
    )  # fmt: skip


def _track_file(info: SessionInfo, *, kind: str, suffix: str) -> Path | None:
    """The file a ``<track>`` of this type names, when it exists in the session folder."""
    for t in info.tracks:
        name = t.get("filename", "")
        if t.get("type", "").lower().startswith(kind) and name.lower().endswith(suffix):
            p = info.path.parent / name
            if p.is_file():
                return p
    return None


def _find_bdf(info: SessionInfo) -> Path:
    found = _track_file(info, kind="physiological", suffix=".bdf")
    if found:
        return found
    bdfs = sorted(info.path.parent.glob("*.bdf"))
    if len(bdfs) != 1:
        what = "no .bdf file" if not bdfs else f"{len(bdfs)} .bdf files ({[b.name for b in bdfs]})"
        raise FileNotFoundError(f"{info.path.parent}: {what}; expected one Part_*_emotion.bdf")
    return bdfs[0]


def _find_video(info: SessionInfo, skips: list[Skip] | None = None) -> Path | None:
    """The frontal colour camera video ('C1 trigger'); ``None`` (logged, and a
    :class:`~emolab.data.record.Skip` appended to ``skips``) when absent or ambiguous."""
    found = _track_file(info, kind="video", suffix=".avi")
    if found:
        return found
    avis = sorted(info.path.parent.glob("*.avi"))
    c1 = [p for p in avis if "C1 trigger" in p.name]
    if len(c1) == 1:
        return c1[0]
    if len(avis) == 1:
        return avis[0]
    what = f"face video of session {info.session_id}"
    if not avis:
        logger.warning("session %d: no .avi in %s; video_path=None", info.session_id, info.path.parent)
        skip = Skip(info.path.parent, what, "no .avi in the session folder; read without its face")
    else:
        logger.warning("session %d: cannot tell the face video among %s; video_path=None",
                       info.session_id, [p.name for p in avis])  # fmt: skip
        skip = Skip(info.path.parent, what, f"cannot tell the face video among "
                    f"{[p.name for p in avis]}; keep only the 'C1 trigger' one")  # fmt: skip
    if skips is not None:
        skips.append(skip)
    return None


def find_stimulus(
    raw, *, bdf: Path, cut_len_s: float | None = None, expected_onset_s: float | None = None
) -> tuple[int, int]:
    """Stimulus onset and end (sample indices) from the Status channel of a MAHNOB BDF.

    The first trigger event is the onset, the second the end; their distance must match
    ``cut_len_s`` (``cutLenSec`` of session.xml) within ``max(2 s, 5 %)`` when it is known.
    When only one event exists it may be the onset or the end: it is read as the onset only if a
    stimulus of ``cut_len_s`` fits after it in the recording, as the end only if one fits before
    it; when both fit, ``expected_onset_s`` (``vidBeginSmp / vidRate``; the session video covers
    the whole recording) must be within the tolerance of one reading, else the session is refused
    rather than guessed.

    A single trigger is logged as a warning naming the BDF and which end ``cutLenSec`` gave;
    :func:`read_mahnob` also records it in the record's ``extra["stimulus_from"]``.

    Raises
    ------
    MahnobFormatError
        No ``Status`` channel, no trigger event, triggers that disagree with ``cut_len_s``, or a
        single trigger whose meaning cannot be told (each names the BDF).
    """
    onset, end, _ = _find_stimulus(raw, bdf=bdf, cut_len_s=cut_len_s, expected_onset_s=expected_onset_s)
    return onset, end


#: ``extra["stimulus_from"]`` of a MAHNOB record: where its stimulus onset and end come from.
STIMULUS_FROM_TRIGGERS = "two Status triggers"
STIMULUS_FROM_ONSET = "one Status trigger (onset); end = onset + cutLenSec"
STIMULUS_FROM_END = "one Status trigger (end); onset = end - cutLenSec"


def _find_stimulus(
    raw, *, bdf: Path, cut_len_s: float | None, expected_onset_s: float | None
) -> tuple[int, int, str]:
    """:func:`find_stimulus`, and which of the ``STIMULUS_FROM_*`` readings it made."""
    import mne

    if MAHNOB_STIM_CHANNEL not in raw.ch_names:
        raise MahnobFormatError(
            f"{bdf}: no '{MAHNOB_STIM_CHANNEL}' channel (found {len(raw.ch_names)} channels, last "
            f"{raw.ch_names[-3:]}); the stimulus onset is read from it - use the original BDF"
        )
    events = mne.find_events(raw, stim_channel=MAHNOB_STIM_CHANNEL, shortest_event=1,
                             mask=_TRIGGER_MASK, mask_type="and", verbose="ERROR")  # fmt: skip
    if len(events) == 0:
        raise MahnobFormatError(f"{bdf}: the Status channel has no trigger event; cannot find the stimulus")
    sfreq = float(raw.info["sfreq"])
    fix = "check the BDF against the original download, or leave this session out (sessions=[...])"
    tol_s = max(TRIGGER_TOLERANCE_S, 0.05 * cut_len_s) if cut_len_s else TRIGGER_TOLERANCE_S
    tol = round(tol_s * sfreq)
    first = int(events[0, 0] - raw.first_samp)
    if len(events) >= 2:
        onset, end = first, int(events[1, 0] - raw.first_samp)
        source = STIMULUS_FROM_TRIGGERS
        if cut_len_s and abs((end - onset) / sfreq - cut_len_s) > tol_s:
            raise MahnobFormatError(
                f"{bdf}: the first two Status triggers (samples {onset} and {end}) are "
                f"{(end - onset) / sfreq:.2f} s apart, but session.xml says the stimulus lasts "
                f"cutLenSec={cut_len_s:g} s; {fix}"
            )
    elif cut_len_s:
        n_stim = round(cut_len_s * sfreq)
        as_onset = first + n_stim <= raw.n_times + tol  # a stimulus fits after the trigger
        as_end = first - n_stim >= -tol  # ... or before it
        if as_onset and as_end and expected_onset_s is not None:
            expected = expected_onset_s * sfreq
            near_onset = abs(first - expected) <= tol
            near_end = abs(first - n_stim - expected) <= tol
            if near_onset != near_end:
                as_onset, as_end = near_onset, near_end
        if as_onset == as_end:
            why = ("it could be either" if as_onset else "neither fits in the "
                   f"{raw.n_times / sfreq:.1f} s recording")  # fmt: skip
            raise MahnobFormatError(
                f"{bdf}: only one Status trigger (sample {first}, {first / sfreq:.2f} s) and it "
                f"cannot be told whether it is the stimulus onset or end ({why}, for a "
                f"cutLenSec={cut_len_s:g} s stimulus); {fix}"
            )
        onset, end = (first, first + n_stim) if as_onset else (max(first - n_stim, 0), first)
        source = STIMULUS_FROM_ONSET if as_onset else STIMULUS_FROM_END
        logger.warning(
            "%s: only one Status trigger (sample %d, %.2f s), read as the stimulus %s; its %s "
            "(sample %d) is taken from session.xml's cutLenSec=%g s, not from a trigger", bdf, first,
            first / sfreq, "onset" if as_onset else "end", "end" if as_onset else "onset",
            end if as_onset else onset, cut_len_s,
        )  # fmt: skip
    else:
        raise MahnobFormatError(f"{bdf}: one trigger event and no cutLenSec; stimulus end unknown")
    end = min(end, raw.n_times)
    if end <= onset:
        raise MahnobFormatError(f"{bdf}: stimulus end (sample {end}) is not after its onset ({onset})")
    return onset, end, source


def check_bdf_length(bdf: Path) -> None:
    """Compare a BDF's size with what its header announces (EDF/BDF fixed header: header bytes
    at offset 184, number of data records at 236, number of signals at 252, samples per record
    of each signal after the per-signal fields; 3 bytes per sample).

    Raises
    ------
    MahnobFormatError
        The file is shorter than its header says (truncated copy) or its header is unreadable;
        a longer file is only logged (MNE reads the announced records).
    """
    size = bdf.stat().st_size
    with open(bdf, "rb") as f:
        head = f.read(256)
        try:
            n_header = int(head[184:192])
            n_records = int(head[236:244])
            ns = int(head[252:256])
            f.seek(256 + ns * 216)
            per_record = sum(int(f.read(8)) for _ in range(ns))
        except ValueError:
            raise MahnobFormatError(f"{bdf}: the BDF header is not readable (not a BDF, or "
                                    "truncated); copy the file again") from None  # fmt: skip
    if n_records < 0:  # -1: "unknown", allowed while recording; MNE infers it from the size
        logger.warning("%s: the header gives no number of data records; inferred from the size", bdf)
        return
    expected = n_header + n_records * per_record * 3
    if size < expected:
        raise MahnobFormatError(
            f"{bdf}: truncated: the header announces {n_records} data records ({expected} bytes) "
            f"but the file has {size} bytes; copy it again from the dataset archive"
        )
    if size > expected:
        logger.warning("%s: %d bytes after the %d data records the header announces; ignored",
                       bdf, size - expected, n_records)  # fmt: skip


def _read_bdf(bdf: Path):
    """Read a BDF with MNE (``mne.io.Raw``, preloaded) after :func:`check_bdf_length`; any
    failure names the file."""
    import mne

    check_bdf_length(bdf)
    try:
        raw = mne.io.read_raw_bdf(bdf, preload=True, verbose="ERROR")
    except Exception as exc:  # MNE raises several types for broken headers
        raise MahnobFormatError(f"{bdf}: cannot read this BDF ({type(exc).__name__}: {exc})") from None
    return raw


def read_mahnob(
    root: str | Path,
    sessions: Iterable[int] | None = None,
    *,
    baseline_s: float = 30.0,
    check_videos: bool = False,
    skips: list[Skip] | None = None,
    verbose: bool | str | int | None = None,
) -> Iterator[Record]:
    """Yield one :class:`~emolab.data.record.Record` per rated MAHNOB-HCI stimulus session.

    What is checked before a record is yielded (each failure a :class:`MahnobFormatError` naming
    the file, and the attribute or channel): session.xml is well-formed with numeric felt ratings
    on the 1-9 scale; the BDF is as long as its header says, has every MAHNOB channel and a Status
    channel whose triggers agree with ``cutLenSec`` (:func:`find_stimulus`); each record passes
    :meth:`~emolab.data.record.Record.validate` (finite samples: the channel is named).

    Parameters
    ----------
    root : path-like
        The folder holding ``Sessions/``.
    sessions : iterable of int, optional
        Session ids (folder names); default: every session with ``isStim="1"`` and felt ratings
        (the others are skipped with a log line).  A requested session without ratings is an
        error naming its ``session.xml``.
    baseline_s : float
        Seconds of pre-stimulus signal to keep at the start of ``signals`` (default 30 s, what the
        recordings hold; fewer when fewer are available).  Ours, not a paper's.
    check_videos : bool
        Open each session video with OpenCV; an unreadable one raises naming the file.
    skips : list or None
        When given, every :class:`~emolab.data.record.Skip` (an unrated session, a session without
        a face video) is appended to it as well as logged.
    verbose : bool, str, int or None
        Log level for this call.

    Yields
    ------
    Record
        ``dataset="mahnob"``, ``subject``, ``trial`` (rank of the session among this subject's
        rated stimulus sessions, by session id), ``experiment_id`` (the session id), ``signals``
        float32 (46, n) — the 32 EEG + 14 peripheral channels in file units (µV for EEG/EXG),
        ``Status`` dropped — from ``baseline_samples`` before the stimulus onset to its end,
        ``sfreq`` (256), ``ratings`` (valence, arousal and, when present, dominance
        (= feltCtrl), predictability, emotion), ``video_path`` (the session's ``C1 trigger``
        video or ``None``) and ``video_offset_s`` = ``vidBeginSmp / vidRate`` (else the trigger
        time, as the video covers the whole recording; ``extra["video_offset_from"]`` says which).
        ``extra["stimulus_from"]`` says where the stimulus onset and end come from: two Status
        triggers, or (logged as a warning) one trigger and ``cutLenSec``.
    """
    root = Path(root)
    with use_log_level(verbose):
        all_ids = list_mahnob_sessions(root)
        infos = {sid: read_session_xml(root / "Sessions" / str(sid) / "session.xml") for sid in all_ids}
        rated = {sid: i for sid, i in infos.items() if i.is_stim and i.ratings is not None}
        # trial = presentation rank among the subject's rated stimulus sessions (ids are recorded
        # in session order)
        trial_of: dict[int, int] = {}
        for subject in sorted({i.subject for i in rated.values()}):
            ids = sorted(sid for sid, i in rated.items() if i.subject == subject)
            trial_of.update({sid: k for k, sid in enumerate(ids, start=1)})
        if sessions is None:
            wanted = sorted(rated)
            skipped = [sid for sid in all_ids if sid not in rated]
            if skipped:
                logger.info("skipping %d session(s) without felt ratings (isStim=0 or no "
                            "feltVlnc/feltArsl): %s", len(skipped), skipped)  # fmt: skip
                if skips is not None:
                    skips.extend(Skip(infos[sid].path, f"session {sid}", "no felt valence/arousal "
                                      f"(isStim={infos[sid].attrs.get('isStim')!r})")
                                 for sid in skipped)  # fmt: skip
        else:
            wanted = [int(s) for s in sessions]
            for sid in wanted:
                if sid not in infos:
                    raise FileNotFoundError(
                        f"{root / 'Sessions' / str(sid) / 'session.xml'}: session {sid} not found"
                    )
                if sid not in rated:
                    info = infos[sid]
                    raise MahnobFormatError(
                        f"{info.path}: session {sid} has no felt valence/arousal ratings "
                        f"(isStim={info.attrs.get('isStim')!r}, feltVlnc="
                        f"{info.attrs.get('feltVlnc')!r}, feltArsl={info.attrs.get('feltArsl')!r})"
                    )
        for sid in wanted:
            info = infos[sid]
            bdf = _find_bdf(info)
            raw = _read_bdf(bdf)
            sfreq = float(raw.info["sfreq"])
            if sfreq != MAHNOB_SFREQ:
                logger.warning("%s: sampled at %g Hz (MAHNOB-HCI: %g Hz)", bdf, sfreq, MAHNOB_SFREQ)
            vid_rate = _attr_float(info.attrs, "vidRate", info.path)
            vid_begin = _attr_float(info.attrs, "vidBeginSmp", info.path)
            onset, end, stimulus_from = _find_stimulus(
                raw, bdf=bdf, cut_len_s=_attr_float(info.attrs, "cutLenSec", info.path),
                expected_onset_s=vid_begin / vid_rate if vid_rate and vid_begin is not None else None,
            )  # fmt: skip
            by_lower = {name.lower(): name for name in raw.ch_names}
            missing = [n for n in MAHNOB_CH_NAMES if n.lower() not in by_lower]
            if missing:
                raise MahnobFormatError(f"{bdf}: missing channel(s) {missing}; found {raw.ch_names}")
            picks = [by_lower[n.lower()] for n in MAHNOB_CH_NAMES]
            extra_ch = sorted(set(raw.ch_names) - set(picks) - {MAHNOB_STIM_CHANNEL})
            if extra_ch:
                logger.debug("%s: ignoring channels %s", bdf, extra_ch)
            n_base = min(int(round(baseline_s * sfreq)), onset)
            if n_base < int(round(baseline_s * sfreq)):
                logger.info("session %d: only %.2f s before the stimulus (asked for %g s)",
                            sid, onset / sfreq, baseline_s)  # fmt: skip
            # (46, n_times) volts -> file units (µV for EEG/EXG), cut to [onset - n_base, end)
            data = raw.get_data(picks=picks, start=onset - n_base, stop=end)
            orig = getattr(raw, "_orig_units", {}) or {}
            scale = np.array([_MNE_UNIT_SCALE.get(orig.get(p, ""), 1.0) for p in picks])
            signals = (data / scale[:, None]).astype(np.float32)
            video = _find_video(info, skips)
            if video is not None and check_videos:
                probe_video(video)
            if vid_rate and vid_begin is not None:
                offset, offset_from = vid_begin / vid_rate, "vidBeginSmp"
            else:
                offset, offset_from = onset / sfreq, "trigger"
            yield Record(
                dataset="mahnob",
                subject=info.subject,
                trial=trial_of[sid],
                experiment_id=sid,
                signals=signals,
                sfreq=sfreq,
                ch_names=list(MAHNOB_CH_NAMES),
                ch_types=list(MAHNOB_CH_TYPES),
                baseline_samples=n_base,
                ratings=dict(info.ratings),
                video_path=video,
                source=bdf,
                video_offset_s=float(offset),
                extra={
                    "video_offset_from": offset_from,
                    "stimulus_onset_sample": onset,
                    "stimulus_from": stimulus_from,
                    "cut_nr": info.attrs.get("cutNr"),
                    "media_file": info.attrs.get("mediaFile"),
                    "session_xml": info.path,
                    "inputs": [info.path],
                },
            ).validate()
