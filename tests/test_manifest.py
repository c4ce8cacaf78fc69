"""data_manifest.yaml and `emolab data verify` on tiny exact-format folders."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd
import pytest

import fakedata
from emolab.cli import main
from emolab.data import read_mahnob
from emolab.data.manifest import MANIFEST_PATH, dataset_entry, load_manifest, verify_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_is_shipped_and_declares_every_dataset():
    assert MANIFEST_PATH.read_text() == (ROOT / "data_manifest.yaml").read_text()
    manifest = load_manifest()
    assert set(manifest["datasets"]) == {"deap", "mahnob", "synthetic-deap", "synthetic-mahnob"}
    for name, entry in manifest["datasets"].items():
        assert entry["licence"] and entry["layout"] and entry["reader"].startswith("emolab.data.")
        if name.startswith("synthetic"):
            assert entry["generator"] == "emolab.data.synthetic.ensure_synthetic"
        else:
            assert entry["homepage"].startswith("https://") and entry["obtain"] and entry["place"]


def test_same_as_is_resolved():
    entry = dataset_entry("synthetic-deap")
    assert entry["layout"]["base"] == "deap"
    assert entry["layout"]["strict_shapes"] is False  # own value wins
    assert entry["layout"]["signals"]["data_shape"] == [40, 40, 8064]  # inherited
    with pytest.raises(KeyError, match="declares"):
        dataset_entry("seed-iv")


def test_synthetic_knobs_match_the_generator():
    config = pytest.importorskip("emolab.data.synthetic.config")
    knobs = load_manifest()["datasets"]["synthetic-deap"]["knobs"]
    assert knobs == [f.name for f in dataclasses.fields(config.SyntheticConfig)]


# ------------------------------------------------------------------------------------ DEAP


def test_verify_lenient_deap_folder_lists_missing_videos(deap_folder):
    report = verify_dataset(deap_folder.root, dataset="synthetic-deap")
    assert report.ok, report.format()
    assert report.missing_videos == [deap_folder.root / "face_video" / "s02" / "s02_trial03.avi"]
    assert report.counts == {"subjects": 3, "trials": 12, "face videos": 7}
    assert "s02/s02_trial03.avi" in report.format()


def test_verify_real_deap_layout_is_strict(deap_folder):
    report = verify_dataset(deap_folder.root, dataset="deap")
    assert not report.ok
    text = "\n".join(report.problems)
    assert "s03.dat: missing" in text and "s32.dat: missing" in text
    assert "s01.dat" in text and "(40, 40, 8064)" in text
    assert "participant_ratings.csv: 12 rows, expected 1280" in text


def test_verify_reports_each_bad_file(deap_folder):
    root = deap_folder.root
    (root / "face_video" / "s01" / "s01_trial02.avi").write_bytes(b"junk" * 40)
    dat = root / "data_preprocessed_python" / "s23.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    csv = root / "metadata_csv" / "participant_ratings.csv"
    table = pd.read_csv(csv)
    table[~((table.Participant_id == 2) & (table.Experiment_id == 1))].to_csv(csv, index=False)
    report = verify_dataset(root, dataset="synthetic-deap")
    assert not report.ok
    text = "\n".join(report.problems)
    assert "s01_trial02.avi" in text
    assert "s23.dat" in text and "truncated" in text
    assert "participant 2, Experiment_id [1]" in text
    assert len(report.problems) == 3


def test_verify_missing_folder(tmp_path):
    report = verify_dataset(tmp_path / "nowhere", dataset="deap")
    assert not report.ok and "folder not found" in report.problems[0]
    report = verify_dataset(tmp_path, dataset="deap")
    assert "data_preprocessed_python" in report.problems[0]


def test_cli_verify_exit_status(deap_folder, mahnob_folder, capsys):
    assert main(["data", "verify", str(deap_folder.root), "--dataset", "deap"]) == 1
    assert "PROBLEM" in capsys.readouterr().out
    assert main(["data", "verify", str(mahnob_folder), "--dataset", "mahnob"]) == 0
    assert "OK" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ MAHNOB


def test_verify_mahnob_folder(mahnob_folder):
    report = verify_dataset(mahnob_folder, dataset="mahnob")
    assert report.ok, report.format()
    assert report.counts == {"sessions": 4, "rated sessions": 3, "face videos": 3}


def test_verify_mahnob_problems(tmp_path):
    sessions = [
        fakedata.FakeSession(session_id=1, subject=1, with_status=False),
        fakedata.FakeSession(session_id=2, subject=1, with_video=False),
        fakedata.FakeSession(session_id=3, subject=1),
    ]
    root = fakedata.write_mahnob_folder(tmp_path / "m", sessions)
    next((root / "Sessions" / "3").glob("*.avi")).write_bytes(b"junk" * 40)
    report = verify_dataset(root, dataset="synthetic-mahnob")
    text = "\n".join(report.problems)
    assert "Part_1_S_Trial1_emotion.bdf: no 'Status' channel" in text
    assert "C1 trigger _C_Section_1.avi" in text and "cannot open" in text
    assert report.missing_videos == [root / "Sessions" / "2"]
    assert len(report.problems) == 2


@pytest.mark.skipif(not os.environ.get("EMOLAB_DEAP_ROOT"), reason="EMOLAB_DEAP_ROOT not set")
def test_verify_real_deap():
    report = verify_dataset(os.environ["EMOLAB_DEAP_ROOT"], dataset="deap", check_videos=False)
    assert report.ok, report.format()


@pytest.mark.skipif(not os.environ.get("EMOLAB_MAHNOB_ROOT"), reason="EMOLAB_MAHNOB_ROOT not set")
def test_verify_real_mahnob():
    report = verify_dataset(os.environ["EMOLAB_MAHNOB_ROOT"], dataset="mahnob", check_videos=False)
    assert report.ok, report.format()


def test_manifest_deap_shapes_match_the_reader_constants():
    from emolab.data.channels import DEAP_CH_NAMES, DEAP_N_SAMPLES, DEAP_N_TRIALS

    sig = dataset_entry("deap")["layout"]["signals"]
    assert sig["data_shape"] == [DEAP_N_TRIALS, len(DEAP_CH_NAMES), DEAP_N_SAMPLES]
    assert sig["labels_shape"] == [DEAP_N_TRIALS, 4]


def test_verify_reports_an_unreadable_video_only_when_asked(deap_folder, mahnob_folder):
    bad = next((deap_folder.root / "face_video" / "s01").glob("*.avi"))
    bad.write_bytes(b"not a video")
    assert not any(str(bad) in p for p in verify_dataset(deap_folder.root, dataset="synthetic-deap",
                                                         check_videos=False).problems)  # fmt: skip
    problems = verify_dataset(deap_folder.root, dataset="synthetic-deap", check_videos=True).problems
    assert any(str(bad) in p for p in problems), problems
    video = next(r.video_path for r in read_mahnob(mahnob_folder) if r.video_path is not None)
    video.write_bytes(b"")
    problems = verify_dataset(mahnob_folder, dataset="mahnob", check_videos=True).problems
    assert any(str(video) in p for p in problems), problems
