"""The synthetic dataset: exact formats, round trip through the readers, determinism, knobs."""

from __future__ import annotations

import hashlib
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emolab.data.channels import DEAP_CH_NAMES, EEG_CH_NAMES
from emolab.data.synthetic import (
    SyntheticConfig,
    design,
    ensure_synthetic,
    make_config,
    read_ground_truth,
    read_synthetic_config,
    simulate_trial,
    subject_params,
)
from emolab.data.synthetic.face import FaceRenderer
from emolab.data.synthetic.leakage import eeg_band_features, fingerprint_gap
from emolab.data.synthetic.signals import trial_fingerprint

TINY_DEAP = dict(n_subjects=2, n_trials=4, trial_s=4.0, face_subjects=2, missing_videos=((2, 3),))
TINY_MAHNOB = dict(n_subjects=2, n_trials=2, trial_s=4.0, baseline_s=2.0, post_s=1.0)


@pytest.fixture(scope="module")
def deap_root(tmp_path_factory) -> Path:
    return ensure_synthetic(fmt="deap", seed=3, root=tmp_path_factory.mktemp("d") / "deap", verbose=False, **TINY_DEAP)


@pytest.fixture(scope="module")
def mahnob_root(tmp_path_factory) -> Path:
    return ensure_synthetic(fmt="mahnob", seed=3, root=tmp_path_factory.mktemp("m") / "mahnob", verbose=False,
                            **TINY_MAHNOB)  # fmt: skip


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- exact on-disk formats ----------------------------------------------------------------------


def test_deap_pickle_is_python2_style(deap_root):
    path = deap_root / "data_preprocessed_python" / "s01.dat"
    blob = path.read_bytes()
    assert b"numpy.core.multiarray" in blob and b"_codecs" not in blob
    with pytest.raises(UnicodeDecodeError):  # like the real files
        pickle.loads(blob)
    obj = pickle.loads(blob, encoding="latin1")
    assert set(obj) == {"data", "labels"}
    assert obj["data"].dtype == np.float64 and obj["data"].shape == (4, 40, int(7.0 * 128))
    assert obj["labels"].dtype == np.float64 and obj["labels"].shape == (4, 4)
    assert 1.0 <= obj["labels"].min() and obj["labels"].max() <= 9.0


def test_deap_rows_are_in_experiment_order_and_csv_maps_trials(deap_root):
    gt = read_ground_truth(deap_root)
    cfg = SyntheticConfig.from_dict(read_synthetic_config(deap_root)["config"])
    ratings = pd.read_csv(deap_root / "metadata_csv" / "participant_ratings.csv")
    assert list(ratings.columns) == ["Participant_id", "Trial", "Experiment_id", "Start_time", "Valence",
                                     "Arousal", "Dominance", "Liking", "Familiarity"]  # fmt: skip
    assert ratings["Familiarity"].isna().sum() == 4  # participant 2 has none, as in the real file
    obj = pickle.loads((deap_root / "data_preprocessed_python" / "s01.dat").read_bytes(), encoding="latin1")
    for row in gt[gt.subject == 1].itertuples():
        expected = simulate_trial(cfg, row, seed=3, sfreq=128.0).deap_array()
        np.testing.assert_allclose(obj["data"][row.experiment_id - 1], expected, rtol=1e-7, atol=1e-9)
        csv = ratings[(ratings.Participant_id == 1) & (ratings.Experiment_id == row.experiment_id)].iloc[0]
        assert csv.Trial == row.trial and csv.Valence == obj["labels"][row.experiment_id - 1, 0]
    # presentation order is a real permutation, not the identity, for some subject
    assert any((g.trial.values != g.experiment_id.values).any() for _, g in gt.groupby("subject"))


def test_deap_face_videos(deap_root):
    import cv2

    videos = sorted(p.relative_to(deap_root).as_posix() for p in (deap_root / "face_video").rglob("*.avi"))
    assert len(videos) == 2 * 4 - 1 and "face_video/s02/s02_trial03.avi" not in videos
    cap = cv2.VideoCapture(str(deap_root / videos[0]))
    try:
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
        ok, frame = cap.read()
        assert ok and frame.shape == (120, 160, 3)
    finally:
        cap.release()


def test_mahnob_bdf_and_session_xml(mahnob_root):
    import xml.etree.ElementTree as ET

    import mne

    gt = read_ground_truth(mahnob_root)
    sessions = sorted((mahnob_root / "Sessions").iterdir(), key=lambda p: int(p.name))
    assert [int(p.name) for p in sessions] == sorted(gt.session_id)
    row = gt[gt.session_id == int(sessions[0].name)].iloc[0]
    session = ET.parse(sessions[0] / "session.xml").getroot()
    assert session.tag == "session" and session.find("subject").get("id") == str(row.subject)
    assert int(session.get("feltVlnc")) == round(row.rating_valence)
    bdf = next(sessions[0].glob("Part_*_Trial*_emotion.bdf"))
    raw = mne.io.read_raw_bdf(bdf, preload=True, verbose="ERROR")
    assert raw.info["sfreq"] == 256.0 and len(raw.ch_names) == 47 and raw.ch_names[:32] == list(EEG_CH_NAMES)
    events = mne.find_events(raw, stim_channel="Status", verbose="ERROR")
    assert events[0, 0] == 2 * 256 and events[1, 0] == (2 + 4) * 256  # stimulus onset, offset
    video = sessions[0] / session.findall("track")[1].get("filename")
    assert video.is_file() and int(session.get("vidBeginSmp")) == 20  # 2 s at 10 fps


# --- round trip through the readers ---------------------------------------------------------------


def test_round_trip_read_deap(deap_root):
    from emolab.data import read_deap

    gt = read_ground_truth(deap_root).set_index(["subject", "experiment_id"])
    cfg = SyntheticConfig.from_dict(read_synthetic_config(deap_root)["config"])
    records = list(read_deap(deap_root))
    assert len(records) == len(gt)
    for rec in records:
        row = gt.loc[(rec.subject, rec.experiment_id)]
        assert rec.trial == row.trial and rec.sfreq == 128.0 and rec.baseline_samples == 384
        assert rec.ch_names == list(DEAP_CH_NAMES)
        assert rec.ratings["valence"] == pytest.approx(row.rating_valence)
        assert rec.ratings["arousal"] == pytest.approx(row.rating_arousal)
        expected = simulate_trial(cfg, row.rename(None).to_frame().T.assign(
            subject=rec.subject, experiment_id=rec.experiment_id).iloc[0], seed=3, sfreq=128.0).deap_array()
        np.testing.assert_allclose(rec.signals, expected.astype(np.float32), rtol=1e-6)
        if row.has_video:  # the video of the same presentation, not of the same row
            assert rec.video_path.name == f"s{rec.subject:02d}_trial{rec.trial:02d}.avi"
        else:
            assert rec.video_path is None


def test_round_trip_read_mahnob(mahnob_root):
    from emolab.data import read_mahnob

    gt = read_ground_truth(mahnob_root).set_index("session_id")
    records = list(read_mahnob(mahnob_root))
    assert sorted(r.experiment_id for r in records) == sorted(gt.index)
    for rec in records:
        row = gt.loc[rec.experiment_id]
        assert rec.subject == row.subject and rec.sfreq == 256.0 and rec.signals.shape[0] == 46
        assert rec.baseline_samples == 2 * 256 and rec.video_offset_s == pytest.approx(2.0)
        assert rec.ratings["valence"] == round(row.rating_valence)
        assert rec.ratings["arousal"] == round(row.rating_arousal)
        assert rec.video_path is not None and rec.video_path.is_file()


# --- caching and determinism ----------------------------------------------------------------------


def test_same_seed_same_bytes(tmp_path, deap_root):
    # in two processes: the files must not depend on how many run in parallel
    again = ensure_synthetic(fmt="deap", seed=3, root=tmp_path / "again", n_jobs=2, verbose=False, **TINY_DEAP)
    assert _hashes(again) == _hashes(deap_root)
    other = ensure_synthetic(fmt="deap", seed=4, root=tmp_path / "other", verbose=False, **TINY_DEAP)
    assert _hashes(other)["data_preprocessed_python/s01.dat"] != _hashes(deap_root)["data_preprocessed_python/s01.dat"]


def test_ensure_synthetic_caches_by_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLAB_HOME", str(tmp_path))
    knobs = dict(n_subjects=1, n_trials=2, trial_s=2.0, face_subjects=0)
    first = ensure_synthetic(fmt="deap", verbose=False, **knobs)
    stamp = (first / "synthetic_config.json").stat().st_mtime_ns
    assert ensure_synthetic(fmt="deap", verbose=False, **knobs) == first
    assert (first / "synthetic_config.json").stat().st_mtime_ns == stamp  # reused, not rewritten
    changed = ensure_synthetic(fmt="deap", verbose=False, **{**knobs, "fingerprint": 0.0})
    assert changed != first and changed.parent == first.parent
    assert not list(first.parent.glob(".*tmp*"))  # no temporary folder left behind
    with pytest.raises(ValueError, match="other parameters"):
        ensure_synthetic(fmt="deap", root=first, verbose=False, **{**knobs, "label_noise": 2.0})
    with pytest.raises(TypeError, match="knobs of SyntheticConfig"):
        make_config(not_a_knob=1)


def test_cli_synth_parser():
    from emolab.cli import build_parser

    args = build_parser().parse_args(["data", "synth", "--format", "mahnob", "--preset", "smoke",
                                      "--out", "x", "--seed", "7"])  # fmt: skip
    assert (args.format, args.preset, args.out, args.seed, args.jobs) == ("mahnob", "smoke", Path("x"), 7, 1)


# --- knobs ----------------------------------------------------------------------------------------


def _band_log_power(x: np.ndarray, lo: float, hi: float, sfreq: float = 128.0) -> np.ndarray:
    f = np.fft.rfftfreq(x.shape[-1], 1 / sfreq)
    p = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    return np.log(p[..., (f >= lo) & (f < hi)].mean(-1))


def _trials(cfg, seed=0):
    gt = design(cfg, seed=seed)
    return gt, [simulate_trial(cfg, row, seed=seed, sfreq=128.0) for row in gt.itertuples()]


def test_physio_arousal_knob_drives_beta_and_gsr():
    def corrs(strength):
        cfg = make_config(n_subjects=2, n_trials=12, trial_s=6.0, physio_arousal=strength, fingerprint=0.0)
        gt, sims = _trials(cfg)
        beta = [_band_log_power(s.eeg[:, s.onset_sample:], 14, 45).mean() for s in sims]
        gsr = [s.gsr[s.onset_sample + 256:].mean() - s.gsr[: s.onset_sample].mean() for s in sims]
        return np.corrcoef(gt.arousal, beta)[0, 1], np.corrcoef(gt.arousal, gsr)[0, 1]

    on, off = corrs(1.0), corrs(0.0)
    assert on[0] > 0.7 and on[1] > 0.5
    assert abs(off[0]) < 0.4 and abs(off[1]) < 0.4


def test_physio_valence_knob_drives_frontal_alpha_asymmetry():
    f3, f4 = EEG_CH_NAMES.index("F3"), EEG_CH_NAMES.index("F4")

    def corr(strength):
        cfg = make_config(n_subjects=2, n_trials=12, trial_s=6.0, physio_valence=strength, fingerprint=0.0)
        gt, sims = _trials(cfg)
        faa = [np.diff(_band_log_power(s.eeg[[f3, f4], s.onset_sample:], 8, 13))[0] for s in sims]
        return np.corrcoef(gt.valence, faa)[0, 1]

    assert corr(1.0) > 0.6  # right minus left alpha grows with valence
    assert abs(corr(0.0)) < 0.4


def test_eog_leak_knob():
    fp1 = EEG_CH_NAMES.index("Fp1")
    row = next(design(make_config(), seed=0).itertuples())
    leaky = simulate_trial(make_config(), row, seed=0, sfreq=128.0)
    clean = simulate_trial(make_config(eog_leak=0.0), row, seed=0, sfreq=128.0)
    assert np.corrcoef(leaky.eeg[fp1], leaky.veog)[0, 1] > 0.5
    assert abs(np.corrcoef(clean.eeg[fp1], clean.veog)[0, 1]) < 0.2


def test_subject_spread_knobs():
    spread = [subject_params(make_config(n_subjects=20), seed=0, subject=s) for s in range(1, 21)]
    flat = [subject_params(make_config(expressiveness_sd=0.0, physio_gain_sd=0.0), seed=0, subject=s) for s in range(1, 21)]
    assert np.std([p.expressiveness for p in spread]) > 0.2 and np.std([p.physio_gain for p in spread]) > 0.1
    assert {p.expressiveness for p in flat} == {1.0} and {p.physio_gain for p in flat} == {1.0}


def test_label_noise_knob_and_balance():
    clean = design(make_config(n_subjects=8, n_trials=40, label_noise=0.0), seed=0)
    noisy = design(make_config(n_subjects=8, n_trials=40, label_noise=1.5), seed=0)
    ideal = np.clip(5 + 3.8 * clean.valence, 1, 9).round(2)
    np.testing.assert_allclose(clean.rating_valence, ideal)
    resid = (noisy.rating_valence - np.clip(5 + 3.8 * noisy.valence, 1, 9))[(noisy.valence.abs() < 0.8)]
    assert 1.1 < resid.std() < 1.9
    for col in ("rating_valence", "rating_arousal"):  # binary labels at >= 5 roughly balanced
        assert 0.35 < (clean[col] >= 5).mean() < 0.65


def _render(cfg, *, valence, arousal=0.0, subject=1, n=8):
    sp = subject_params(cfg, seed=0, subject=subject)
    fp = trial_fingerprint(cfg, seed=0, subject=subject, experiment_id=1)
    return FaceRenderer(cfg, sp).render(
        times_s=3.0 + 4.0 + np.arange(n) / 10, valence=valence, arousal=arousal, onset_s=3.0, offset_s=23.0,
        blinks=np.zeros((0, 2)), fingerprint=fp, experiment_id=1, seed=0,
    )  # fmt: skip


def test_face_valence_knob_moves_the_mouth():
    cfg = make_config(expressiveness_sd=0.0)
    diff = np.abs(_render(cfg, valence=1.0).astype(float) - _render(cfg, valence=-1.0)).mean(axis=(0, 3))  # (H, W)
    h, w = diff.shape
    mouth = diff[int(0.55 * h) : int(0.8 * h), int(0.3 * w) : int(0.7 * w)].mean()
    assert mouth > 5.0 and mouth > 3 * diff[: int(0.25 * h)].mean()  # the mouth moves, the hair not
    still = make_config(expressiveness_sd=0.0, face_valence=0.0, face_arousal=0.0)
    np.testing.assert_array_equal(_render(still, valence=1.0), _render(still, valence=-1.0))


def test_face_arousal_knob_moves_brows_and_head():
    cfg = make_config(expressiveness_sd=0.0, face_valence=0.0, face_arousal=1.0)
    calm, excited = _render(cfg, valence=0.0, arousal=-1.0, n=20), _render(cfg, valence=0.0, arousal=1.0, n=20)
    h = calm.shape[1]
    brows = np.abs(calm[0].astype(float) - excited[0])[int(0.2 * h) : int(0.45 * h)].mean()
    assert brows > 3.0
    motion = lambda f: np.abs(np.diff(f.astype(float), axis=0)).mean()  # noqa: E731  frame-to-frame change
    assert motion(excited) > 1.2 * motion(calm)
    off = make_config(expressiveness_sd=0.0, face_valence=0.0, face_arousal=0.0)
    np.testing.assert_array_equal(_render(off, valence=0.0, arousal=-1.0), _render(off, valence=0.0, arousal=1.0))


def test_blinks_in_video_match_vEOG():
    cfg = make_config(expressiveness_sd=0.0)
    sp = subject_params(cfg, seed=0, subject=1)
    fp = trial_fingerprint(cfg, seed=0, subject=1, experiment_id=1)
    start, dur = 5.0, 0.4
    times = np.array([start - 0.5, start + dur / 2])
    kw = dict(times_s=times, valence=0.0, arousal=0.0, onset_s=3.0, offset_s=23.0, fingerprint=fp, experiment_id=1, seed=0)
    open_ = FaceRenderer(cfg, sp).render(blinks=np.zeros((0, 2)), **kw)
    shut = FaceRenderer(cfg, sp).render(blinks=np.array([[start, dur]]), **kw)
    assert np.array_equal(open_[0], shut[0])  # before the blink: identical
    assert np.abs(open_[1].astype(float) - shut[1]).max() > 40  # mid-blink: the lids close


def test_trial_fingerprint_inflates_segment_level_cv():
    """Segment-level k-fold beats trial-grouped k-fold by >= 10 points at the default strength,
    by < 3 points without a fingerprint (log band powers + logistic regression, arousal labels)."""
    gaps = {}
    for strength in (1.0, 0.0):
        result = fingerprint_gap(make_config(n_subjects=4, n_trials=20, trial_s=8.0, fingerprint=strength))
        print(f"fingerprint={strength}: segment k-fold {result.segment_kfold:.3f}, "
              f"trial-grouped {result.trial_kfold:.3f}")  # fmt: skip
        gaps[strength] = result.gap
    assert gaps[1.0] >= 0.10
    assert gaps[0.0] < 0.03


def test_eeg_band_features_shape_and_band():
    sfreq, n = 128.0, 3 * 128 + 50  # three whole seconds and a remainder that is dropped
    t = np.arange(n) / sfreq
    eeg = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 20 * t)])  # alpha, beta
    feats = eeg_band_features(eeg, sfreq=sfreq).reshape(3, 2, 4)  # (segments, channels, bands)
    assert feats[:, 0].argmax(axis=-1).tolist() == [1, 1, 1]  # 10 Hz -> the alpha band
    assert feats[:, 1].argmax(axis=-1).tolist() == [2, 2, 2]  # 20 Hz -> the beta band


def test_face_detection_rate(tmp_path):
    """The project's landmarker finds the face in >= 95 % of sampled frames (several identities)."""
    landmarks = pytest.importorskip("emolab.preprocess.landmarks")
    cfg = make_config(n_subjects=6)
    gt = design(cfg, seed=0)
    detected = total = 0
    with landmarks.FaceLandmarker() as lm:
        for subject in range(1, 7):
            row = gt[gt.subject == subject].iloc[0]
            sim = simulate_trial(cfg, row, seed=0, sfreq=128.0)
            sp = subject_params(cfg, seed=0, subject=subject)
            fp = trial_fingerprint(cfg, seed=0, subject=subject, experiment_id=int(row.experiment_id))
            frames = FaceRenderer(cfg, sp).render(
                times_s=3.0 + np.arange(0, 20, 0.5), valence=row.valence, arousal=row.arousal, onset_s=3.0,
                offset_s=23.0, blinks=sim.blinks, fingerprint=fp, experiment_id=int(row.experiment_id), seed=0,
            )  # fmt: skip
            detected += sum(lm.detect(f) is not None for f in frames)
            total += len(frames)
    print(f"face detected in {detected}/{total} frames ({detected / total:.1%})")
    assert detected / total >= 0.95


@pytest.mark.slow
def test_smoke_preset_generation_time(tmp_path):
    start = time.perf_counter()
    root = ensure_synthetic(fmt="deap", preset="smoke", root=tmp_path / "smoke", verbose=False)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"smoke DEAP preset: {seconds:.1f} s, {size / 1e6:.1f} MB")
    assert len(list((root / "data_preprocessed_python").glob("s*.dat"))) == 4


def test_generated_folders_pass_the_manifest_check(deap_root, mahnob_root):
    from emolab.data.manifest import verify_dataset

    for root, name in ((deap_root, "synthetic-deap"), (mahnob_root, "synthetic-mahnob")):
        report = verify_dataset(root, dataset=name)
        assert report.ok, report.format()


# --- the chapter's plots and browser (emolab.viz.signals) ------------------------------------------


def test_viz_helpers_on_read_records(deap_root):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emolab.data import read_deap
    from emolab.viz import signals as vs

    records = list(read_deap(deap_root, verbose="WARNING"))
    rec = records[0]
    fig = vs.plot_channel_groups({"a": records[0], "b": records[1]})
    assert len(fig.axes) == len(vs.CHANNEL_GROUPS)
    cfg = SyntheticConfig.from_dict(read_synthetic_config(deap_root)["config"])
    long = [r for r in records if r.subject == 1]
    fig, peak = vs.plot_psd(long[0])
    assert abs(peak - subject_params(cfg, seed=3, subject=1).alpha_freq) <= 1.0  # the generator's alpha
    table = vs.psd_table(rec, ["O1", "F3"], fmin=2.0, fmax=40.0)
    assert set(table.channel) == {"O1", "F3"} and table.freq_hz.between(2.0, 40.0).all()
    ratings = pd.DataFrame([r.ratings for r in records])
    assert len(vs.plot_rating_distributions(ratings).axes) == 3
    frames = vs.read_frames(rec.video_path, [0.0, 1.5, 3.9])
    assert frames.shape == (3, 120, 160, 3) and frames.dtype == np.uint8
    with pytest.raises(OSError, match="no frame"):
        vs.read_frames(rec.video_path, [30.0])
    assert len(vs.plot_frame_strip({"x": frames, "y": frames[:2]}).axes) == 6
    assert vs.group_channels(rec, "EOG") == ["vEOG", "hEOG"]
    with pytest.raises(KeyError, match="unknown channel group"):
        vs.group_channels(rec, "ECG")
    tree = vs.folder_tree(deap_root, max_entries=2)
    assert tree.splitlines()[0] == "deap/" and "more" in tree
    plt.close("all")


def test_record_browser_runs_headless(deap_root):
    import matplotlib

    matplotlib.use("Agg")
    from emolab.data import read_deap
    from emolab.viz import signals as vs

    records = list(read_deap(deap_root, verbose="WARNING"))
    box = vs.record_browser(records)
    assert box.selection() == (1, 1, "EEG frontal")
    box.controls["subject"].value = 2  # the trial list follows the subject
    assert box.controls["trial"].options == tuple(sorted(r.trial for r in records if r.subject == 2))
    box.controls["group"].value = "GSR"
    assert box.selection()[2] == "GSR"


def test_trial_nuisance_knob_switches_the_per_trial_recording_nuisances_off():
    """Temperature slope and skin-conductance envelope scale with the knob; everything else of
    the trial stays as it was, and at full strength the output is the default one."""
    def sims(strength):
        cfg = make_config(n_subjects=1, n_trials=4, trial_s=6.0, trial_nuisance=strength)
        return _trials(cfg)[1]

    full, off, default = sims(1.0), sims(0.0), _trials(make_config(n_subjects=1, n_trials=4, trial_s=6.0))[1]
    for a, b, c in zip(full, off, default):
        np.testing.assert_array_equal(a.temp, c.temp)  # default = full strength
        np.testing.assert_array_equal(a.eeg, b.eeg)  # the EEG has no recording nuisance
        # without the slope, the temperature is flat apart from its noise and the emotion's dip
        assert np.ptp(b.temp[: b.onset_sample]) < 0.02 < np.ptp(a.temp) or abs(np.ptp(a.temp)) < 0.02
    slopes = [np.polyfit(np.arange(s.temp.size), s.temp, 1)[0] * s.temp.size for s in off]
    assert max(abs(v) for v in slopes) < 0.12  # °C over the recording: only the emotion's dip remains
    with pytest.raises(ValueError, match="trial_nuisance"):
        make_config(trial_nuisance=-1.0)


def test_trial_nuisance_off_draws_fresh_sensor_noise_per_frame(monkeypatch):
    import cv2

    # a flat grey face, so that what varies between frames is the sensor noise (and the light)
    monkeypatch.setattr(cv2, "remap", lambda img, xs, *a, **k: np.full((*xs.shape, 3), 128.0, np.float32))
    cfg_on = make_config(n_subjects=1, n_trials=1, trial_s=2.0)
    cfg_off = make_config(n_subjects=1, n_trials=1, trial_s=2.0, trial_nuisance=0.0)
    sp = subject_params(cfg_on, seed=0, subject=1)
    times = np.arange(0, 5.0, 0.1)
    kwargs = dict(times_s=times, valence=0.0, arousal=0.0, onset_s=100.0, offset_s=200.0,
                  blinks=np.zeros((0, 2)), fingerprint=trial_fingerprint(cfg_off, seed=0, subject=1, experiment_id=1),
                  experiment_id=1, seed=0)  # fmt: skip
    on = FaceRenderer(cfg_on, sp).render(**kwargs).astype(np.float32)
    off = FaceRenderer(cfg_off, sp).render(**kwargs).astype(np.float32)

    def repeats(frames):
        resid = frames - frames.mean(axis=0, keepdims=True)  # the static light pattern removed
        flat = resid.reshape(len(frames), -1)
        c = np.corrcoef(flat)
        return np.mean(c[np.triu_indices(len(frames), 1)] > 0.5)

    # with a bank of eight noise frames, many pairs of frames share their noise exactly
    assert repeats(on) > 0.05 and repeats(off) < repeats(on) / 3
