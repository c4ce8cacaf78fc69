"""Trial signatures (chapter 09): similarity and identifiability of a trial's segments, checked on
planted signatures of known size, on the baseline template's 1/(n+1) prediction, and on the
smoke profile's synthetic store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emolab.analysis import signatures as sig
from emolab.preprocess.physio import baseline_correct, baseline_template


def _meta(n_subjects: int, n_trials: int, n_segments: int) -> pd.DataFrame:
    return pd.DataFrame({
        "subject": np.repeat(np.arange(1, n_subjects + 1), n_trials * n_segments),
        "trial": np.tile(np.repeat(np.arange(1, n_trials + 1), n_segments), n_subjects),
    })  # fmt: skip


def _planted_shared(ratio: float, *, n_subjects=3, n_trials=10, n_segments=8, n_ch=8, length=128, seed=0):
    """Independent unit noise plus one pattern per trial of variance ``ratio`` (per sample)."""
    rng = np.random.default_rng(seed)
    n_tr = n_subjects * n_trials
    pattern = np.sqrt(ratio) * rng.standard_normal((n_tr, 1, n_ch, length))
    x = rng.standard_normal((n_tr, n_segments, n_ch, length)) + pattern
    return x.reshape(-1, n_ch, length), _meta(n_subjects, n_trials, n_segments)


@pytest.mark.parametrize("ratio", [0.5, 1.0])
def test_planted_shared_pattern_gives_r_over_1_plus_r(ratio):
    """Within-trial correlation = r / (1 + r) within ±0.03; between within ±0.02 of 0."""
    x, meta = _planted_shared(ratio)
    out = sig.segment_similarity(x, meta, max_pairs=500, seed=0)
    assert list(out.columns) == ["subject", "within", "between", "n_within_pairs", "n_between_pairs"]
    assert list(out["subject"]) == [1, 2, 3]
    assert (out["n_within_pairs"] == 10 * 28).all() and (out["n_between_pairs"] == 500).all()
    assert out["within"].mean() == pytest.approx(ratio / (1 + ratio), abs=0.03)
    assert out["between"].abs().max() < 0.02


def test_similarity_removes_each_channels_mean_and_takes_flat_input():
    """A per-trial offset of each channel (constant over time) adds no waveform similarity; the
    (n, F) form gives the same correlations when each row already has zero mean."""
    x, meta = _planted_shared(0.0, n_subjects=2)
    rng = np.random.default_rng(1)
    offsets = np.repeat(50 * rng.standard_normal((20, 1, 8, 1)), 8, axis=1).reshape(-1, 8, 1)
    with_offsets = sig.segment_similarity(x + offsets, meta)
    assert with_offsets["within"].abs().max() < 0.02
    flat = x - x.mean(axis=-1, keepdims=True)
    a = sig.segment_similarity(flat, meta)
    b = sig.segment_similarity(flat.reshape(len(flat), -1), meta)
    np.testing.assert_allclose(a["within"], b["within"], atol=1e-6)


def test_sampled_pairs_agree_with_enumerated_pairs(monkeypatch):
    """The sampler used for big subjects draws distinct pairs of the right kind: its means agree with
    the enumerated pairs' within ±0.02 (r = 1, so within is 0.5)."""
    x, meta = _planted_shared(1.0, n_subjects=1, n_trials=12, n_segments=10)
    enumerated = sig.segment_similarity(x, meta, max_pairs=300, seed=0)
    monkeypatch.setattr(sig, "_ENUMERATE_LIMIT", 0)
    sampled = sig.segment_similarity(x, meta, max_pairs=300, seed=0)
    assert sampled["n_within_pairs"].item() == 300 and sampled["n_between_pairs"].item() == 300
    assert sampled["within"].item() == pytest.approx(enumerated["within"].item(), abs=0.02)
    assert abs(sampled["between"].item()) < 0.02
    trials = meta["trial"].to_numpy()
    rng = np.random.default_rng(0)
    for same in (True, False):
        i, j = sig._pair_indices(trials, same=same, max_pairs=300, rng=rng)
        assert len(set(zip(np.minimum(i, j), np.maximum(i, j)))) == 300 and (i != j).all()
        assert ((trials[i] == trials[j]) == same).all()
    # all pairs of a kind when there are fewer than max_pairs: 12 trials x 45 pairs
    i, _ = sig._pair_indices(trials, same=True, max_pairs=10_000, rng=rng)
    assert len(i) == 12 * 45


def test_baseline_template_gives_one_over_n_plus_one():
    """The package's own baseline_template / baseline_correct on white noise: the within-trial
    correlation is 1/(n+1) within ±0.02 for n = 1, 3, 5 (10 subjects x 20 trials x 10 segments;
    the interval over subjects contains the prediction ±0.01), between within ±0.01 of 0."""
    assert [sig.baseline_shared_correlation(n) for n in (1, 3, 5)] == [0.5, 0.25, pytest.approx(1 / 6)]
    demo = sig.template_correlation_demo((1, 3, 5), seed=0)
    assert list(demo.columns) == ["n_windows", "measured", "measured_low", "measured_high", "predicted", "between"]
    for row in demo.itertuples():
        assert row.measured == pytest.approx(1 / (row.n_windows + 1), abs=0.02)
        assert row.measured_low - 0.01 <= row.predicted <= row.measured_high + 0.01
        assert abs(row.between) < 0.01
    # the same, segment by segment, without the demo
    rng = np.random.default_rng(3)
    x = np.stack([baseline_correct(rng.standard_normal((10, 4, 64)),
                                   baseline_template(rng.standard_normal((4, 3 * 64)), win=64))
                  for _ in range(30)])  # fmt: skip
    out = sig.segment_similarity(x.reshape(-1, 4, 64), _meta(1, 30, 10))
    assert out["within"].item() == pytest.approx(0.25, abs=0.03)
    with pytest.raises(ValueError, match="whole number >= 1"):
        sig.baseline_shared_correlation(0)


def _gains(sd: float, *, n_subjects=3, n_trials=10, n_segments=10, n_ch=8, length=128, seed=0):
    """White noise scaled by per-trial, per-channel log-normal gains (log sd ``sd``; 0: none)."""
    rng = np.random.default_rng(seed)
    n_tr = n_subjects * n_trials
    gains = np.exp(sd * rng.standard_normal((n_tr, 1, n_ch, 1)))
    x = gains * rng.standard_normal((n_tr, n_segments, n_ch, length))
    return x.reshape(-1, n_ch, length), _meta(n_subjects, n_trials, n_segments)


def test_statistics_shapes():
    x, _ = _gains(0.0, n_subjects=1, n_trials=2, n_segments=3)
    assert sig.segment_statistics(x).shape == (6, 16)  # log-variance and mean of 8 channels
    assert sig.segment_statistics(x, sfreq=128.0).shape == (6, 16 + 32)  # + 4 bands x 8 channels
    assert sig.segment_statistics(x[..., :32], sfreq=128.0).shape == (6, 16)  # 0.25 s: no bands
    face = np.random.default_rng(0).integers(0, 256, (4, 5, 3, 16, 16), dtype=np.uint8)
    stats = sig.segment_statistics(face, kind="face")
    assert stats.shape == (4, 22)
    np.testing.assert_allclose(stats[:, :3], face.mean(axis=(1, 3, 4)) / 255, rtol=1e-5)
    with pytest.raises(ValueError, match="kind='face'"):
        sig.segment_statistics(face)


def test_planted_gains_are_identifiable_and_noise_is_not():
    """Per-trial channel gains (log sd 0.5) -> trial accuracy above chance + 0.5 for every subject;
    independent segments -> mean accuracy below chance + 0.1 (10 trials x 10 segments, chance 0.1)."""
    x, meta = _gains(0.5)
    out = sig.trial_identifiability(sig.segment_statistics(x), meta, seed=0)
    assert list(out.columns) == ["subject", "accuracy", "chance", "n_trials", "n_segments", "n_splits"]
    assert np.allclose(out["chance"], 0.1) and (out["n_trials"] == 10).all()
    assert (out["accuracy"] > out["chance"] + 0.5).all(), out
    x, meta = _gains(0.0)
    out = sig.trial_identifiability(sig.segment_statistics(x), meta, seed=0)
    assert out["accuracy"].mean() < out["chance"].mean() + 0.1, out


def test_errors_and_skipped_subjects(caplog_emolab):
    x, meta = _gains(0.0, n_subjects=2, n_trials=3, n_segments=4)
    with pytest.raises(ValueError, match="metadata has 23 rows but there are 24 segments"):
        sig.segment_similarity(x, meta.iloc[:-1])
    with pytest.raises(ValueError, match="metadata has 24 rows but there are 23 segments"):
        sig.trial_identifiability(sig.segment_statistics(x[:-1]), meta)
    with pytest.raises(ValueError, match="lacks the columns"):
        sig.segment_similarity(x, meta[["subject"]])
    feats = sig.segment_statistics(x)
    feats[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        sig.trial_identifiability(feats, meta)
    # subject 2 keeps one trial: no between pairs, left out of identifiability with a warning
    one = meta["subject"].eq(1) | meta["trial"].eq(1)
    sim = sig.segment_similarity(x[one.to_numpy()], meta[one])
    assert sim.set_index("subject").loc[2, "n_between_pairs"] == 0 and np.isnan(sim.set_index("subject").loc[2, "between"])
    out = sig.trial_identifiability(sig.segment_statistics(x[one.to_numpy()]), meta[one])
    assert list(out["subject"]) == [1]
    assert "subject 2 has one trial" in caplog_emolab.text


class _FakeStore:
    path = "in-memory"

    def __init__(self, dataset: str, channels=None):
        self.config = {"reader": {"dataset": dataset}, "physio": {"channels": channels, "sfreq": 128.0}}


class _FakeDataset:
    """What trial_signatures reads of a SegmentDataset, in memory: DEAP's 40 channels, every
    segment corrected with a 3-window baseline template of white noise, and face crops of a
    per-trial background (variance ratio 1 to the per-frame noise); subject 3 has no face and two
    segments of subject 1 lost theirs."""

    modalities = ("face", "bio")

    def __init__(self, *, n_subjects=3, n_trials=6, n_segments=6, length=64, seed=0):
        rng = np.random.default_rng(seed)
        self.store = _FakeStore("deap")
        meta = _meta(n_subjects, n_trials, n_segments)
        bio, face = [], []
        for _ in range(n_subjects * n_trials):
            template = baseline_template(rng.standard_normal((40, 3 * length)), win=length)
            bio.append(baseline_correct(rng.standard_normal((n_segments, 40, length)), template))
            background = 30 * rng.standard_normal((1, 1, 1, 8, 8))
            face.append(128 + background + 30 * rng.standard_normal((n_segments, 2, 3, 8, 8)))
        self._bio = np.concatenate(bio).astype(np.float32)  # (n, 40, L)
        has_face = (meta["subject"] != 3).to_numpy().copy()
        has_face[[0, n_segments]] = False  # the first segment of trials 1 and 2 of subject 1
        self._face = np.clip(np.concatenate(face), 0, 255).astype(np.uint8)  # (n, 2, 3, 8, 8)
        self._face[~has_face] = 0
        self.metadata = meta.assign(has_face=has_face)

    def arrays(self, indices):
        idx = np.asarray(indices)
        return {"bio": self._bio[idx], "face": self._face[idx], "has_face": self.metadata["has_face"].to_numpy()[idx],
                "subject": self.metadata["subject"].to_numpy()[idx], "trial": self.metadata["trial"].to_numpy()[idx]}  # fmt: skip


def test_channel_groups_follow_the_channel_types():
    deap = _FakeDataset(n_subjects=1, n_trials=2, n_segments=2)
    groups = sig.channel_groups(deap)
    assert list(groups) == ["EEG", "EOG", "EMG", "GSR", "respiration", "BVP", "temperature"]
    assert groups["EEG"] == list(range(32)) and groups["EOG"] == [32, 33] and groups["temperature"] == [39]
    deap.store = _FakeStore("mahnob")  # channels None: MAHNOB_DEFAULT_CHANNELS
    assert {k: len(v) for k, v in sig.channel_groups(deap).items()} == {
        "EEG": 32, "GSR": 1, "respiration": 1, "ECG": 3, "temperature": 1}
    deap.store = _FakeStore("mahnob", channels=["Fp1", "EXG1", "Resp"])
    assert sig.channel_groups(deap) == {"EEG": [0], "respiration": [2], "ECG": [1]}
    deap.store = _FakeStore("mahnob", channels=["Fp1", "hEOG"])
    with pytest.raises(ValueError, match="not mahnob channels"):
        sig.channel_groups(deap)


def test_trial_signatures_on_an_in_memory_dataset():
    """EEG within-trial similarity 0.25 ±0.05 (3-window template), between within ±0.03 of 0;
    the face is measured on segments with a face only (subjects 1 and 2), its within r / (1 + r)
    ±0.08 for its per-trial background (r ≈ 2.2 in the grey image, whose luma weights average the
    colour channels' independent noise down), and its trials are identifiable (accuracy above chance + 0.3)."""
    data = _FakeDataset()
    out = sig.trial_signatures(data, seed=0)
    assert list(out["group"]) == ["EEG", "EOG", "EMG", "GSR", "respiration", "BVP", "temperature", "face"]
    rows = out.set_index("group")
    assert rows.loc["EEG", "within"] == pytest.approx(0.25, abs=0.05)
    assert abs(rows.loc["EEG", "between"]) < 0.03
    assert rows.loc["EEG", "n_subjects"] == 3 and rows.loc["face", "n_subjects"] == 2
    ratio = 1 / np.sum(np.array([0.299, 0.587, 0.114]) ** 2)  # grey: shared background / averaged noise
    assert rows.loc["face", "within"] == pytest.approx(ratio / (1 + ratio), abs=0.08)
    assert rows.loc["face", "identifiability"] > rows.loc["face", "chance"] + 0.3
    per = sig.trial_signatures(data, groups=["face", "GSR"], per_subject=True, seed=0)
    assert list(per["group"]) == ["face", "GSR"] * 2 + ["GSR"]
    face = per[per["group"] == "face"].set_index("subject")
    assert face.loc[1, "n_segments"] == 34 and face.loc[2, "n_segments"] == 36
    assert list(sig.trial_signatures(data, face=False)["group"])[-1] == "temperature"
    with pytest.raises(ValueError, match=r"groups \['ECG'\] are not in this dataset"):
        sig.trial_signatures(data, groups=["ECG"])


@pytest.mark.slow
def test_smoke_store_eeg_carries_the_baseline_template():
    """On the smoke profile's store (the chapter's; building it cold takes about 25 s, reading it
    3 s): the 3-window baseline template gives EEG a within-trial similarity of 0.25 ±0.04 (its
    interval contains 0.25 ±0.02), between within ±0.02 of 0; every group of DEAP's 40 channels
    has a row, and the generator's per-trial EEG gains make trials identifiable above chance."""
    from emolab.experiments import prepare_segments

    dataset = prepare_segments(None, profile="smoke", seed=0, modalities=("bio",), face_subjects=0, verbose="ERROR")
    out = sig.trial_signatures(dataset, seed=0)
    expected = ["group", "n_channels", "within", "within_low", "within_high", "between", "between_low",
                "between_high", "identifiability", "identifiability_low", "identifiability_high", "chance",
                "n_subjects"]  # fmt: skip
    assert list(out.columns) == expected
    assert list(out["group"]) == ["EEG", "EOG", "EMG", "GSR", "respiration", "BVP", "temperature"]
    assert out["n_channels"].sum() == 40
    eeg = out.set_index("group").loc["EEG"]
    assert eeg["n_channels"] == 32 and eeg["n_subjects"] == len(dataset.subjects)
    assert eeg["within"] == pytest.approx(sig.baseline_shared_correlation(3), abs=0.04)
    assert eeg["within_low"] - 0.02 <= 0.25 <= eeg["within_high"] + 0.02
    assert abs(eeg["between"]) < 0.02
    assert eeg["identifiability_low"] > eeg["chance"]
    per_subject = sig.trial_signatures(dataset, groups=["EEG"], per_subject=True, seed=0)
    assert set(per_subject["group"]) == {"EEG"} and len(per_subject) == len(dataset.subjects)
    with pytest.raises(ValueError, match="not in this dataset"):
        sig.trial_signatures(dataset, groups=["ECG"])
