"""emolab.train.audit: every leak it claims to detect is detected on folds built to contain it,
and the leak-free protocols raise no false alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emolab.analysis import leaks
from emolab.train import AUDIT_CHECKS, audit, make_folds


def _meta(n_subjects=3, n_trials=6, n_segments=5):
    rows = [{"subject": s, "trial": t, "experiment_id": t, "segment": k, "valence": 2.0 + t, "arousal": 9.0 - t}
            for s in range(1, n_subjects + 1) for t in range(1, n_trials + 1) for k in range(n_segments)]  # fmt: skip
    return pd.DataFrame(rows)


def _status(table):
    return table.set_index("check")["status"].to_dict()


@pytest.mark.parametrize("protocol", ["paper-segment-kfold", "pooled-segment-kfold"])
def test_segment_protocols_share_trials(protocol):
    meta = _meta()
    folds = make_folds(meta, protocol, task="valence", n_splits=3, seed=0)
    table = audit(folds, meta)
    assert list(table["check"]) == list(AUDIT_CHECKS)
    row = table.set_index("check").loc["shared trials"]
    assert row["status"] == "leak" and row["folds_affected"] == len(folds)


def test_trial_kfold_raises_no_false_alarm():
    meta = _meta()
    folds = make_folds(meta, "trial-kfold", task="valence", n_splits=3, seed=0)
    s = _status(audit(folds, meta, fit_rows="per-trial", selection_rows="none", threshold_rows="fixed"))
    assert s["shared trials"] == "ok" and s["shared stimuli"] == "ok"
    assert s["shared subjects"] == "expected"  # subject-dependent by design
    assert "leak" not in s.values() and "not checked" not in s.values()


def test_loso_shares_stimuli_but_not_subjects():
    meta = _meta()
    folds = make_folds(meta, "loso", task="valence")
    s = _status(audit(folds, meta))
    assert s["shared subjects"] == "ok" and s["shared trials"] == "ok"
    assert s["shared stimuli"] == "caveat"  # every subject watched the same videos
    assert s["statistics fitted on test rows"] == "not checked"  # nothing recorded, nothing assumed


def test_a_cross_subject_claim_turns_shared_subjects_into_a_leak():
    meta = _meta()
    folds = make_folds(meta, "trial-kfold", task="valence", n_splits=3, seed=0)
    assert _status(audit(folds, meta, claim="subject"))["shared subjects"] == "leak"


def test_fitted_rows_that_touch_the_test_fold_are_leaks():
    meta = _meta()
    folds = make_folds(meta, "trial-kfold", task="valence", n_splits=3, seed=0)
    everything = [np.arange(len(meta))] * len(folds)
    train_only = [f.train_idx for f in folds]
    one_fold = [f.test_idx if i == 0 else f.train_idx for i, f in enumerate(folds)]
    leaky = audit(folds, meta, fit_rows=everything, selection_rows=one_fold, threshold_rows=everything)
    honest = audit(folds, meta, fit_rows=train_only, selection_rows=train_only, threshold_rows=train_only)
    for check in ("statistics fitted on test rows", "model selection on the test fold",
                  "label threshold from test trials"):  # fmt: skip
        assert _status(leaky)[check] == "leak" and _status(honest)[check] == "ok"
    sel = leaky.set_index("check").loc["model selection on the test fold"]
    assert sel["folds_affected"] == 1 and "1 of" in sel["detail"]


def test_within_trial_split_is_caught_and_partitions_each_subject():
    meta = _meta(n_segments=6)
    folds = leaks.within_trial_folds(meta, n_splits=3, seed=1)
    trials = meta["subject"] * 100 + meta["trial"]
    for f in folds:
        own = np.flatnonzero(meta["subject"] == f.subject)
        assert np.array_equal(np.sort(np.concatenate([f.train_idx, f.test_idx])), own)
        assert set(trials[f.test_idx]) == set(trials[own])  # every trial is on both sides
    assert _status(audit(folds, meta))["shared trials"] == "leak"


def test_audit_errors_name_the_problem():
    meta = _meta()
    folds = make_folds(meta, "trial-kfold", task="valence", n_splits=3, seed=0)
    with pytest.raises(ValueError, match="one per fold"):
        audit(folds, meta, fit_rows=[np.arange(3)])
    with pytest.raises(ValueError, match="unknown description"):
        audit(folds, meta, fit_rows="everything")
    with pytest.raises(ValueError, match="claim"):
        audit(folds, meta, claim="segment")
    with pytest.raises(ValueError, match="at least one fold"):
        audit([], meta)
    with pytest.raises(KeyError, match="trial"):
        audit(folds, meta.drop(columns="trial"))
    no_stim = audit(folds, meta.drop(columns="experiment_id"))
    assert _status(no_stim)["shared stimuli"] == "not checked"


@pytest.fixture(scope="module")
def features():
    return leaks.band_power_dataset(preset="book", seed=3)


def test_each_leak_of_the_feature_pipeline_is_flagged_alone(features):
    X, meta = features
    cases = {
        "model selection on the test fold": (dict(select_C=True), dict(leak="select-on-test")),
        "statistics fitted on test rows": (dict(), dict(leak="normalize-on-all")),
        "label threshold from test trials": (dict(label_rule="median"),
                                             dict(label_rule="median", leak="threshold-on-all")),  # fmt: skip
        "shared trials": (dict(), dict(protocol="within-trial-kfold")),
    }
    for check, (honest_kw, leaky_kw) in cases.items():
        honest = leaks.evaluate_features(X, meta, **honest_kw).audit(meta)
        leaky = leaks.evaluate_features(X, meta, **leaky_kw).audit(meta)
        assert "leak" not in set(honest["status"]), (check, honest)
        assert set(leaky.loc[leaky["status"] == "leak", "check"]) == {check}


def _signature(gap_low):
    from emolab.train import SignatureProbe, TrialSignature

    probes = (SignatureProbe("statistics", gap_low + 0.05, gap_low, gap_low + 0.1),
              SignatureProbe("waveform", 0.0, -0.05, 0.05))  # fmt: skip
    return TrialSignature(probes=probes, identifiability=0.4, chance=0.1, n_subjects=6)


@pytest.mark.parametrize("protocol", ["paper-segment-kfold", "trial-kfold", "loso"])
def test_signature_check_fires_only_where_trials_are_shared_and_the_signature_pays(protocol):
    meta = _meta()
    folds = make_folds(meta, protocol, task="valence", n_splits=3, seed=0)
    shared = protocol == "paper-segment-kfold"
    with_sig = _status(audit(folds, meta, signature=_signature(0.03)))["trial signature in the inputs"]
    without_sig = _status(audit(folds, meta, signature=_signature(-0.02)))["trial signature in the inputs"]
    unmeasured = _status(audit(folds, meta))["trial signature in the inputs"]
    assert with_sig == ("leak" if shared else "ok")
    assert without_sig == "ok"
    assert unmeasured == ("not checked" if shared else "ok")  # no shared trial: nothing to exploit


def test_signature_must_be_a_measurement():
    meta = _meta()
    folds = make_folds(meta, "paper-segment-kfold", task="valence", n_splits=3, seed=0)
    with pytest.raises(TypeError, match="TrialSignature"):
        audit(folds, meta, signature={"gap": 0.1})


def test_a_signature_without_an_interval_is_not_a_verdict():
    """One subject gives no interval: the check says so instead of calling the inputs clean."""
    from emolab.train import SignatureProbe, TrialSignature

    nan = float("nan")
    one = TrialSignature(probes=(SignatureProbe("statistics", 0.49, nan, nan),), identifiability=0.9, chance=0.1,
                         n_subjects=1)  # fmt: skip
    meta = _meta()
    folds = make_folds(meta, "paper-segment-kfold", task="valence", n_splits=3, seed=0)
    row = audit(folds, meta, signature=one).set_index("check").loc["trial signature in the inputs"]
    assert row["status"] == "not checked" and "two subjects" in row["detail"]
