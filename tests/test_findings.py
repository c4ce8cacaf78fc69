"""What the executed book (seed ``BOOK_SEED``, not the book's default) states about its numbers is
exactly what the numbers give, every comparison it makes is matched, and what the synthetic
generator guarantees by construction holds; the checkers themselves can fail."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import BOOK_SEED

from emolab import analysis as an
from emolab import experiments as ex
from emolab.reference import load_reference


@pytest.mark.slow
def test_every_sentence_of_the_executed_book_reads_its_numbers(built_book):
    """Each sentence chapters 01 and 05-09 print about a direction or a size, recomputed from the
    results table, is printed verbatim by the executed chapter; and the truths by construction
    hold (the feature baseline finds the arousal the knobs put in the physiology; every interval
    lies in [0, 1])."""
    folder, report = built_book
    claims = report.claims  # build_book checked them (and failed the build where one does not hold)
    assert claims is not None
    again = an.chapter_claims(profile="smoke", seed=BOOK_SEED, chapters_dir=folder / "chapters")
    pd.testing.assert_frame_equal(claims, again)
    print(claims.to_string())  # shown with -rA: the table of the closing criteria
    sentences = claims[claims["kind"] == "sentence"]
    assert set(sentences["chapter"]) == {"01", "05", "06", "07", "08", "09", "10"}
    missing = sentences[~sentences["holds"].astype(bool)]
    assert missing.empty, f"sentences the executed chapters did not print:\n{missing['what'].to_string()}"
    construction = claims[claims["kind"] == "construction"]
    assert len(construction) == 2 and construction["holds"].all(), construction.to_string()


#: build_model arguments read from the store (the input sizes), not chosen.
SHAPES = {"n_chans", "n_times", "n_frames", "image_size"}

#: Training settings two cells may differ in when a chapter compares them: the seed of the split
#: and of the initialisation stays, the task and modalities are the compared factors.
_COMPARED = {"task", "modalities"}


def _train_settings(results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: model, protocol, modalities, its training settings (JSON, without the
    compared factors) and its build_model arguments beyond the input sizes."""
    rows = []
    for cell_id, g in results.groupby("cell_id"):
        cfg = g["config"].iloc[0]
        cfg = json.loads(cfg) if isinstance(cfg, str) else cfg
        train = {k: v for k, v in cfg["train"].items() if k not in _COMPARED}
        extra = {k: v for k, v in cfg["model_kwargs"].items() if k not in SHAPES}
        rows.append({"cell_id": cell_id, "model": cfg["model"], "protocol": cfg["protocol"],
                     "modalities": "+".join(cfg["modalities"]), "train": json.dumps(train, sort_keys=True),
                     "arm": json.dumps(extra, sort_keys=True)})  # fmt: skip
    return pd.DataFrame(rows)


def check_matched(results: pd.DataFrame) -> list[str]:
    """The unmatched comparisons in ``results``: for each model, every cell of every modality set,
    protocol and fusion arm must share one set of training settings (the compared factors
    aside); a fusion arm may differ from the joint model only in its build_model options."""
    table = _train_settings(results)
    problems = []
    for model, g in table.groupby("model"):
        if g["train"].nunique() > 1:
            kinds = g.groupby(["modalities", "protocol", "arm"])["train"].first()
            problems.append(f"{model}: {g['train'].nunique()} different training settings:\n{kinds.to_string()}")
        uni = g[g["modalities"] != "face+bio"]
        if (uni["arm"] != "{}").any():
            problems.append(f"{model}: unimodal cells with fusion options {sorted(set(uni['arm']))}")
    return problems


@pytest.mark.slow
def test_every_comparison_of_the_executed_book_is_matched(built_book):
    """Every cell chapters 05-08 trained on the book's data: within an architecture the same
    recipe for every modality set, protocol and fusion arm."""
    dataset = ex.prepare_segments(None, profile="smoke", seed=BOOK_SEED)
    names = ("unimodal", "concat", "concat arms", "gated", "fusion", "gated arms", "results")
    results = pd.concat([ex.load_grid_results(cells=ex.grid_cells(dataset, profile="smoke", seed=BOOK_SEED,
                                                                  **g.kwargs()))
                         for name in names for g in ex.grids(name)], ignore_index=True)  # fmt: skip
    assert set(results["protocol"]) >= {"paper-segment-kfold", "pooled-segment-kfold", "trial-kfold", "loso"}
    assert check_matched(results) == []


def test_the_matching_check_finds_a_setting_that_differs():
    def row(cell, model, mods, protocol, epochs, extra=None, aug=False):
        cfg = {"model": model, "protocol": protocol, "modalities": mods.split("+"),
               "train": {"epochs": epochs, "task": "valence", "modalities": mods.split("+"),
                         "augment": {"bio_time_shift": aug}},
               "model_kwargs": {"n_chans": 40, **(extra or {})}}  # fmt: skip
        return {"cell_id": cell, "config": json.dumps(cfg)}

    same = [row("a", "m", "bio", "trial-kfold", 8), row("b", "m", "face+bio", "loso", 8),
            row("c", "m", "face+bio", "trial-kfold", 8, {"auxiliary_heads": True})]  # fmt: skip
    assert check_matched(pd.DataFrame(same)) == []
    epochs = same + [row("d", "m", "bio", "loso", 2)]
    assert "different training settings" in check_matched(pd.DataFrame(epochs))[0]
    fused_only = same + [row("e", "m", "face+bio", "trial-kfold", 8, aug=True)]
    assert check_matched(pd.DataFrame(fused_only))
    arm_on_half = same + [row("f", "m", "face", "trial-kfold", 8, {"auxiliary_heads": True})]
    assert "unimodal cells with fusion options" in check_matched(pd.DataFrame(arm_on_half))[0]


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
    """Chapter 08: every cell of its grid is in the table, each interval lies in [0, 1], and the
    comparison puts each paper's figure beside its own protocol (the directions it prints are
    checked with the other sentences)."""
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
    assert set(wide.columns) == {"paper's protocol", "trial-kfold", "loso"} and wide.notna().all().all()


@pytest.mark.slow
def test_fused_cells_of_the_executed_book_keep_each_branchs_answer(built_book):
    """Chapters 06-07 read what each branch of a fused model answered: every fused trial-kfold
    cell of the auxiliary-heads arm kept both branches' logits, and the fused accuracy computed
    from them is the results table's."""
    dataset = ex.prepare_segments(None, profile="smoke", seed=BOOK_SEED)
    arms = [g for name in ("concat arms", "gated arms") for g in ex.grids(name) if g.arm == "auxiliary heads"]
    cells = [c for g in arms for c in ex.grid_cells(dataset, profile="smoke", seed=BOOK_SEED, **g.kwargs())]
    results = ex.load_grid_results(cells=cells)
    predictions = ex.grid_predictions(results)
    assert predictions[["logits_face", "logits_bio"]].notna().all().all()
    branches = an.fusion_branches(predictions)
    verdicts = an.fusion_branch_verdicts(branches)
    print(verdicts.drop(columns="sentence").round(3).to_string())
    fused = branches[branches["source"] == "fused"].set_index(["model", "task", "protocol"])["accuracy"]
    summary = ex.summarize(results).set_index(["model", "task", "protocol"])["accuracy"]
    pd.testing.assert_series_equal(fused.sort_index(), summary.sort_index(), check_names=False, atol=1e-9)
    assert len(verdicts) == 4 and verdicts["sentence"].str.contains("fused ").all()
