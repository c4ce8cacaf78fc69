"""The DEAP reader on tiny exact-format folders: pairing, safety, and bad input."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fakedata
from emolab.data import read_deap
from emolab.data._video import VideoError
from emolab.data.channels import DEAP_CH_NAMES, DEAP_CH_TYPES
from emolab.data.deap import DeapFormatError, deap_dat_path, load_deap_dat
from emolab.data.safe_pickle import UnsafePickleError, load_numpy_pickle


# ------------------------------------------------------------------------------------ pickles


def test_py2_style_pickle_needs_latin1_and_loads_safely(tmp_path):
    data, labels = np.random.default_rng(0).normal(size=(2, 40, 400)), np.ones((2, 4))
    path = fakedata.write_dat(tmp_path / "s01.dat", data, labels, style="py2")
    raw = path.read_bytes()
    assert b"numpy.core.multiarray" in raw  # the module name Python-2 NumPy wrote
    with pytest.raises(UnicodeDecodeError):  # the real files' behaviour under a plain load
        pickle.loads(raw)
    obj = load_numpy_pickle(path)
    assert set(obj) == {"data", "labels"}  # py2 byte-string keys come back as str
    np.testing.assert_array_equal(obj["data"], data)
    np.testing.assert_array_equal(obj["labels"], labels)


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_py3_pickles_of_old_protocols_load(tmp_path, protocol):
    data, labels = np.arange(2 * 40 * 400, dtype=float).reshape(2, 40, 400), np.ones((2, 4))
    path = tmp_path / "s01.dat"
    path.write_bytes(pickle.dumps({"data": data, "labels": labels}, protocol=protocol))
    got_data, got_labels = load_deap_dat(path)
    np.testing.assert_array_equal(got_data, data)
    np.testing.assert_array_equal(got_labels, labels)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_calling_os_system_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_preprocessed_python" / "s01.dat"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"data": _Evil(marker), "labels": np.ones((1, 4))}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"s01\.dat.*(posix|os|nt)\.system"):
        load_deap_dat(path)
    assert not marker.exists()


def test_codecs_encode_only_admits_latin1(tmp_path):
    path = tmp_path / "s01.dat"
    # _codecs.encode("x", "rot13") built by hand: the allowed global with another codec
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(UnsafePickleError, match=r"s01\.dat.*rot13"):
        load_numpy_pickle(path)


def test_truncated_dat_names_the_file(tmp_path):
    path = fakedata.write_dat(tmp_path / "s05.dat", np.zeros((2, 40, 400)), np.ones((2, 4)))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(pickle.UnpicklingError, match=r"s05\.dat.*truncated"):
        load_deap_dat(path)


@pytest.mark.parametrize(
    "data_shape, labels_shape, what",
    [((2, 39, 400), (2, 4), "'data'"), ((2, 40), (2, 4), "'data'"), ((2, 40, 400), (3, 4), "'labels'"),
     ((2, 40, 400), (2, 3), "'labels'"), ((2, 40, 200), (2, 4), "'data'")],
)  # fmt: skip
def test_wrong_array_shape_names_the_file(tmp_path, data_shape, labels_shape, what):
    path = fakedata.write_dat(tmp_path / "s07.dat", np.zeros(data_shape), np.ones(labels_shape))
    with pytest.raises(DeapFormatError, match=rf"s07\.dat: {what}"):
        load_deap_dat(path)


def test_strict_shape_is_deaps(tmp_path):
    path = fakedata.write_dat(tmp_path / "s07.dat", np.zeros((2, 40, 400)), np.ones((2, 4)))
    load_deap_dat(path)  # the reader accepts shorter trials ...
    with pytest.raises(DeapFormatError, match=r"s07\.dat.*\(40, 40, 8064\)"):
        load_deap_dat(path, strict=True)  # ... verify of real DEAP does not


# ------------------------------------------------------------------------------------ pairing


def test_records_have_the_contracted_shape(deap_folder):
    recs = list(read_deap(deap_folder.root, subjects=[1]))
    assert len(recs) == deap_folder.n_trials
    r = recs[0]
    assert r.dataset == "deap" and r.subject == 1
    assert r.signals.dtype == np.float32 and r.signals.shape == (40, deap_folder.n_samples)
    assert r.sfreq == 128 and r.baseline_samples == 384
    assert r.ch_names == list(DEAP_CH_NAMES) and r.ch_types == list(DEAP_CH_TYPES)
    assert r.source == deap_dat_path(deap_folder.root, 1)
    assert r.video_offset_s == 0.0
    assert [rec.trial for rec in recs] == [1, 2, 3, 4]  # yielded in presentation order


def test_signals_ratings_and_videos_belong_to_their_trial(deap_folder):
    recs = list(read_deap(deap_folder.root, check_videos=True))
    assert len(recs) == 3 * deap_folder.n_trials
    for r in recs:
        # presentation order -> Experiment_id through participant_ratings.csv (a real permutation)
        assert r.experiment_id == deap_folder.order[r.subject][r.trial - 1]
        # the signals are the .dat row of this Experiment_id
        assert r.signals[0, 0] == pytest.approx(fakedata.deap_mark(r.subject, r.experiment_id))
        np.testing.assert_allclose(r.signals[5, :3] - r.signals[0, :3], 5 / 64, atol=1e-4)
        v, a, d, li = fakedata.deap_labels(r.subject, r.experiment_id)
        assert r.ratings == pytest.approx({"valence": v, "arousal": a, "dominance": d, "liking": li})
        # the face video shows this very trial
        if r.video_path is not None:
            assert r.video_path.name == f"s{r.subject:02d}_trial{r.trial:02d}.avi"
            assert fakedata.decode_video_mark(r.video_path) == (r.experiment_id, r.subject)
    assert any(not np.array_equal(deap_folder.order[s], np.arange(1, 5)) for s in (1, 2, 23))


def test_missing_videos_are_reported_not_guessed(deap_folder, caplog_emolab):
    recs = {(r.subject, r.trial): r for r in read_deap(deap_folder.root)}
    assert recs[(2, 3)].video_path is None
    assert all(recs[(2, t)].video_path is not None for t in (1, 2, 4))
    assert all(recs[(23, t)].video_path is None for t in range(1, 5))
    text = caplog_emolab.text
    assert "subject 2: no face video for trial(s) [3]" in text
    assert "subject 23: no face video folder" in text


def test_subject_selection_and_missing_subject(deap_folder):
    assert {r.subject for r in read_deap(deap_folder.root, subjects=[23])} == {23}
    with pytest.raises(FileNotFoundError, match=r"s09\.dat"):
        list(read_deap(deap_folder.root, subjects=[9]))


def test_missing_ratings_row_names_the_csv(deap_folder):
    csv = deap_folder.root / "metadata_csv" / "participant_ratings.csv"
    table = pd.read_csv(csv)
    table = table[~((table.Participant_id == 2) & (table.Experiment_id == 3))]
    table.to_csv(csv, index=False)
    list(read_deap(deap_folder.root, subjects=[1]))  # other subjects are unaffected
    with pytest.raises(DeapFormatError, match=r"participant_ratings\.csv.*participant 2.*\[3\]"):
        list(read_deap(deap_folder.root, subjects=[2]))


def test_missing_csv_is_a_clear_error(deap_folder):
    (deap_folder.root / "metadata_csv" / "participant_ratings.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"participant_ratings\.csv.*Experiment_id"):
        list(read_deap(deap_folder.root))


def test_csv_rating_mismatch_warns_and_uses_dat(deap_folder, caplog_emolab):
    csv = deap_folder.root / "metadata_csv" / "participant_ratings.csv"
    table = pd.read_csv(csv)
    table.loc[(table.Participant_id == 1) & (table.Experiment_id == 2), "Valence"] = 9.0
    table.to_csv(csv, index=False)
    rec = next(r for r in read_deap(deap_folder.root, subjects=[1]) if r.experiment_id == 2)
    assert rec.ratings["valence"] == pytest.approx(fakedata.deap_labels(1, 2)[0])
    assert "differ from the .dat labels for Experiment_id [2]" in caplog_emolab.text


def test_unreadable_video_names_the_file(deap_folder):
    bad = deap_folder.root / "face_video" / "s01" / "s01_trial02.avi"
    bad.write_bytes(b"this is not an AVI file" * 20)
    list(read_deap(deap_folder.root, subjects=[1]))  # without check_videos only existence counts
    with pytest.raises(VideoError, match=r"s01_trial02\.avi.*cannot open"):
        list(read_deap(deap_folder.root, subjects=[1], check_videos=True))


def test_missing_data_folder_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_preprocessed_python.*point root"):
        list(read_deap(tmp_path))


# ------------------------------------------------------------------------------------ real data


@pytest.mark.skipif(not os.environ.get("EMOLAB_DEAP_ROOT"), reason="EMOLAB_DEAP_ROOT not set")
def test_real_deap_subject_1():
    root = Path(os.environ["EMOLAB_DEAP_ROOT"])
    recs = list(read_deap(root, subjects=[1], check_videos=True))
    assert len(recs) == 40
    assert {r.signals.shape for r in recs} == {(40, 8064)}
    assert sorted(r.experiment_id for r in recs) == list(range(1, 41))
    assert sum(r.video_path is not None for r in recs) >= 37
