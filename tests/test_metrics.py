"""Metrics agree with scikit-learn on fixed inputs; aggregation and confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from emolab.train.metrics import aggregate, binary_metrics, bootstrap_ci, majority_baseline, mean_ci, pool_folds

Y = np.array([0, 0, 1, 1, 1, 0, 1, 1, 0, 1])
S = np.array([0.1, 0.6, 0.7, 0.4, 0.9, 0.2, 0.55, 0.8, 0.45, 0.3])


def test_binary_metrics_match_sklearn():
    m = binary_metrics(Y, S)
    pred = (S >= 0.5).astype(int)
    assert m["accuracy"] == pytest.approx(accuracy_score(Y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(Y, pred))
    assert m["f1"] == pytest.approx(f1_score(Y, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y, S))
    assert m["majority_baseline"] == pytest.approx(0.6)
    assert (m["n"], m["n_pos"]) == (10, 6)
    # hand check of the fixed inputs: predictions 0,1,1,0,1,0,1,1,0,0 -> 7 of 10 right
    assert m["accuracy"] == pytest.approx(0.7)


@pytest.mark.parametrize("seed", range(6))
def test_binary_metrics_match_sklearn_on_random_folds(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    y = rng.integers(0, 2, n)
    score = np.round(rng.random(n), 1)  # rounded: ties in the scores, as AUC must handle
    pred = (score >= 0.5).astype(int)
    m = binary_metrics(y, score)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred, zero_division=0))
    if len(np.unique(y)) == 2:
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
        assert m["roc_auc"] == pytest.approx(roc_auc_score(y, score))


def test_threshold_changes_predictions():
    assert binary_metrics(Y, S, threshold=0.35)["accuracy"] == pytest.approx(
        accuracy_score(Y, (S >= 0.35).astype(int)))


def test_one_class_fold_is_nan_safe():
    m = binary_metrics([1, 1, 1, 1], [0.9, 0.2, 0.7, 0.6])
    assert math.isnan(m["roc_auc"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["majority_baseline"] == 1.0
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    m0 = binary_metrics([0, 0], [0.1, 0.2])
    assert m0["f1"] == 0.0 and m0["accuracy"] == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="empty"):
        binary_metrics([], [])
    assert majority_baseline([0, 0, 1]) == pytest.approx(2 / 3)


def test_mean_ci_is_student_t():
    v = np.array([0.61, 0.72, 0.55, 0.68, 0.70])
    m, lo, hi = mean_ci(v)
    elo, ehi = stats.t.interval(0.95, df=len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert m == pytest.approx(v.mean()) and lo == pytest.approx(elo) and hi == pytest.approx(ehi)
    m1, lo1, hi1 = mean_ci([0.5])
    assert m1 == 0.5 and math.isnan(lo1) and math.isnan(hi1)
    assert mean_ci([0.5, float("nan"), 0.7])[0] == pytest.approx(0.6)


def _results():
    rows = []
    for proto, base in (("paper-segment-kfold", 0.9), ("trial-kfold", 0.6)):
        for subj in (1, 2, 3):
            for fold in range(2):
                acc = base + 0.01 * subj + 0.02 * fold
                rows.append({"model": "m", "modalities": "bio", "task": "valence", "protocol": proto,
                             "subject": subj, "fold": fold, "accuracy": acc,
                             "balanced_accuracy": acc, "f1": acc, "roc_auc": np.nan if fold else acc,
                             "majority_baseline": 0.5})
    return pd.DataFrame(rows)


def test_aggregate_over_subjects_weighs_subjects_equally():
    res = _results()
    agg = aggregate(res, ci="t")
    assert list(agg["protocol"]) == ["paper-segment-kfold", "trial-kfold"]
    row = agg.set_index("protocol").loc["trial-kfold"]
    per_subject = [0.6 + 0.01 * s + 0.01 for s in (1, 2, 3)]
    m, lo, hi = mean_ci(per_subject)
    assert row["n_subjects"] == 3
    assert row["accuracy"] == pytest.approx(m)
    assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert row["roc_auc"] == pytest.approx(np.mean([0.6 + 0.01 * s for s in (1, 2, 3)]))


def test_aggregate_per_subject_over_folds():
    res = _results()
    agg = aggregate(res, by=("protocol", "subject"), unit="fold")
    assert len(agg) == 6 and (agg["n_folds"] == 2).all()
    r = agg[(agg["protocol"] == "trial-kfold") & (agg["subject"] == 2)].iloc[0]
    assert r["accuracy"] == pytest.approx(0.63)
    with pytest.raises(KeyError, match="lacks"):
        aggregate(res.drop(columns="f1"))


def test_folds_are_pooled_per_subject_by_size():
    res = pd.DataFrame({"protocol": "p", "subject": [1, 1], "fold": [0, 1], "accuracy": [1.0, 0.5],
                        "majority_baseline": [1.0, 0.75], "n_test": [10, 30], "n_pos": [10, 7]})
    per = pool_folds(res, ["protocol"])
    # 10 + 15 right of 40; pooled labels: 17 positive of 40 -> majority 23 / 40
    assert per["accuracy"].item() == pytest.approx(25 / 40)
    assert per["majority_baseline"].item() == pytest.approx(23 / 40)
    assert per["n_test"].item() == 40


def test_bootstrap_interval_stays_in_range_and_is_seeded():
    v = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    m, lo, hi = bootstrap_ci(v)
    assert 0.0 <= lo <= m <= hi <= 1.0 and lo < hi
    assert bootstrap_ci(v) == (m, lo, hi)
    assert bootstrap_ci([0.7, 0.7]) == (0.7, 0.7, 0.7)
    assert math.isnan(bootstrap_ci([0.5])[1])
    # the Student-t interval of the same values leaves [0, 1]; the bootstrap never does
    assert mean_ci([0.95, 1.0])[2] > 1.0 and bootstrap_ci([0.95, 1.0])[2] <= 1.0


def test_bootstrap_coverage_on_simulated_subjects():
    """Subjects whose true accuracy is drawn around a known mean: the 95 % interval over 12
    subjects should contain that mean in about 95 % of repetitions (the percentile bootstrap runs
    a little narrow with few subjects; 0.88-0.99 is accepted)."""
    rng = np.random.default_rng(123)
    truth, hits, reps = 0.7, 0, 300
    for _ in range(reps):
        p = np.clip(rng.normal(truth, 0.08, size=12), 0, 1)
        acc = rng.binomial(200, p) / 200  # each subject scored on 200 test segments
        _, lo, hi = bootstrap_ci(acc, n_resamples=500)
        hits += lo <= truth <= hi
    assert 0.88 <= hits / reps <= 0.99
