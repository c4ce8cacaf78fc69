"""The MAHNOB-HCI reader on tiny exact-format session folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import fakedata
from emolab.data import read_mahnob
from emolab.data._video import VideoError
from emolab.data.channels import MAHNOB_CH_NAMES, MAHNOB_CH_TYPES
from emolab.data.mahnob import MahnobFormatError, read_session_xml


def test_session_xml_attributes(mahnob_folder):
    info = read_session_xml(mahnob_folder / "Sessions" / "12" / "session.xml")
    assert (info.session_id, info.subject, info.is_stim) == (12, 1, True)
    assert info.ratings == {"valence": 2.0, "arousal": 8.0, "emotion": 4.0}
    neutral = read_session_xml(mahnob_folder / "Sessions" / "11" / "session.xml")
    assert not neutral.is_stim and neutral.ratings is None


def test_records_cut_at_the_status_trigger(mahnob_folder, mahnob_sessions, caplog_emolab):
    recs = list(read_mahnob(mahnob_folder, check_videos=True))
    assert [r.experiment_id for r in recs] == [10, 12, 20]  # neutral session 11 skipped ...
    assert "without felt ratings" in caplog_emolab.text and "[11]" in caplog_emolab.text  # ... and said
    specs = {s.session_id: s for s in mahnob_sessions}
    for r in recs:
        s = specs[r.experiment_id]
        assert r.dataset == "mahnob" and r.subject == s.subject
        assert r.sfreq == 256
        assert r.ch_names == list(MAHNOB_CH_NAMES) and r.ch_types == list(MAHNOB_CH_TYPES)
        assert len(r.ch_names) == 46 and "Status" not in r.ch_names
        assert r.signals.dtype == np.float32
        # all the pre-stimulus signal there is (3 s < the 30 s default), then exactly the stimulus
        assert r.baseline_samples == s.pre_s * 256
        assert r.signals.shape == (46, (s.pre_s + s.stim_s) * 256)
        assert r.duration_s == pytest.approx(s.stim_s)
        # file units (µV) and this session's data: channel c holds session_id + c / 4 (+ a sine)
        expected = s.session_id + np.arange(46) / 4
        np.testing.assert_allclose(r.signals.mean(axis=1), expected, atol=0.05)
        assert r.ratings["valence"] == s.ratings["feltVlnc"]
        assert r.ratings["arousal"] == s.ratings["feltArsl"]
        assert r.video_offset_s == pytest.approx(s.pre_s)  # vidBeginSmp / vidRate
        assert r.extra["video_offset_from"] == "vidBeginSmp"
        assert r.video_path.name == fakedata.mahnob_video_name(s.subject, s.cut_nr)
        assert fakedata.decode_video_mark(r.video_path) == (s.session_id % 25, s.subject)
    assert [(r.subject, r.trial) for r in recs] == [(1, 1), (1, 2), (2, 1)]


def test_baseline_is_configurable(mahnob_folder):
    (rec,) = read_mahnob(mahnob_folder, sessions=[10], baseline_s=1.0)
    assert rec.baseline_samples == 256
    assert rec.signals.shape[1] == 256 + 4 * 256
    assert rec.extra["stimulus_onset_sample"] == 3 * 256


def test_video_offset_from_trigger_without_vidbeginsmp(mahnob_folder):
    xml = mahnob_folder / "Sessions" / "20" / "session.xml"
    xml.write_text(xml.read_text().replace('vidBeginSmp="180"', ""))
    (rec,) = read_mahnob(mahnob_folder, sessions=[20])
    assert rec.extra["video_offset_from"] == "trigger"
    assert rec.video_offset_s == pytest.approx(3.0)


def test_requested_session_without_ratings_names_session_xml(mahnob_folder):
    with pytest.raises(MahnobFormatError, match=r"Sessions/11/session\.xml.*no felt valence"):
        list(read_mahnob(mahnob_folder, sessions=[11]))


def test_session_xml_without_ratings_is_skipped_or_an_error(tmp_path):
    sess = fakedata.FakeSession(session_id=5, subject=3, ratings={"feltEmo": 1})  # stim, no vlnc/arsl
    root = fakedata.write_mahnob_folder(tmp_path / "m", [sess])
    assert list(read_mahnob(root)) == []
    with pytest.raises(MahnobFormatError, match=r"Sessions/5/session\.xml"):
        list(read_mahnob(root, sessions=[5]))


def test_bdf_without_status_names_the_file(tmp_path):
    sess = fakedata.FakeSession(session_id=7, subject=1, with_status=False)
    root = fakedata.write_mahnob_folder(tmp_path / "m", [sess])
    with pytest.raises(MahnobFormatError, match=r"Part_1_S_Trial1_emotion\.bdf: no 'Status' channel"):
        list(read_mahnob(root))


def test_unreadable_session_video_names_the_file(mahnob_folder):
    video = next((mahnob_folder / "Sessions" / "10").glob("*.avi"))
    video.write_bytes(b"garbage" * 50)
    with pytest.raises(VideoError, match=r"C1 trigger _C_Section_3\.avi.*cannot open"):
        list(read_mahnob(mahnob_folder, sessions=[10], check_videos=True))


def test_missing_video_is_logged_not_guessed(tmp_path, caplog_emolab):
    sess = fakedata.FakeSession(session_id=8, subject=1, with_video=False)
    root = fakedata.write_mahnob_folder(tmp_path / "m", [sess])
    (rec,) = read_mahnob(root)
    assert rec.video_path is None
    assert "session 8: no .avi" in caplog_emolab.text


def test_malformed_xml_and_missing_session(mahnob_folder):
    with pytest.raises(FileNotFoundError, match=r"Sessions/99/session\.xml"):
        list(read_mahnob(mahnob_folder, sessions=[99]))
    (mahnob_folder / "Sessions" / "20" / "session.xml").write_text("<session feltVlnc=")
    with pytest.raises(MahnobFormatError, match=r"Sessions/20/session\.xml: not well-formed"):
        list(read_mahnob(mahnob_folder))


def test_missing_sessions_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Sessions.*point root"):
        list(read_mahnob(tmp_path))


@pytest.mark.skipif(not os.environ.get("EMOLAB_MAHNOB_ROOT"), reason="EMOLAB_MAHNOB_ROOT not set")
def test_real_mahnob_first_session():
    root = Path(os.environ["EMOLAB_MAHNOB_ROOT"])
    rec = next(read_mahnob(root, check_videos=True))
    assert rec.signals.shape[0] == 46 and rec.sfreq == 256
    assert 0 < rec.baseline_samples <= 30 * 256
    assert 30 < rec.duration_s < 130
    assert {"valence", "arousal"} <= set(rec.ratings)
