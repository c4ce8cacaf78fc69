"""Trial-level tests against the majority baseline (emolab.analysis.significance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from emolab.analysis.significance import baseline_tests, trial_votes


def _predictions(correct_trials, n_trials=10, n_segments=6, subjects=(1, 2)):
    """Each subject: trials 0..n-1, labels alternate; the first ``correct_trials`` are right."""
    rows = []
    for s in subjects:
        for t in range(n_trials):
            y = t % 2
            right = t < correct_trials
            for k in range(n_segments):
                score = (0.9 if y else 0.1) if right else (0.2 if y else 0.8)
                rows.append({"model": "m", "modalities": "bio", "task": "arousal", "protocol": "trial-kfold",
                             "subject": s, "trial": t, "segment": k, "y_true": y, "y_score": score})  # fmt: skip
    return pd.DataFrame(rows)


def test_trial_votes_reduce_each_trial_to_one_decision():
    votes = trial_votes(_predictions(7))
    assert len(votes) == 20 and (votes["n_segments"] == 6).all()
    assert votes["correct"].sum() == 14


def test_the_trial_test_is_an_exact_binomial_on_trials_and_the_segment_test_overstates():
    t = baseline_tests(_predictions(8)).iloc[0]
    assert t["n_trials"] == 20 and t["trial_accuracy"] == pytest.approx(0.8)
    assert t["trial_baseline"] == pytest.approx(0.5)  # alternating labels: balanced per subject
    assert t["p_trial"] == pytest.approx(binomtest(16, 20, 0.5, alternative="greater").pvalue)
    assert t["p_segment"] == pytest.approx(binomtest(96, 120, 0.5, alternative="greater").pvalue)
    assert t["p_segment"] < t["p_trial"] / 100  # six correlated segments counted as six coin flips
    assert bool(t["significant"])


def test_a_chance_result_is_not_significant():
    t = baseline_tests(_predictions(5)).iloc[0]
    assert t["trial_accuracy"] == pytest.approx(0.5) and not t["significant"]


def test_votes_refuse_trials_with_two_labels():
    p = _predictions(5)
    p.loc[0, "y_true"] = 1 - p.loc[0, "y_true"]
    with pytest.raises(ValueError, match="one label per trial"):
        trial_votes(p)
    with pytest.raises(KeyError, match="y_score"):
        trial_votes(p.drop(columns="y_score"))


def test_baseline_is_per_subject_majority():
    p = _predictions(10, subjects=(1,))
    p = p[~((p["trial"] % 2 == 1) & (p["trial"] > 2))]  # subject 1: trials 0,1,2,4,6,8 -> labels 0,1,0,0,0,0
    t = baseline_tests(p).iloc[0]
    assert t["trial_baseline"] == pytest.approx(5 / 6)
    assert np.isclose(t["trial_accuracy"], 1.0)
