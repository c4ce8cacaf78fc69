"""Bad inputs at every boundary where outside data enters: each is an error naming the file (and the
column, trial or channel), or a skip that is logged and recorded; no wrong value reaches the store.

Every case makes its own small input (tests/fakedata.py writes the real on-disk formats), breaks
one thing in it, and checks the message and that nothing was served or stored.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from pathlib import Path

import fakedata
import numpy as np
import pandas as pd
import pytest
import torch

from emolab import cli
from emolab.data import read_deap, read_mahnob
from emolab.data.channels import DEAP_CH_NAMES, DEAP_CH_TYPES, MAHNOB_CH_NAMES
from emolab.data.deap import DeapFormatError, load_deap_dat
from emolab.data.mahnob import MahnobFormatError
from emolab.data.manifest import verify_dataset
from emolab.data.record import Record, RecordError, Skip
from emolab.data.safe_pickle import UnsafePickleError
from emolab.store import SegmentStore, StoreIntegrityError, build_store
from emolab.preprocess.physio import PhysioConfig
from emolab.train.checkpoints import CheckpointError, load_checkpoint
from emolab.train.results import (
    RESULT_COLUMNS,
    append_results,
    finished_cells,
    load_results,
)

BIO = PhysioConfig(baseline=False, eog_regression=False)  # keeps the fake trials' marks


def _deap(tmp_path, **kw):
    kw.setdefault("subjects", (1, 2))
    kw.setdefault("n_trials", 3)
    kw.setdefault("video_subjects", [])
    return fakedata.write_deap_folder(tmp_path / "deap", **kw)


def _dat_arrays(n_trials=3, n_samples=384 + 128):
    data = 100.0 + np.arange(40)[None, :, None] / 64 + np.zeros((n_trials, 40, n_samples))
    labels = np.tile([5.0, 5.0, 5.0, 5.0], (n_trials, 1))
    return data, labels


def test_extra_keys_in_a_dat_are_named_in_a_warning_and_refused_by_strict(tmp_path, caplog_emolab):
    fake = _deap(tmp_path, subjects=(1,))
    dat = fake.root / "data_preprocessed_python" / "s01.dat"
    data, labels = load_deap_dat(dat)
    dat.write_bytes(fakedata.py2_pickle_bytes({"data": data, "labels": labels, "baseline": data[:, :, :10],
                                               "labels_old": labels}))  # fmt: skip
    recs = list(read_deap(fake.root))
    assert len(recs) == 3 and np.array_equal(recs[0].signals, data[recs[0].experiment_id - 1].astype(np.float32))
    warning = [r.getMessage() for r in caplog_emolab.records if r.levelname == "WARNING" and "key(s)" in r.getMessage()]
    assert len(warning) == 1 and str(dat) in warning[0] and "['baseline', 'labels_old']" in warning[0]
    with pytest.raises(DeapFormatError, match=re.escape(str(dat)) + r": key\(s\) \['baseline', 'labels_old'\]"):
        load_deap_dat(dat, strict=True)


def test_face_videos_without_their_dat_are_a_recorded_skip(tmp_path, caplog_emolab):
    fake = _deap(tmp_path, video_subjects=[1, 2])
    (fake.root / "data_preprocessed_python" / "s02.dat").unlink()
    skips: list[Skip] = []
    assert {r.subject for r in read_deap(fake.root, skips=skips)} == {1}
    assert [(s.path.name, s.what) for s in skips] == [("s02", "face videos of subject 2")]
    assert "s02.dat is missing" in skips[0].reason and "face_video/s02" in caplog_emolab.text
    report = verify_dataset(fake.root, dataset="synthetic-deap", check_videos=False)
    assert [(s.path.name, s.what) for s in report.skipped] == [("s02", "face videos of subject 2")]
    assert "face_video/s02: face videos of subject 2" in report.format()
    assert "s02.dat is missing" in report.format()


# ============================================================================================
# DEAP .dat files
# ============================================================================================


def _nan_in(data, labels):
    data[1, 7, 200] = np.nan  # Experiment_id 2, channel T7
    return data, labels


def _inf_in(data, labels):
    data[2, 36, 10:20] = np.inf  # Experiment_id 3, channel GSR
    return data, labels


def _label(value):
    def f(data, labels):
        labels[0, 1] = value  # Experiment_id 1, arousal
        return data, labels

    return f


DAT_CASES = {
    "nan sample": (_nan_in, r"s01\.dat.*Experiment_id 2.*channel T7 \(index 7\).*sample 200"),
    "inf samples": (_inf_in, r"s01\.dat.*Experiment_id 3.*channel GSR.*10 in this trial"),
    "label 0": (_label(0.0), r"s01\.dat.*Experiment_id 1.*arousal = 0\.0.*1-9 scale"),
    "label 10": (_label(10.0), r"s01\.dat.*arousal = 10\.0"),
    "label nan": (_label(np.nan), r"s01\.dat.*arousal = nan"),
    "39 channels": (lambda d, l: (d[:, :39], l), r"s01\.dat.*'data' must have shape"),
    "labels short": (lambda d, l: (d, l[:2]), r"s01\.dat.*'labels' must have shape"),
}


@pytest.mark.parametrize("case", sorted(DAT_CASES))
def test_bad_dat_content_names_file_trial_and_channel(tmp_path, case):
    fake = _deap(tmp_path, subjects=(1,))
    change, pattern = DAT_CASES[case]
    dat = fake.root / "data_preprocessed_python" / "s01.dat"
    fakedata.write_dat(dat, *change(*_dat_arrays()))
    with pytest.raises(DeapFormatError, match=pattern):
        list(read_deap(fake.root))
    # ... and the store build stops before writing the subject
    with pytest.raises(DeapFormatError, match=re.escape(str(dat))):
        build_store(fake.root, dataset="deap", modalities=("bio",), physio=BIO,
                    store_root=tmp_path / "store", progress=False, verbose="ERROR")  # fmt: skip
    assert not list((tmp_path / "store").glob("deap-*/s01"))


def _malicious():
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo owned > /dev/null",))

    return pickle.dumps({"data": Boom(), "labels": np.zeros((1, 4))}, protocol=2)


DAT_FILE_CASES = {
    "truncated": (lambda b: b[: len(b) // 2], pickle.UnpicklingError, r"s01\.dat: cannot unpickle.*truncated"),
    "garbage": (lambda b: b"\x00garbage" * 20, pickle.UnpicklingError, r"s01\.dat: cannot unpickle"),
    "empty": (lambda b: b"", pickle.UnpicklingError, r"s01\.dat: cannot unpickle"),
    "code": (lambda b: _malicious(), UnsafePickleError, r"s01\.dat: refusing to load global"),
    "not a dict": (lambda b: pickle.dumps([1, 2], protocol=2), DeapFormatError, r"s01\.dat: expected a dict"),
    "int data": (lambda b: fakedata.py2_pickle_bytes({"data": np.zeros((1, 40, 500)), "labels": np.ones((1, 4))})
                 .replace(b"U\x02f8", b"U\x02i8"), DeapFormatError, r"s01\.dat: 'data' must be a float"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(DAT_FILE_CASES))
def test_broken_dat_file_names_the_file(tmp_path, case):
    fake = _deap(tmp_path, subjects=(1,))
    change, exc, pattern = DAT_FILE_CASES[case]
    dat = fake.root / "data_preprocessed_python" / "s01.dat"
    dat.write_bytes(change(dat.read_bytes()))
    with pytest.raises(exc, match=pattern):
        load_deap_dat(dat)
    report = verify_dataset(fake.root, dataset="synthetic-deap", check_videos=False)
    assert any("s01.dat" in p for p in report.problems)


def test_trial_lengths_that_differ_across_subjects(tmp_path):
    fake = _deap(tmp_path)
    fakedata.write_dat(fake.root / "data_preprocessed_python" / "s02.dat", *_dat_arrays(n_samples=600))
    with pytest.raises(DeapFormatError, match=r"s02\.dat: trials of 600 samples, but .*s01\.dat has 512"):
        list(read_deap(fake.root))
    report = verify_dataset(fake.root, dataset="synthetic-deap", check_videos=False)
    assert any("s02.dat: trials of 600 samples" in p for p in report.problems)


def test_badly_named_dat_is_a_recorded_skip(tmp_path, caplog_emolab):
    fake = _deap(tmp_path)
    folder = fake.root / "data_preprocessed_python"
    os.rename(folder / "s02.dat", folder / "s2.dat")
    skips: list[Skip] = []
    recs = list(read_deap(fake.root, skips=skips))
    assert {r.subject for r in recs} == {1}
    assert [s.path.name for s in skips] == ["s2.dat"] and "sNN.dat" in skips[0].reason
    assert "s2.dat" in caplog_emolab.text
    report = verify_dataset(fake.root, dataset="synthetic-deap", check_videos=False)
    assert [s.path.name for s in report.skipped] == ["s2.dat"]
    assert "skipped by the readers (1)" in report.format() and "s2.dat" in report.format()


# ============================================================================================
# DEAP participant_ratings.csv
# ============================================================================================


def _csv_edit(fn):
    def edit(root):
        path = root / "metadata_csv" / "participant_ratings.csv"
        table = pd.read_csv(path)
        out = fn(table)
        (table if out is None else out).to_csv(path, index=False)

    return edit


def _set(col, row, value):
    def fn(t):
        t[col] = t[col].astype(object)
        t.loc[row, col] = value

    return fn


def _shift_trial(t):
    t.loc[t["Participant_id"] == 1, "Trial"] += 1  # off by one: would pair every video wrongly


def _renumber_trial(t):
    t.loc[(t["Participant_id"] == 2) & (t["Trial"] == 3), "Trial"] = 7


CSV_CASES = {
    "Trial text": (_set("Trial", 1, "two"), r"column Trial, line 3: 'two' is not a positive whole number"),
    "Trial fraction": (_set("Trial", 0, 1.5), r"column Trial, line 2: 1\.5 is not a positive whole"),
    "Experiment_id empty": (_set("Experiment_id", 4, np.nan), r"column Experiment_id has empty cells \(first on line 6\)"),
    "Participant negative": (_set("Participant_id", 2, -1), r"column Participant_id, line 4"),
    "Trial 0-based": (_set("Trial", 0, 0), r"column Trial, line 2: 0 is not a positive whole number"),
    "Trial shifted": (_shift_trial, r"column Trial of participant 1 is not a permutation of 1\.\.3.*\[1, 4\]"),
    "Trial renumbered": (_renumber_trial, r"column Trial of participant 2 is not a permutation.*\[3, 7\]"),
    "Trial twice": (_set("Trial", 1, 1), r"participant 1 has Trial 1 .* twice"),
    "Valence text": (_set("Valence", 3, "high"), r"column Valence, line 5: 'high' is not a rating"),
    "Arousal 10": (_set("Arousal", 0, 10.0), r"column Arousal, line 2: 10\.0 is not a rating on the 1-9"),
    "Liking 0": (_set("Liking", 5, 0.0), r"column Liking, line 7"),
    "Start_time text": (_set("Start_time", 0, "noon"), r"column Start_time, line 2: 'noon' is not a number"),
    "row missing": (lambda t: t.drop(index=t.index[(t.Participant_id == 2) & (t.Experiment_id == 2)]),
                    r"no row for participant 2, Experiment_id \[2\]"),
    "column missing": (lambda t: t.drop(columns=["Experiment_id"]), r"missing column\(s\) \['Experiment_id'\]"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_ratings_csv_names_file_column_and_line(tmp_path, case):
    fake = _deap(tmp_path)
    change, pattern = CSV_CASES[case]
    _csv_edit(change)(fake.root)
    with pytest.raises(DeapFormatError, match=r"participant_ratings\.csv.*" + pattern):
        list(read_deap(fake.root))
    report = verify_dataset(fake.root, dataset="synthetic-deap", check_videos=False)
    assert any("participant_ratings.csv" in p for p in report.problems), report.format()


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00\x01garbage\n\x00"])
def test_unreadable_ratings_csv_names_the_file(tmp_path, content):
    fake = _deap(tmp_path)
    (fake.root / "metadata_csv" / "participant_ratings.csv").write_bytes(content)
    with pytest.raises(DeapFormatError, match=r"participant_ratings\.csv: "):
        list(read_deap(fake.root))


# ============================================================================================
# MAHNOB-HCI session.xml and BDF
# ============================================================================================


def _mahnob(tmp_path, **kw):
    kw.setdefault("session_id", 10)
    kw.setdefault("subject", 1)
    sess = fakedata.FakeSession(**kw)
    return fakedata.write_mahnob_folder(tmp_path / "mahnob", [sess]), sess


XML_CASES = {
    "feltVlnc text": (('feltVlnc="7"', 'feltVlnc="high"'), r"feltVlnc='high' is not a number"),
    "feltArsl 12": (('feltArsl="3"', 'feltArsl="12"'), r"feltArsl=12\.0 is outside the 1-9 scale"),
    "feltCtrl 0": (('feltCtrl="5"', 'feltCtrl="0"'), r"feltCtrl=0\.0 is outside"),
    "feltEmo text": (('feltEmo="1"', 'feltEmo="joy"'), r"feltEmo='joy' is not a number"),
    "cutLenSec text": (('cutLenSec="4.00"', 'cutLenSec="4,00"'), r"cutLenSec='4,00' is not a number"),
    "vidRate text": (('vidRate="60.0"', 'vidRate="sixty"'), r"vidRate='sixty' is not a number"),
    "no subject": (('<subject id="1" />', ""), r"no <subject id=\.\.\.> element"),
    "not xml": (("<session ", "<session <"), r"not well-formed XML"),
}


@pytest.mark.parametrize("case", sorted(XML_CASES))
def test_bad_session_xml_names_file_and_attribute(tmp_path, case):
    root, _ = _mahnob(tmp_path)
    (old, new), pattern = XML_CASES[case]
    xml = root / "Sessions" / "10" / "session.xml"
    text = xml.read_text()
    assert old in text
    xml.write_text(text.replace(old, new))
    with pytest.raises(MahnobFormatError, match=r"Sessions/10/session\.xml: .*" + pattern):
        list(read_mahnob(root))


def _write_bdf_with_pulses(path: Path, sess, pulses_s, sfreq=256):
    """A MAHNOB BDF like fakedata's, with Status pulses at the given times (seconds)."""
    import pyedflib

    n = (sess.pre_s + sess.stim_s + sess.post_s) * sfreq
    t = np.arange(n) / sfreq
    signals = [sess.session_id + c / 4 + 0.1 * np.sin(2 * np.pi * t) for c in range(len(MAHNOB_CH_NAMES))]
    status = np.zeros(n)
    for p in pulses_s:
        status[int(p * sfreq): int(p * sfreq) + 4] = 1
    signals.append(status)
    head = {"dimension": "uV", "sample_frequency": sfreq, "physical_min": -262143.0,
            "physical_max": 262143.0, "digital_min": -8388608, "digital_max": 8388607,
            "transducer": "", "prefilter": ""}
    headers = [dict(head, label=name) for name in MAHNOB_CH_NAMES]
    headers.append(dict(head, label="Status", dimension="Boolean", physical_min=-8388608.0,
                        physical_max=8388607.0))  # fmt: skip
    w = pyedflib.EdfWriter(str(path), len(signals), file_type=pyedflib.FILETYPE_BDF)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            w.setSignalHeaders(headers)
        w.writeSamples([np.asarray(s, np.float64) for s in signals])
    finally:
        w.close()


def _bdf_of(root):
    return next((root / "Sessions" / "10").glob("*.bdf"))


@pytest.mark.parametrize("which", ["onset", "end"])
def test_single_trigger_is_read_by_what_fits_not_guessed(tmp_path, which, caplog_emolab):
    # 3 s before, 4 s stimulus, 2 s after: a lone pulse at 3 s can only be the onset, at 7 s the end
    root, sess = _mahnob(tmp_path)
    bdf = _bdf_of(root)
    _write_bdf_with_pulses(bdf, sess, [3.0] if which == "onset" else [7.0])
    (rec,) = read_mahnob(root)
    assert rec.extra["stimulus_onset_sample"] == 3 * 256
    assert rec.signals.shape[1] - rec.baseline_samples == 4 * 256
    # the other end comes from cutLenSec: logged as a warning naming the BDF, and recorded
    other = "end" if which == "onset" else "onset"
    (warning,) = [r.getMessage() for r in caplog_emolab.records
                  if r.levelname == "WARNING" and "Status trigger" in r.getMessage()]  # fmt: skip
    assert warning.startswith(f"{bdf}: only one Status trigger")
    assert f"read as the stimulus {which}; its {other}" in warning and "cutLenSec=4 s" in warning
    assert rec.extra["stimulus_from"].startswith(f"one Status trigger ({which})")
    report = verify_dataset(root, dataset="synthetic-mahnob", check_videos=False)
    assert report.ok and any(n.startswith(f"{bdf}: one Status trigger ({which})") for n in report.notes)


def test_two_triggers_are_recorded_as_such(tmp_path, caplog_emolab):
    root, _ = _mahnob(tmp_path)
    (rec,) = read_mahnob(root)
    assert rec.extra["stimulus_from"] == "two Status triggers"
    assert "Status trigger" not in caplog_emolab.text


def test_single_ambiguous_trigger_is_refused_or_settled_by_the_video(tmp_path):
    # 5 s before, 4 s stimulus, 5 s after: a lone pulse at 5 s fits as onset (5-9) and as end (1-5)
    root, sess = _mahnob(tmp_path, pre_s=5, stim_s=4, post_s=5)
    _write_bdf_with_pulses(_bdf_of(root), sess, [5.0])
    xml = root / "Sessions" / "10" / "session.xml"
    # vidBeginSmp says the stimulus starts at 5 s in the session video: the pulse is the onset
    (rec,) = read_mahnob(root)
    assert rec.extra["stimulus_onset_sample"] == 5 * 256
    # without it the reader refuses rather than guess
    xml.write_text(xml.read_text().replace('vidBeginSmp="300"', ""))
    with pytest.raises(MahnobFormatError, match=r"emotion\.bdf: only one Status trigger.*could be either"):
        list(read_mahnob(root))


def test_triggers_that_disagree_with_cutlensec(tmp_path):
    root, sess = _mahnob(tmp_path, pre_s=3, stim_s=8, post_s=2)
    _write_bdf_with_pulses(_bdf_of(root), sess, [3.0, 5.0])  # 2 s apart, cutLenSec 8 s
    with pytest.raises(MahnobFormatError, match=r"emotion\.bdf: the first two Status triggers .* 2\.00 s apart.*cutLenSec=8"):
        list(read_mahnob(root))
    report = verify_dataset(root, dataset="synthetic-mahnob", check_videos=False)
    assert any("2.00 s apart" in p for p in report.problems)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_bdf_names_the_file(tmp_path, keep):
    root, _ = _mahnob(tmp_path)
    bdf = _bdf_of(root)
    data = bdf.read_bytes()
    bdf.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MahnobFormatError, match=r"emotion\.bdf: truncated: the header announces 9 data records"):
        list(read_mahnob(root))
    report = verify_dataset(root, dataset="synthetic-mahnob", check_videos=False)
    assert any("truncated" in p for p in report.problems)


def test_bdf_with_a_broken_header_names_the_file(tmp_path):
    root, _ = _mahnob(tmp_path)
    bdf = _bdf_of(root)
    bdf.write_bytes(b"\xffBIOSEMI" + b"x" * 300)
    with pytest.raises(MahnobFormatError, match=r"emotion\.bdf: the BDF header is not readable"):
        list(read_mahnob(root))


def test_unrated_session_and_missing_video_are_recorded_skips(tmp_path):
    sessions = [fakedata.FakeSession(session_id=10, subject=1),
                fakedata.FakeSession(session_id=11, subject=1, is_stim=False, ratings=None),
                fakedata.FakeSession(session_id=12, subject=1, with_video=False)]  # fmt: skip
    root = fakedata.write_mahnob_folder(tmp_path / "m", sessions)
    skips: list[Skip] = []
    assert [r.experiment_id for r in read_mahnob(root, skips=skips)] == [10, 12]
    assert [s.what for s in skips] == ["session 11", "face video of session 12"]
    report = verify_dataset(root, dataset="synthetic-mahnob", check_videos=False)
    assert report.ok and [s.what for s in report.skipped] == ["session 11"]
    assert [p.name for p in report.missing_videos] == ["12"]
    store = build_store(root, dataset="mahnob", modalities=("bio",), store_root=tmp_path / "store",
                        progress=False, verbose="ERROR")  # fmt: skip
    skipped = store.skipped()
    assert list(skipped["what"]) == ["face video of session 12"] and list(skipped["subject"]) == [1]


# ============================================================================================
# the store-build boundary: whatever the reader, nothing wrong is written
# ============================================================================================


def _record(subject=1, trial=1, **kw):
    x = np.random.default_rng(trial).normal(0, 10, (40, 384 + 2 * 128)).astype(np.float32)
    base = {"dataset": "deap", "subject": subject, "trial": trial, "experiment_id": trial,
            "signals": x, "sfreq": 128.0, "ch_names": list(DEAP_CH_NAMES),
            "ch_types": list(DEAP_CH_TYPES), "baseline_samples": 384,
            "ratings": {"valence": 5.0, "arousal": 5.0}, "source": Path(f"s{subject:02d}.dat")}
    base.update(kw)
    return Record(**base)


def _with_nan(rec):
    rec.signals[36, 500] = np.nan
    return rec


RECORD_CASES = {
    "nan sample": (_with_nan, r"s01\.dat: subject 1, trial 2 .*channel GSR \(index 36\).*sample 500"),
    "valence 0": (lambda r: _record(trial=2, ratings={"valence": 0.0, "arousal": 5.0}),
                  r"s01\.dat: subject 1, trial 2.*valence=0\.0 is outside the 1-9 scale"),
    "arousal nan": (lambda r: _record(trial=2, ratings={"valence": 5.0, "arousal": float("nan")}),
                    r"trial 2.*arousal=nan is outside"),
    "dominance 9.5": (lambda r: _record(trial=2, ratings={"valence": 5.0, "arousal": 5.0, "dominance": 9.5}),
                      r"dominance=9\.5"),
    "no baseline left": (lambda r: _record(trial=2, baseline_samples=640), r"not more than the 640 baseline"),
    "int signals": (lambda r: _record(trial=2, signals=np.zeros((40, 640), np.int16)), r"dtype int16"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(RECORD_CASES))
def test_store_build_refuses_bad_records_from_any_reader(tmp_path, case):
    change, pattern = RECORD_CASES[case]

    def reader(root, subject):
        yield _record(trial=1)
        yield change(_record(trial=2))

    with pytest.raises(RecordError, match=pattern):
        build_store(tmp_path / "data", dataset="deap", subjects=[1], modalities=("bio",), physio=BIO,
                    store_root=tmp_path / "store", reader=reader, progress=False, verbose="ERROR")  # fmt: skip
    assert list((tmp_path / "store").glob("deap-*/s01")) == []


def test_face_extractor_error_names_the_video(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Face:
        fps: float = 60.0
        size: int = 8

    def reader(root, subject):
        yield _record(video_path=tmp_path / "s01_trial01.avi")

    def slow_video(video_path, **kw):
        raise ValueError("cannot keep 60.0 frames per second from a 50.0 fps video; lower FaceConfig.fps")

    with pytest.raises(ValueError, match=r"s01_trial01\.avi: cannot keep 60\.0 frames.*subject 1, trial 1"):
        build_store(tmp_path / "data", dataset="deap", subjects=[1], face=Face(), physio=BIO,
                    store_root=tmp_path / "store", reader=reader, face_extractor=slow_video,
                    progress=False, verbose="ERROR")  # fmt: skip
    assert list((tmp_path / "store").glob("deap-*/s01")) == []


def test_video_slower_than_the_face_rate_is_refused_naming_the_video(tmp_path):
    from emolab.preprocess.face import FaceConfig, extract_face_windows

    video = fakedata.write_marked_video(tmp_path / "s01_trial01.avi", mark=1, fps=3.0, n_frames=6)
    with pytest.raises(ValueError, match=re.escape(str(video)) + r": cannot keep 5\.0 frames per second "
                       r"from a 3\.0 fps video; lower FaceConfig\.fps"):  # fmt: skip
        extract_face_windows(video, n_windows=2, config=FaceConfig(fps=5.0, size=16))


# ============================================================================================
# store integrity
# ============================================================================================


def _built(tmp_path, subjects=(1, 2)):
    fake = _deap(tmp_path, subjects=subjects)
    store = build_store(fake.root, dataset="deap", modalities=("bio",), physio=BIO,
                        store_root=tmp_path / "store", progress=False, verbose="ERROR")  # fmt: skip
    return fake, store


def _overwrite_inside(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-64:] = b"\x7f" * 64  # same size, other values
    path.write_bytes(bytes(data))


def _copy_of_subject_2(path: Path) -> None:
    path.write_bytes((path.parents[1] / "s02" / path.name).read_bytes())


DAMAGE = {  # file of subject 1 -> (damage, caught by the cheap check on open)
    "bio.npy overwritten": ("bio.npy", _overwrite_inside, True),
    "bio.npy swapped": ("bio.npy", _copy_of_subject_2, True),
    "bio.npy truncated": ("bio.npy", lambda p: p.write_bytes(p.read_bytes()[:-100]), True),
    "bio.npy header": ("bio.npy", lambda p: p.write_bytes(b"\x93NUMPX" + p.read_bytes()[6:]), True),
    "bio.npy deleted": ("bio.npy", lambda p: p.unlink(), True),
    "segments.csv edited": ("segments.csv", lambda p: p.write_text(p.read_text().replace(",1,", ",2,", 1)), True),
    "segments.csv truncated": ("segments.csv", lambda p: p.write_text(p.read_text()[:-30]), True),
    "integrity.json deleted": ("integrity.json", lambda p: p.unlink(), True),
    "integrity.json garbage": ("integrity.json", lambda p: p.write_text("{not json"), True),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_store_is_refused_then_rebuilt(tmp_path, case):
    fake, store = _built(tmp_path)
    name, damage, cheap = DAMAGE[case]
    before = np.array(store.bio(1))
    meta_before = store.metadata([1])
    damage(store.path / "s01" / name)
    if cheap:
        with pytest.raises(StoreIntegrityError, match=rf"s01/{re.escape(name)}"):
            SegmentStore(store.path)
    else:
        SegmentStore(store.path)  # sizes still match: only the checksums can tell
    with pytest.raises(StoreIntegrityError, match=rf"s01/{re.escape(name)}.*build_store"):
        SegmentStore(store.path, verify=True)
    assert [p.subject for p in SegmentStore(store.path, check=False).check(full=True)] == [1]
    # the CLI says so and exits 1
    assert cli.main(["data", "verify-store", str(store.path)]) == 1
    # a rebuild replaces exactly that subject, with the right values
    rebuilt = build_store(fake.root, dataset="deap", modalities=("bio",), physio=BIO,
                          store_root=tmp_path / "store", progress=False, verify=True, verbose="ERROR")  # fmt: skip
    assert rebuilt.check(full=True) == []
    np.testing.assert_array_equal(np.array(rebuilt.bio(1)), before)
    pd.testing.assert_frame_equal(rebuilt.metadata([1]), meta_before)
    assert cli.main(["data", "verify-store", str(store.path)]) == 0


@pytest.mark.parametrize("where", ["last block", "a middle block", "between blocks"])
def test_same_size_overwrite_of_a_large_file_and_the_sampled_check(tmp_path, monkeypatch, where):
    # Files above SAMPLE_WHOLE_BYTES (1 MiB) get the sampled checksum (16 blocks of 4 KiB, first
    # byte to last); the same with blocks of 256 bytes above 4 KiB, on the fake store's bio.npy.
    import emolab.store.integrity as integrity

    monkeypatch.setattr(integrity, "SAMPLE_BYTES", 256)
    monkeypatch.setattr(integrity, "SAMPLE_WHOLE_BYTES", 4096)
    _, store = _built(tmp_path)
    bio = store.path / "s01" / "bio.npy"
    size = bio.stat().st_size
    offsets = integrity.sample_offsets(size)
    assert size > integrity.SAMPLE_WHOLE_BYTES and len(offsets) == integrity.SAMPLE_BLOCKS
    gap = offsets[1] - offsets[0] - integrity.SAMPLE_BYTES
    assert gap > 64, "the fake bio.npy is too small to leave room between blocks"
    at = {"last block": size - 64, "a middle block": offsets[8] + 16,
          "between blocks": offsets[0] + integrity.SAMPLE_BYTES + gap // 2}[where]
    data = bytearray(bio.read_bytes())
    data[at : at + 64] = b"\x7f" * 64  # same size, other values
    bio.write_bytes(bytes(data))
    if where == "between blocks":  # the documented limit: only the full check reads those bytes
        SegmentStore(store.path)
    else:
        with pytest.raises(StoreIntegrityError, match=r"s01/bio\.npy: content differs .*sampled checksum"):
            SegmentStore(store.path)
    with pytest.raises(StoreIntegrityError, match=r"s01/bio\.npy: content differs .*SHA-256 mismatch"):
        SegmentStore(store.path, verify=True)


def test_store_built_without_sampled_checksums_still_opens(tmp_path, caplog_emolab):
    # integrity.json of a store built before the sampled checksum: sizes and headers on open,
    # the full SHA-256 on request
    _, store = _built(tmp_path, subjects=(1,))
    record_path = store.path / "s01" / "integrity.json"
    record = json.loads(record_path.read_text())
    for want in record["outputs"].values():
        del want["sample_sha256"]
    record_path.write_text(json.dumps(record))
    _overwrite_inside(store.path / "s01" / "bio.npy")
    caplog_emolab.clear()
    SegmentStore(store.path)
    assert caplog_emolab.text.count("without sampled checksums") == 1  # said once, with the way out
    assert "verify-store" in caplog_emolab.text
    with pytest.raises(StoreIntegrityError, match=r"SHA-256 mismatch"):
        SegmentStore(store.path, verify=True)


def test_replaced_input_is_refused_and_rebuilt_with_the_new_values(tmp_path):
    fake, store = _built(tmp_path)
    dat = fake.root / "data_preprocessed_python" / "s01.dat"
    data, labels = load_deap_dat(dat)
    labels[:, 0] = 2.0
    fakedata.write_dat(dat, data + 1000.0, labels)
    with pytest.raises(StoreIntegrityError, match=r"s01\.dat: input of subject 1 changed"):
        SegmentStore(store.path)
    assert SegmentStore(store.path, check=False).check(subjects=[2]) == []  # the other one is fine
    rebuilt = build_store(fake.root, dataset="deap", modalities=("bio",), physio=BIO,
                          store_root=tmp_path / "store", progress=False, verbose="ERROR")  # fmt: skip
    assert rebuilt.path == store.path  # same key: only the integrity record could tell
    assert (rebuilt.metadata([1])["valence"] == 2.0).all()
    assert np.array(rebuilt.bio(1))[:, 0].mean() > 1000


def test_touched_ratings_csv_also_counts_as_changed(tmp_path):
    fake, store = _built(tmp_path, subjects=(1,))
    csv = fake.root / "metadata_csv" / "participant_ratings.csv"
    st = csv.stat()
    os.utime(csv, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    with pytest.raises(StoreIntegrityError, match=r"participant_ratings\.csv: input of subject 1 changed"):
        SegmentStore(store.path)


def test_store_moved_away_from_its_inputs_is_still_served(tmp_path, caplog_emolab):
    fake, store = _built(tmp_path, subjects=(1,))
    os.rename(fake.root, tmp_path / "elsewhere")
    assert SegmentStore(store.path, verify=True).subjects == [1]
    assert "no longer exists" in caplog_emolab.text


def test_damaged_config_json_names_the_file(tmp_path):
    _, store = _built(tmp_path, subjects=(1,))
    cfg = store.path / "config.json"
    cfg.write_text("{")
    with pytest.raises(StoreIntegrityError, match=r"config\.json: not valid JSON"):
        SegmentStore(store.path)
    cfg.write_text(json.dumps({"modalities": ["bio"], "format": 2}))
    with pytest.raises(StoreIntegrityError, match=r"config\.json: its content does not hash"):
        SegmentStore(store.path)


def test_store_records_the_skips_of_its_build(tmp_path):
    fake = fakedata.write_deap_folder(tmp_path / "deap", subjects=(1,), n_trials=2, missing_videos={1: [2]})
    store = build_store(fake.root, dataset="deap", modalities=("bio",), physio=BIO,
                        store_root=tmp_path / "store", progress=False, verbose="ERROR")  # fmt: skip
    skipped = store.skipped()
    assert list(skipped["subject"]) == [1]
    assert skipped["path"].iloc[0].endswith("s01_trial02.avi") and "missing" in skipped["reason"].iloc[0]


def test_malformed_npy_read_names_the_file(tmp_path):
    _, store = _built(tmp_path, subjects=(1,))
    unchecked = SegmentStore(store.path, check=False)
    (store.path / "s01" / "bio.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(StoreIntegrityError, match=r"s01/bio\.npy: cannot be read as \.npy"):
        unchecked.bio(1)


# ============================================================================================
# the results table
# ============================================================================================


def _row(cell, subject=1, **kw):
    row = {c: 0 for c in RESULT_COLUMNS}
    row.update(cell_id=cell, model="m", modalities="bio", task="valence", protocol="loso", leaky=False,
               disjoint="subject", subject=subject, fold=0, accuracy=0.75, balanced_accuracy=0.7,
               f1=0.6, roc_auc=0.8, majority_baseline=0.5, device="cpu", config={"seed": 1})  # fmt: skip
    row.update(kw)
    return row


def _table(tmp_path):
    path = tmp_path / "results.csv"
    append_results(path, [_row("a")])
    append_results(path, [_row("b", 1), _row("b", 2)])
    return path


TORN = {  # damage -> cells still finished
    "last row cut": (lambda b: b[:-20], {"a"}),
    "cut in cell_id": (lambda b: b[: b.rfind(b"\nb,") + 2], {"a"}),
    "trailing NULs": (lambda b: b + b"\0" * 512, {"a", "b"}),
    "cut and NULs": (lambda b: b[:-20] + b"\0" * 100, {"a"}),
    "header cut": (lambda b: b[:30], set()),
}


@pytest.mark.parametrize("case", sorted(TORN))
def test_torn_tail_never_counts_as_a_finished_cell(tmp_path, case, caplog_emolab):
    path = _table(tmp_path)
    damage, done = TORN[case]
    path.write_bytes(damage(path.read_bytes()))
    assert finished_cells(path) == done
    assert "results.csv: dropped" in caplog_emolab.text
    df = load_results(path)
    assert set(df["cell_id"]) == done and not df["accuracy"].isna().any()
    # the next append repairs the file and the cell counts once it is really there
    append_results(path, [_row("b", 1), _row("b", 2)])
    assert finished_cells(path) == done | {"b"}
    assert path.read_bytes().endswith(b"\n") and len(load_results(path)) == len(df) + 2


MALFORMED_ROWS = {
    "too few fields": "a,m,bio",
    "text metric": "x,m,bio,valence,loso,False,subject,1,0,high,0.7,0.6,0.8,0.5,0,0,0,0,0,0,0,cpu,{}",
    "no cell id": ",m,bio,valence,loso,False,subject,1,0,0.7,0.7,0.6,0.8,0.5,0,0,0,0,0,0,0,cpu,{}",
    "config not json": 'x,m,bio,valence,loso,False,subject,1,0,0.7,0.7,0.6,0.8,0.5,0,0,0,0,0,0,0,cpu,"{""a"":"',
    "leaky not bool": "x,m,bio,valence,loso,maybe,subject,1,0,0.7,0.7,0.6,0.8,0.5,0,0,0,0,0,0,0,cpu,{}",
}


@pytest.mark.parametrize("bad", sorted(MALFORMED_ROWS))
def test_malformed_middle_row_names_the_line(tmp_path, bad):
    path = _table(tmp_path)
    lines = path.read_text().splitlines()
    lines.insert(2, MALFORMED_ROWS[bad])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"results\.csv: line 3: "):
        load_results(path)


def test_failed_append_leaves_the_table_as_it_was(tmp_path, monkeypatch):
    path = _table(tmp_path)
    before = path.read_bytes()

    def short_write(fd, data):
        os.ftruncate(fd, os.fstat(fd).st_size)  # nothing, and
        return len(data) // 2  # a short write (disk full)

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(OSError, match="short write"):
        append_results(path, [_row("c")])
    monkeypatch.undo()
    assert path.read_bytes() == before and finished_cells(path) == {"a", "b"}


# ============================================================================================
# checkpoints
# ============================================================================================


def _ckpt(tmp_path):
    path = tmp_path / "ckpt" / "last.pt"
    path.parent.mkdir()
    torch.save({"model": {"w": torch.ones(3)}, "epoch": 2}, path)
    return path


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


CKPT_CASES = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), r"truncated or damaged"),
    "empty": (lambda p: p.write_bytes(b""), r"truncated or damaged|refused"),
    "garbage": (lambda p: p.write_bytes(b"not a checkpoint at all" * 10), r"refused or not a checkpoint|truncated"),
    "code": (lambda p: torch.save({"x": _Evil()}, p), r"refused or not a checkpoint"),
    "tensor": (lambda p: torch.save(torch.ones(2), p), r"holds a Tensor, not a state dict"),
    # torch's legacy (pre-zip) format, cut short: the unpickler raised IndexError or struct.error
    # (neither naming the file) before load_checkpoint caught every damage
    "one byte": (lambda p: p.write_bytes(b"\x80"), r"truncated or damaged \(1 bytes; IndexError"),
    "legacy cut": (lambda p: _legacy_cut(p, 30), r"truncated or damaged \(30 bytes; error: unpack"),
    "legacy cut later": (lambda p: _legacy_cut(p, 25), r"truncated or damaged \(25 bytes; IndexError"),
}  # fmt: skip


def _legacy_cut(path: Path, keep: int) -> None:
    torch.save({"model": {"w": torch.ones(3)}, "epoch": 2}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize("case", sorted(CKPT_CASES))
def test_bad_checkpoint_names_the_file_and_the_fix(tmp_path, case):
    path = _ckpt(tmp_path)
    assert load_checkpoint(path)["epoch"] == 2
    damage, pattern = CKPT_CASES[case]
    damage(path)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(path))}: ({pattern}).*delete {re.escape(str(path.parent))}"):
        load_checkpoint(path)


def test_trainer_resume_goes_through_load_checkpoint(tmp_path):
    from emolab.train.config import TrainConfig
    from emolab.train.trainer import CHECKPOINT_NAME, Trainer

    (tmp_path / CHECKPOINT_NAME).write_bytes(b"\x80\x02garbage")
    tr = Trainer(torch.nn.Linear(2, 1), TrainConfig(modalities=("bio",), device="cpu"),
                 checkpoint_dir=tmp_path, verbose=False)  # fmt: skip
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path / CHECKPOINT_NAME))):
        tr._resume()


# ============================================================================================
# the command line
# ============================================================================================


def test_cli_expected_error_is_one_line_and_exit_1(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["data", "synth", "--out", str(blocker / "synth")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("emolab: error: ") and str(blocker) in err and "choose another" in err


def test_cli_damaged_store_is_one_line_and_debug_raises(tmp_path, capsys):
    fake = _deap(tmp_path, subjects=(1,))
    fakedata.write_dat(fake.root / "data_preprocessed_python" / "s01.dat", *_nan_in(*_dat_arrays()))
    assert cli.main(["data", "verify", str(fake.root), "--dataset", "synthetic-deap"]) == 1
    assert "channel T7" in capsys.readouterr().out
    assert cli.main(["data", "verify-store", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nothing/config.json is missing" in err
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "data", "verify-store", str(tmp_path / "nothing")])


def test_cli_usage_error_is_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["data", "verify-store"])
    assert info.value.code == 2


def test_cli_verify_store_lists_the_skips(tmp_path, capsys):
    fake = fakedata.write_deap_folder(tmp_path / "deap", subjects=(1,), n_trials=2, missing_videos={1: [1]})
    store = build_store(fake.root, dataset="deap", modalities=("bio",), physio=BIO,
                        store_root=tmp_path / "store", progress=False, verbose="ERROR")  # fmt: skip
    assert cli.main(["data", "verify-store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert "OK (full check" in out and "s01_trial01.avi" in out and "skipped while building (1)" in out
