"""The feature pipeline of chapter 09 and its leaks (emolab.analysis.leaks)."""

from __future__ import annotations

import numpy as np
import pytest

from emolab.analysis import leaks
from emolab.train import aggregate


@pytest.fixture(scope="module")
def data():
    return leaks.band_power_dataset(preset="book", seed=4)


def test_band_power_dataset_shapes(data):
    X, meta = data
    assert X.shape == (len(meta), 32 * 4) and np.isfinite(X).all()
    assert {"subject", "trial", "experiment_id", "segment", "valence", "arousal"} <= set(meta.columns)
    assert meta.groupby(["subject", "trial"]).size().nunique() == 1  # every trial has the same length


def test_selecting_on_the_test_fold_never_scores_below_an_honest_choice(data):
    X, meta = data
    honest = leaks.evaluate_features(X, meta, select_C=True).results
    peeked = leaks.evaluate_features(X, meta, leak="select-on-test").results
    # the maximum over C of each fold's test accuracy bounds the accuracy of any one C
    assert (peeked["accuracy"].to_numpy() >= honest["accuracy"].to_numpy() - 1e-12).all()
    assert peeked["accuracy"].mean() > honest["accuracy"].mean()


def test_the_gap_follows_the_fingerprint_on_an_unseen_seed():
    def gap_summary(fp):
        X, meta = leaks.band_power_dataset(preset="book", seed=5, fingerprint=fp)
        rows = [leaks.evaluate_features(X, meta, protocol=p, n_splits=3, seed=5).results
                for p in ("paper-segment-kfold", "trial-kfold")]  # fmt: skip
        import pandas as pd

        return aggregate(pd.concat(rows), by=["protocol"], metrics=["accuracy"]).set_index("protocol")

    off, on = gap_summary(0.0), gap_summary(2.0)
    seg, tri = off.loc["paper-segment-kfold"], off.loc["trial-kfold"]
    assert seg["accuracy_ci_low"] <= tri["accuracy_ci_high"] and tri["accuracy_ci_low"] <= seg["accuracy_ci_high"]
    assert on.loc["paper-segment-kfold", "accuracy_ci_low"] > on.loc["trial-kfold", "accuracy_ci_high"]


def test_leak_effect_pairs_subjects(data):
    X, meta = data
    honest = leaks.evaluate_features(X, meta)
    within = leaks.evaluate_features(X, meta, protocol="within-trial-kfold")
    e = leaks.leak_effect(honest.results, within.results)
    assert e["effect"] == pytest.approx(e["leaky"] - e["honest"])
    assert e["effect_ci_low"] <= e["effect"] <= e["effect_ci_high"]


def test_evaluate_features_rejects_impossible_settings(data):
    X, meta = data
    with pytest.raises(ValueError, match="leak must be"):
        leaks.evaluate_features(X, meta, leak="peek")
    with pytest.raises(ValueError, match="needs label_rule='median'"):
        leaks.evaluate_features(X, meta, leak="threshold-on-all")
    with pytest.raises(ValueError, match="loso"):
        leaks.evaluate_features(X, meta, protocol="loso", label_rule="median")
    with pytest.raises(ValueError, match="label_rule"):
        leaks.evaluate_features(X, meta, label_rule="mean")
