"""Evaluation protocols: the leak-free ones never share a trial/subject, the paper's one does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emolab.train.protocols import (
    PROTOCOLS,
    check_folds,
    get_protocol,
    leakage_report,
    make_folds,
    make_labels,
    shared_groups,
    trial_groups,
    validation_split,
)


def random_metadata(n_subjects=5, n_trials=12, n_segments=8, seed=0) -> pd.DataFrame:
    """Segments of random trials; trial numbers are per subject (1..n_trials), as in DEAP."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, n_subjects + 1):
        exp_ids = rng.permutation(n_trials) + 1
        for t in range(1, n_trials + 1):
            val, aro = rng.uniform(1, 9, size=2).round(2)
            for g in range(n_segments):
                rows.append({"subject": s, "trial": t, "experiment_id": int(exp_ids[t - 1]),
                             "segment": g, "valence": val, "arousal": aro})
    return pd.DataFrame(rows)


@pytest.fixture
def meta():
    return random_metadata()


def test_registry_declares_disjoint_groups():
    assert get_protocol("paper-segment-kfold").leaky and get_protocol("pooled-segment-kfold").leaky
    assert get_protocol("trial-kfold").disjoint == "trial"
    assert get_protocol("loso").disjoint == "subject"
    assert not get_protocol("loso").leaky
    with pytest.raises(KeyError, match="known"):
        get_protocol("kfold")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trial_kfold_never_shares_a_trial(seed):
    meta = random_metadata(seed=seed)
    folds = make_folds(meta, "trial-kfold", task="valence", n_splits=4, seed=seed)
    check_folds(meta, folds)
    assert all(shared_groups(meta, f, "trial") == 0 for f in folds)
    for s in meta["subject"].unique():
        own = [f for f in folds if f.subject == s]
        assert len(own) == 4
        tests = np.concatenate([f.test_idx for f in own])
        # each subject's test folds partition exactly that subject's rows
        assert sorted(tests) == np.flatnonzero(meta["subject"].to_numpy() == s).tolist()
        for f in own:
            assert set(meta["subject"].iloc[f.train_idx]) == {s}


def test_loso_never_shares_a_subject(meta):
    folds = make_folds(meta, "loso")
    check_folds(meta, folds)
    assert [f.subject for f in folds] == sorted(meta["subject"].unique())
    for f in folds:
        assert set(meta["subject"].iloc[f.test_idx]) == {f.subject}
        assert f.subject not in set(meta["subject"].iloc[f.train_idx])


def test_paper_protocol_shares_trials_between_train_and_test(meta):
    """The book's claim: the papers' segment k-fold puts one trial on both sides."""
    folds = make_folds(meta, "paper-segment-kfold", n_splits=10, seed=0)
    check_folds(meta, folds)  # declares nothing disjoint, so it passes ...
    assert len(folds) == 10 * meta["subject"].nunique()
    shared = [shared_groups(meta, f, "trial") for f in folds]
    assert all(n > 0 for n in shared)
    # ... and the trial-disjointness check rejects it
    with pytest.raises(AssertionError, match="trial"):
        check_folds(meta, folds, "trial-kfold")


def test_pooled_segment_kfold_covers_every_row_once_and_shares_subjects(meta):
    folds = make_folds(meta, "pooled-segment-kfold", n_splits=10, seed=3)
    tests = np.concatenate([f.test_idx for f in folds])
    assert sorted(tests) == list(range(len(meta)))
    assert all(f.subject == -1 for f in folds)
    assert all(shared_groups(meta, f, "trial") > 0 for f in folds)
    with pytest.raises(AssertionError, match="subject"):
        check_folds(meta, folds, "loso")


def test_folds_are_reproducible_and_seed_dependent(meta):
    a = make_folds(meta, "trial-kfold", n_splits=3, seed=5)
    b = make_folds(meta, "trial-kfold", n_splits=3, seed=5)
    c = make_folds(meta, "trial-kfold", n_splits=3, seed=6)
    assert all(np.array_equal(x.test_idx, y.test_idx) for x, y in zip(a, b))
    assert not all(np.array_equal(x.test_idx, y.test_idx) for x, y in zip(a, c))


def test_trial_kfold_needs_enough_trials(meta):
    with pytest.raises(ValueError, match="fewer than n_splits"):
        make_folds(meta, "trial-kfold", n_splits=13)


def test_subject_selection(meta):
    folds = make_folds(meta, "trial-kfold", n_splits=3, subjects=[2, 4])
    assert {f.subject for f in folds} == {2, 4}
    with pytest.raises(ValueError, match="not in the metadata"):
        make_folds(meta, "trial-kfold", n_splits=3, subjects=[99])


def test_labels_threshold_mean_median(meta):
    r = meta["valence"].to_numpy()
    assert np.array_equal(make_labels(meta, task="valence"), (r >= 5).astype(int))
    assert np.array_equal(make_labels(meta, task="valence", threshold=6.5), (r >= 6.5).astype(int))
    for method in ("mean", "median"):
        got = make_labels(meta, task="valence", method=method)
        for s, g in meta.groupby("subject"):
            per_trial = g.drop_duplicates("trial")["valence"]  # one value per trial
            cut = per_trial.mean() if method == "mean" else per_trial.median()
            assert np.array_equal(got[g.index], (g["valence"] >= cut).astype(int).to_numpy())
    # arousal comes from its own column
    assert np.array_equal(make_labels(meta, task="arousal"), (meta["arousal"] >= 5).astype(int).to_numpy())


def test_labels_from_array_columns_and_stored_labels():
    meta = random_metadata(n_subjects=2, n_trials=3, n_segments=2)
    arr = pd.DataFrame({"subject": meta["subject"], "trial": meta["trial"],
                        "ratings": list(np.c_[meta["valence"], meta["arousal"]])})
    assert np.array_equal(make_labels(arr, task="arousal"), (meta["arousal"] >= 5).astype(int))
    stored = pd.DataFrame({"subject": meta["subject"], "trial": meta["trial"],
                           "labels": list(np.c_[meta["valence"] >= 5, meta["arousal"] >= 5].astype(float))})
    assert np.array_equal(make_labels(stored, task="valence"), (meta["valence"] >= 5).astype(int))
    with pytest.raises(KeyError, match="ratings"):
        make_labels(stored, task="valence", method="median")
    scalar = pd.DataFrame({"subject": meta["subject"], "trial": meta["trial"],
                           "rating_arousal": meta["arousal"], "label_valence": meta["valence"] >= 5})
    assert np.array_equal(make_labels(scalar, task="arousal", threshold=3), (meta["arousal"] >= 3).astype(int))
    assert np.array_equal(make_labels(scalar, task="valence"), (meta["valence"] >= 5).astype(int))


@pytest.mark.parametrize("grouping", ["trial", "subject", "segment"])
def test_validation_split_stays_inside_training_fold(meta, grouping):
    folds = make_folds(meta, "loso") if grouping == "subject" else make_folds(meta, "trial-kfold", n_splits=3)
    y = make_labels(meta, task="valence")
    for f in folds[:3]:
        fit, val = validation_split(meta, f.train_idx, grouping=grouping, val_fraction=0.2, labels=y, seed=1)
        assert len(val) > 0 and len(np.intersect1d(fit, val)) == 0
        assert sorted(np.r_[fit, val]) == sorted(f.train_idx)
        assert len(np.intersect1d(val, f.test_idx)) == 0
        if grouping != "segment":
            g = trial_groups(meta) if grouping == "trial" else meta["subject"].to_numpy()
            assert len(np.intersect1d(g[fit], g[val])) == 0


def test_validation_split_needs_two_groups(meta):
    rows = np.flatnonzero((meta["subject"] == 1) & (meta["trial"] == 1))
    with pytest.raises(ValueError, match="only 1"):
        validation_split(meta, rows, grouping="trial", val_fraction=0.1)
    fit, val = validation_split(meta, rows, grouping="trial", val_fraction=0.0)
    assert len(val) == 0 and np.array_equal(fit, rows)


def test_every_registered_protocol_builds_valid_folds(meta):
    for name in PROTOCOLS:
        folds = make_folds(meta, name, n_splits=3)
        check_folds(meta, folds)
        assert folds


def test_leakage_report_counts_what_folds_share(meta):
    paper = leakage_report(meta, make_folds(meta, "paper-segment-kfold", n_splits=4))
    honest = leakage_report(meta, make_folds(meta, "trial-kfold", n_splits=4))
    loso = leakage_report(meta, make_folds(meta, "loso"))
    assert (honest["shared_trials"] == 0).all() and (loso["shared_subjects"] == 0).all()
    # 8 segments per trial in 4 folds: every test trial (almost surely) also has training segments
    assert paper["shared_trial_fraction"].mean() > 0.9
    assert (paper["shared_subjects"] == 1).all() and (honest["shared_subjects"] == 1).all()
    # in LOSO the other subjects watched the same videos: stimuli are shared, subjects are not
    assert (loso["shared_stimuli"] > 0).all()
    f = make_folds(meta, "paper-segment-kfold", n_splits=4)[0]
    g = trial_groups(meta)
    expected = len(np.intersect1d(g[f.train_idx], g[f.test_idx]))
    assert paper["shared_trials"].iloc[0] == expected
    assert paper["test_trials"].iloc[0] == len(np.unique(g[f.test_idx]))
