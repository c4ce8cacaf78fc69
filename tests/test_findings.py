"""What chapters 05-07 claim holds on the results the executed book computed (seed
``BOOK_SEED``, not the book's default), and the claims checker itself can fail."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BOOK_SEED

from emolab import analysis as an
from emolab import experiments as ex
from emolab.reference import load_reference

#: Claims that are reported, not asserted.  ``fusion``: the CI profile does not yet support it: on
#: seeds 0, 1 and 2, 6 of the 12 fused rows (architecture x task x seed) score within 2 points of
#: their better half under trial-kfold; the others fall 2.3 to 14.6 points below it
#: (profile.fused_train).  ``control``: chapter 05's control has no trial signature but keeps the
#: emotion in the signals, which is itself constant within a trial, so its gap is not zero by
#: construction (on development seed 100 GBV-Net's bio arousal gap was +0.079); what holds by
#: construction once the emotion is out as well is asserted by tests/test_signature_truth.py.
REPORTED_ONLY = {"fusion", "control"}


@pytest.mark.slow
def test_chapter_claims_hold_on_the_executed_book(built_book):
    claims = an.chapter_claims(profile="smoke", seed=BOOK_SEED)
    print(claims.to_string())  # shown with -rA: the table of the closing criteria
    assert set(claims["claim"]) == {"baseline", "leak", "control", "fusion", "bounds"}
    assert (claims["claim"] == "leak").sum() == 8 and (claims["claim"] == "control").sum() == 4
    asserted = claims[~claims["claim"].isin(REPORTED_ONLY)]
    failed = asserted[~asserted["holds"]]
    assert failed.empty, f"claims that do not hold on seed {BOOK_SEED}:\n{failed.to_string()}"


def _summary(acc_paper, acc_trial, lo_trial, hi_trial, base=0.5):
    rows = []
    for proto, acc, lo, hi in (("paper-segment-kfold", acc_paper, acc_paper - 0.02, acc_paper + 0.02),
                               ("trial-kfold", acc_trial, lo_trial, hi_trial)):  # fmt: skip
        rows.append({"model": "m", "modalities": "face", "task": "valence", "protocol": proto,
                     "accuracy": acc, "accuracy_ci_low": lo, "accuracy_ci_high": hi,
                     "majority_baseline": base})  # fmt: skip
    return pd.DataFrame(rows)


def test_protocol_gaps_say_when_intervals_overlap():
    apart = ex.protocol_gaps(_summary(0.95, 0.70, 0.65, 0.75), leaky="paper-segment-kfold").iloc[0]
    assert apart["gap"] == pytest.approx(0.25) and apart["separated"] and not apart["overlap"]
    close = ex.protocol_gaps(_summary(0.72, 0.70, 0.60, 0.80), leaky="paper-segment-kfold").iloc[0]
    assert close["overlap"] and not close["separated"]


def test_verdicts_read_the_interval_against_the_baseline():
    v = ex.verdicts(_summary(0.95, 0.70, 0.62, 0.78, base=0.55)).set_index("protocol")
    assert v.loc["trial-kfold", "clears"] and "above the baseline" in v.loc["trial-kfold", "sentence"]
    low = ex.verdicts(_summary(0.95, 0.52, 0.40, 0.64, base=0.55)).set_index("protocol")
    assert not low.loc["trial-kfold", "clears"] and "includes the baseline" in low.loc["trial-kfold", "sentence"]


def test_fusion_gain_is_per_subject_against_the_better_half():
    rows = []
    for subject, (bio, face, both) in enumerate([(0.6, 0.8, 0.85), (0.7, 0.7, 0.72), (0.5, 0.9, 0.88)], 1):
        for mod, acc in (("bio", bio), ("face", face), ("face+bio", both)):
            rows.append({"model": "m", "task": "valence", "protocol": "trial-kfold", "modalities": mod,
                         "subject": subject, "fold": 0, "accuracy": acc, "majority_baseline": 0.5,
                         "n_test": 10, "n_pos": 5})  # fmt: skip
    g = ex.fusion_gains(pd.DataFrame(rows)).iloc[0]
    assert g["best_single"] == "face"  # higher mean than bio
    assert g["gain"] == pytest.approx(((0.85 - 0.8) + (0.72 - 0.7) + (0.88 - 0.9)) / 3)
    assert g["gain_ci_low"] <= g["gain"] <= g["gain_ci_high"]


@pytest.mark.slow
def test_results_chapter_covers_its_grid_within_bounds(built_book):
    """Chapter 08: every cell of its grid is in the table and each interval lies in [0, 1]; Safavi
    et al.'s per-subject segment protocol scores above trial-kfold for every modality set and task
    (GBV-Net's pooled protocol is reported only: its bio-only valence model, which the synthetic
    knobs give little to learn, scored 0.019 below trial-kfold on seed 0)."""
    dataset = ex.prepare_segments(None, profile="smoke", seed=BOOK_SEED)
    results = pd.concat([ex.load_grid_results(cells=ex.grid_cells(dataset, profile="smoke", seed=BOOK_SEED,
                                                                  **g.kwargs()))
                         for g in ex.grids("results")])  # fmt: skip
    summary = ex.summarize(results)
    assert len(summary) == 2 * 3 * 2 * 3  # models x modalities x tasks x evaluations
    assert summary["accuracy_ci_low"].ge(0).all() and summary["accuracy_ci_high"].le(1).all()
    comparison = an.paper_comparison(summary, load_reference())
    wide = comparison.pivot_table(index=["model", "modalities", "task"], columns="evaluation", values="accuracy")
    print(wide.round(3).to_string())
    safavi = wide.loc["safavi"]
    assert (safavi["paper's protocol"] > safavi["trial-kfold"]).all(), safavi


@pytest.mark.slow
def test_fused_cells_of_the_executed_book_keep_each_branchs_answer(built_book):
    """Chapters 06-07 read what each branch of a fused model answered: every fused trial-kfold
    cell of the executed book kept both branches' logits, and the fused accuracy computed from
    them is the results table's."""
    dataset = ex.prepare_segments(None, profile="smoke", seed=BOOK_SEED)
    cells = ex.grid_cells(dataset, profile="smoke", seed=BOOK_SEED, **ex.grid("fusion").kwargs())
    results = ex.load_grid_results(cells=cells)
    results = results[results["modalities"] == "face+bio"]
    predictions = ex.grid_predictions(results)
    assert predictions[["logits_face", "logits_bio"]].notna().all().all()
    branches = an.fusion_branches(predictions)
    verdicts = an.fusion_branch_verdicts(branches)
    print(verdicts.drop(columns="sentence").round(3).to_string())
    fused = branches[branches["source"] == "fused"].set_index(["model", "task", "protocol"])["accuracy"]
    summary = ex.summarize(results).set_index(["model", "task", "protocol"])["accuracy"]
    pd.testing.assert_series_equal(fused.sort_index(), summary.sort_index(), check_names=False, atol=1e-9)
    assert len(verdicts) == 4 and verdicts["sentence"].str.contains("fused ").all()
