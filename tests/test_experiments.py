"""The experiment runner: profiles, segments from a tiny synthetic set, a grid end to end,
resumption, the leaky flag, loaders, the epoch-selection comparison and the result plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emolab import analysis as an
from emolab import experiments as ex
from emolab.train.results import RESULT_COLUMNS, config_of

PROFILE = ex.get_profile("smoke", subjects=(1, 2), n_splits=3, max_folds=1, epochs=2, patience=2, model_train={},
                         batch_size=16, segments_per_trial=3, n_jobs=1)  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """2 subjects x 6 trials of 4 s in the DEAP format, bio-only store, 3 segments per trial."""
    from emolab.data.synthetic import ensure_synthetic

    base = tmp_path_factory.mktemp("exp")
    root = ensure_synthetic(root=base / "syn", n_subjects=2, n_trials=6, trial_s=4.0, face_subjects=0)
    ds = ex.prepare_segments(root, profile=PROFILE, modalities=("bio",), store_root=base / "store")
    return base, ds


@pytest.fixture(scope="module")
def grid(tiny):
    base, ds = tiny
    path = base / "results" / "results.csv"
    df = ex.run_grid(ds, models=["safavi"], modalities=[("bio",)], tasks=["valence", "arousal"],
                     protocols=["paper-segment-kfold", "trial-kfold"], profile=PROFILE, results_path=path)  # fmt: skip
    return path, df


def test_profiles():
    smoke, full = ex.get_profile("smoke"), ex.get_profile("full")
    assert (full.n_splits, full.batch_size, full.lr, full.subjects, full.max_folds) == (10, 256, 1e-3, None, None)
    # the CI profile runs every fold, on a preset with enough subjects for an interval over them
    assert smoke.max_folds is None and smoke.epochs < full.epochs
    from emolab.data.synthetic import make_config
    assert make_config(preset=smoke.synthetic_preset).n_subjects >= 6 and smoke.subjects is None
    assert ex.get_profile(smoke, epochs=1).epochs == 1 and smoke.epochs != 1
    assert ex.ExperimentProfile(**smoke.to_dict()) == smoke  # round trip through JSON-able dicts
    with pytest.raises(KeyError, match="known"):
        ex.get_profile("huge")
    with pytest.raises(TypeError, match="unknown ExperimentProfile field"):
        ex.get_profile("smoke", epoch=3)
    with pytest.raises(ValueError, match="max_folds"):
        ex.get_profile("smoke", n_splits=3, max_folds=5)
    # stores build one subject per core unless told otherwise
    assert ex.get_profile("smoke", build_jobs=3).build_workers() == 3
    assert ex.get_profile("smoke", build_jobs=None).build_workers() == len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="build_jobs"):
        ex.get_profile("smoke", build_jobs=0)


def test_prepare_segments_keeps_trial_heads(tiny):
    _, ds = tiny
    assert isinstance(ds, ex.TrialHeads)
    meta = ds.metadata
    assert len(ds) == len(meta) == 2 * 6 * 3
    assert (meta.groupby(["subject", "trial"]).size() == 3).all()
    # every kept item is the segment its metadata row says
    for i in (0, 7, len(ds) - 1):
        item = ds[i]
        assert (int(item["subject"]), int(item["trial"]), int(item["segment"])) == tuple(
            meta.loc[i, ["subject", "trial", "segment"]])
        assert tuple(item["bio"].shape) == (40, 128)
    assert meta.groupby(["subject", "trial"])["segment"].max().max() == 2
    assert ex.segment_shapes(ds)["n_chans"] == 40
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ex.prepare_segments("/nonexistent/deap", profile=PROFILE)


def test_grid_table_has_expected_rows_and_columns(grid):
    path, df = grid
    assert list(df.columns) == RESULT_COLUMNS
    # 1 model x 1 modality set x 2 tasks x 2 protocols x 2 subjects x 1 fold
    assert len(df) == 8 and df["cell_id"].is_unique
    assert set(df["protocol"]) == {"paper-segment-kfold", "trial-kfold"}
    assert set(df["subject"]) == {1, 2} and set(df["fold"]) == {0}
    assert df["accuracy"].between(0, 1).all() and (df["majority_baseline"] >= 0.5).all()
    cfg = config_of(df.iloc[0])
    assert cfg["n_splits"] == 3 and cfg["train"]["epochs"] == 2 and cfg["data"]["kwargs"]["segments_per_trial"] == 3
    # test folds are whole segments sets of the tiny data: 18 segments per subject, 3 folds
    assert (df["n_test"] == 6).all()


def test_leaky_protocols_flagged(grid):
    _, df = grid
    assert set(df.loc[df["protocol"] == "paper-segment-kfold", "leaky"]) == {True}
    assert set(df.loc[df["protocol"] == "trial-kfold", "leaky"]) == {False}
    s = ex.summarize(df)
    assert len(s) == 4 and (s["n_subjects"] == 2).all() and (s["n_folds"] == 1).all()
    assert s.groupby("protocol")["leaky"].unique().map(list).to_dict() == {
        "paper-segment-kfold": [True], "trial-kfold": [False]}
    np.testing.assert_allclose(s["above_baseline"], s["accuracy"] - s["majority_baseline"])


def test_rerun_skips_finished_cells(grid, tiny, monkeypatch):
    path, df = grid
    _, ds = tiny
    import emolab.train.sweep as sweep

    def no_training(spec):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(sweep, "_open_data", no_training)
    again = ex.run_grid(ds, models=["safavi"], modalities=[("bio",)], tasks=["valence", "arousal"],
                        protocols=["paper-segment-kfold", "trial-kfold"], profile=PROFILE, results_path=path)  # fmt: skip
    pd.testing.assert_frame_equal(again, df)
    assert len(pd.read_csv(path)) == 8
    # a different setting is a different cell: it would train (and here fails on the patched loader)
    with pytest.raises(RuntimeError, match="cells failed"):
        ex.run_grid(ds, models=["safavi"], modalities=[("bio",)], tasks=["valence"], protocols=["trial-kfold"],
                    profile=PROFILE.replace(lr=5e-4), results_path=path)  # fmt: skip


def test_loaders(grid):
    path, df = grid
    sub = ex.load_grid_results(path, protocol="trial-kfold", task=["valence"])
    assert len(sub) == 2 and set(sub["protocol"]) == {"trial-kfold"}
    with pytest.raises(KeyError, match="no column"):
        ex.load_grid_results(path, colour="red")
    with pytest.raises(KeyError, match="not in"):
        ex.load_grid_results(path, cells=["safavi|nope"])
    with pytest.raises(FileNotFoundError, match="run the sweep"):
        ex.load_grid_results(path.parent / "missing.csv")
    hist = ex.grid_histories(df, path)
    assert set(hist["cell_id"]) == set(df["cell_id"])
    assert {"epoch", "train_loss", "val_loss", "best_epoch", "protocol", "subject"} <= set(hist.columns)
    assert hist.groupby("cell_id").size().to_dict() == df.set_index("cell_id")["epochs_run"].to_dict()
    pred = ex.grid_predictions(df, path)
    assert len(pred) == df["n_test"].sum() and {"y_true", "y_score", "trial", "leaky"} <= set(pred.columns)


def test_accuracy_table_and_expectations(grid, tiny):
    _, df = grid
    _, ds = tiny
    table = ex.accuracy_table(ex.summarize(df))
    assert list(table.columns) == ["paper-segment-kfold (leaky)", "trial-kfold",
                                   "majority (paper-segment-kfold)", "majority (trial-kfold)"]
    assert len(table) == 2 and table.iloc[0, 0].count("[") == 1  # "mean [low, high]"
    expect = ex.synthetic_expectations(ds)
    # the generator's defaults: face mostly valence, physiology mostly arousal
    best = expect[expect["rank"] == 1].set_index("modalities")["task"].to_dict()
    assert best == {"bio": "arousal", "face": "valence"}
    assert (expect["fingerprint"] > 0).all()


def test_torch_threads_restores():
    import torch

    before = torch.get_num_threads()
    with ex.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_epoch_selection_bias_on_constructed_curves():
    curves = pd.DataFrame({
        "subject": 1, "fold": 0, "epoch": [1, 2, 3, 4],
        "val_loss": [0.7, 0.5, 0.6, 0.65], "test_accuracy": [0.5, 0.6, 0.8, 0.55],
    })  # fmt: skip
    out = an.epoch_selection_bias(curves).iloc[0]
    assert (out["val_selected_epoch"], out["val_selected"]) == (2, 0.6)
    assert (out["best_test_epoch"], out["best_test"], out["last"]) == (3, 0.8, 0.55)
    assert out["optimism"] == pytest.approx(0.2)
    with pytest.raises(KeyError, match="peek_test_epochs"):
        an.epoch_selection_bias(curves.drop(columns="val_loss"))


def test_peek_test_epochs_runs_every_epoch(tiny):
    _, ds = tiny
    curves = an.peek_test_epochs(ds, modalities=("bio",), task="arousal", profile=PROFILE, epochs=3, max_folds=1)
    assert len(curves) == 2 * 3  # 2 subjects x 1 fold x 3 epochs: early stopping off
    assert curves["test_accuracy"].between(0, 1).all() and curves["val_loss"].notna().all()
    bias = an.epoch_selection_bias(curves)
    assert (bias["best_test"] >= bias["val_selected"]).all() and (bias["best_test"] >= bias["last"]).all()


def test_peek_test_epochs_in_worker_processes_gives_the_same_curves(tiny):
    from emolab.train.trainer import TIMING_KEYS

    _, ds = tiny
    kw = dict(modalities=("bio",), task="arousal", profile=PROFILE, epochs=2, max_folds=1)
    alone, side_by_side = (an.peek_test_epochs(ds, n_jobs=n, **kw) for n in (1, 2))
    timings = [c for c in alone if c in TIMING_KEYS]
    assert len(alone) == 2 * 2 and timings  # 2 subjects x 2 epochs, each epoch timed
    pd.testing.assert_frame_equal(alone.drop(columns=timings), side_by_side.drop(columns=timings))


def test_result_plots(grid):
    from emolab.viz import results as vr

    path, df = grid
    s = ex.summarize(df)
    fig = vr.plot_accuracy(s, col="task")
    assert len(fig.axes) >= 2
    hist = ex.grid_histories(df, path)
    assert vr.plot_training_curves(hist[hist["task"] == "valence"]).axes
    pred = ex.grid_predictions(df, path)
    fig = vr.plot_confusion_matrices(pred, by="protocol")
    assert len([a for a in fig.axes if a.images]) == 2
    assert vr.plot_per_subject_accuracy(df).axes
    curves = pd.DataFrame({"subject": 1, "fold": 0, "epoch": [1, 2, 3], "train_loss": [0.7, 0.6, 0.5],
                           "val_loss": [0.7, 0.5, 0.6], "test_accuracy": [0.5, 0.6, 0.8],
                           "best_epoch": 2})  # fmt: skip
    assert vr.plot_epoch_selection(curves).axes


def test_prepare_segments_normalises_by_the_profile(tiny):
    base, ds = tiny
    store = ds.store
    assert store.config["physio"]["normalize"] == PROFILE.normalize == "baseline_std"
    raw = ex.prepare_segments(base / "syn", profile=PROFILE.replace(normalize=None), modalities=("bio",),
                              store_root=base / "store")  # fmt: skip
    raw_store = raw.store
    assert raw_store.path != store.path  # another setting, another store
    assert raw_store.config["physio"]["normalize"] is None
    # baseline-std scaling puts every channel on a comparable scale; the raw channels differ widely
    spread = lambda d: np.ptp(np.log10(np.stack([d[i]["bio"].numpy().std(axis=1) for i in range(6)]).mean(0)))
    assert spread(ds) < spread(raw) - 1.0


def test_every_protocol_and_modality_set_trains_with_the_architectures_one_recipe(tiny):
    _, ds = tiny
    prof = PROFILE.replace(epochs=4, model_train={"safavi": {"epochs": 3, "augment": {"bio_time_shift": True}}})
    cells = ex.grid_cells(ds, models=["safavi", "gbvnet"], modalities=[("bio",)], tasks=["valence"],
                          protocols=["trial-kfold", "loso", "pooled-segment-kfold"], profile=prof)  # fmt: skip
    epochs = {(c.model, c.protocol): c.train["epochs"] for c in cells}
    assert epochs == {(m, p): 3 if m == "safavi" else 4 for m in ("safavi", "gbvnet")
                      for p in ("trial-kfold", "loso", "pooled-segment-kfold")}  # fmt: skip
    shift = {c.model: c.train["augment"]["bio_time_shift"] for c in cells}
    assert shift == {"safavi": True, "gbvnet": False}
    forced = ex.grid_cells(ds, models=["safavi"], modalities=[("bio",)], tasks=["valence"],
                           protocols=["loso"], profile=prof, train={"epochs": 2})  # fmt: skip
    assert {c.train["epochs"] for c in forced} == {2}  # an explicit override wins
    with pytest.raises(ValueError, match="model_train"):
        ex.get_profile("smoke", model_train={"safavi": 3})
    with pytest.raises(ValueError, match="epocs"):
        ex.get_profile("smoke", model_train={"safavi": {"epocs": 3}})


def _fold_rows(model, protocol, accs, modalities="face+bio", task="valence"):
    """One row per subject (a pooled protocol's rows: one per fold and test subject, here fold i
    holds subject i + 1's test segments)."""
    pooled = protocol == "pooled-segment-kfold"
    return [{"model": model, "modalities": modalities, "task": task, "protocol": protocol,
             "leaky": protocol != "trial-kfold", "subject": i + 1, "fold": i if pooled else 0,
             "accuracy": a, "balanced_accuracy": a, "majority_baseline": 0.6, "n_test": 20, "n_pos": 12}
            for i, a in enumerate(accs)]  # fmt: skip


def test_paper_comparison_puts_each_paper_beside_its_own_protocol():
    from emolab.reference import load_reference

    rows = (_fold_rows("gbvnet", "pooled-segment-kfold", [0.9, 0.92, 0.94])
            + _fold_rows("gbvnet", "trial-kfold", [0.6, 0.7, 0.65])
            + _fold_rows("safavi", "paper-segment-kfold", [0.95, 0.97, 0.99]))  # fmt: skip
    summary = ex.summarize(pd.DataFrame(rows))
    pooled = summary[summary["protocol"] == "pooled-segment-kfold"].iloc[0]
    assert pooled["unit"] == "subject" and pooled["accuracy"] == pytest.approx(0.92)  # mean over subjects
    assert pooled["n_subjects"] == 3 and pooled["n_folds"] == 3
    comp = an.paper_comparison(summary, load_reference(), dataset="DEAP")
    g = comp[(comp["model"] == "gbvnet") & (comp["protocol"] == "pooled-segment-kfold")].iloc[0]
    assert g["evaluation"] == "paper's protocol" and g["paper"] == pytest.approx(0.9468)
    s = comp[comp["model"] == "safavi"].iloc[0]
    assert s["evaluation"] == "paper's protocol" and s["paper"] == pytest.approx(0.9764)
    assert set(comp.loc[comp["protocol"] == "trial-kfold", "evaluation"]) == {"trial-kfold"}
    table = an.comparison_table(comp)
    assert list(table.columns[:2]) == ["paper", "paper's protocol"]
    assert table.loc[("gbvnet", "face+bio", "valence"), "paper"] == "0.947"


def test_fusion_gains_pair_subjects_for_a_pooled_protocol_too():
    rows = (_fold_rows("gbvnet", "pooled-segment-kfold", [0.9, 0.8, 0.7])
            + _fold_rows("gbvnet", "pooled-segment-kfold", [0.8, 0.8, 0.8], modalities="face"))  # fmt: skip
    g = ex.fusion_gains(pd.DataFrame(rows)).iloc[0]
    assert g["unit"] == "subject" and g["n_units"] == 3
    assert g["gain"] == pytest.approx(0.0) and g["best_single"] == "face"
    # a Student-t interval over the three subjects' differences (+0.1, 0, -0.1)
    assert g["gain_ci_low"] == pytest.approx(-g["gain_ci_high"]) and g["gain_ci_high"] > 0.2


def test_fusion_branches_scores_each_branch_and_its_agreement_with_the_fused_output():
    # two subjects, 4 test segments each; the face branch is always right, the bio branch always
    # wrong and louder, and the fused output follows bio except on subject 2's last segment
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    sign = np.where(y == 1, 1.0, -1.0)
    fused = -2.0 * sign
    fused[7] = -fused[7]
    pred = pd.DataFrame({"model": "safavi", "task": "valence", "protocol": "trial-kfold",
                         "subject": [1] * 4 + [2] * 4, "y_true": y, "logits": fused,
                         "logits_face": 0.5 * sign, "logits_bio": -8.0 * sign})  # fmt: skip
    unimodal = pred.drop(columns=["logits_face", "logits_bio"]).assign(task="arousal")
    out = an.fusion_branches(pd.concat([pred, unimodal], ignore_index=True)).set_index("source")
    assert list(out.index) == ["fused", "face", "bio"] and set(out["task"]) == {"valence"}
    assert out.loc["face", "accuracy"] == 1.0 and out.loc["bio", "accuracy"] == 0.0
    assert out.loc["fused", "accuracy"] == pytest.approx((0 + 0.25) / 2)  # mean over subjects
    assert out.loc["bio", "mean_abs_logit"] == 8.0 and out.loc["face", "mean_abs_logit"] == 0.5
    assert out.loc["bio", "agreement"] == pytest.approx(7 / 8) and out.loc["face", "agreement"] == pytest.approx(1 / 8)
    assert out.loc["fused", "agreement"] == 1.0 and (out["n_test"] == 8).all()
    with pytest.raises(ValueError, match="auxiliary_heads"):
        an.fusion_branches(unimodal)
    v = an.fusion_branch_verdicts(out.reset_index()).iloc[0]
    assert (v["best_branch"], v["followed"], v["keeps_up"], v["follows_best"]) == ("face", "bio", False, False)
    assert v["sentence"].startswith("safavi, valence, trial-kfold: fused 0.125; the face branch alone 1.000")
    assert "answer on 88% of the test segments (the face branch's on 12%)" in v["sentence"]
    assert v["sentence"].endswith("the fusion head follows the bio branch, the louder one on these new segments.")
    # a head that follows the quieter, worse branch is not called the louder one
    quiet = out.reset_index()
    quiet.loc[quiet["source"] == "bio", "mean_abs_logit"] = 0.1
    v = an.fusion_branch_verdicts(quiet).iloc[0]
    assert v["sentence"].endswith("follows the bio branch, although the face branch is as loud or louder on these segments.")
    # a fused output that gives the best branch's answers keeps up with it
    kept = out.reset_index().assign(agreement=lambda d: d["source"].map({"fused": 1.0, "face": 0.9, "bio": 0.1}))
    kept.loc[kept["source"] == "fused", "accuracy"] = 0.99
    v = an.fusion_branch_verdicts(kept).iloc[0]
    assert v["keeps_up"] and v["follows_best"] and v["sentence"].endswith("keeps up with its best branch (face).")


def test_audit_protocols_reads_the_profile(tiny):
    _, ds = tiny
    table = ex.audit_protocols(ds, protocols=["paper-segment-kfold", "trial-kfold"], profile=PROFILE)
    status = table.pivot(index="check", columns="protocol", values="status")
    assert status.loc["shared trials", "paper-segment-kfold"] == "leak"
    assert status.loc["shared trials", "trial-kfold"] == "ok"
    assert (status.loc[["statistics fitted on test rows", "model selection on the test fold",
                        "label threshold from test trials"]] == "ok").all().all()  # fmt: skip


def test_paper_comparison_plot():
    from emolab.reference import load_reference
    from emolab.viz import results as vr

    rows = (_fold_rows("gbvnet", "pooled-segment-kfold", [0.9, 0.92, 0.94])
            + _fold_rows("gbvnet", "trial-kfold", [0.6, 0.7, 0.65]))  # fmt: skip
    comp = an.paper_comparison(ex.summarize(pd.DataFrame(rows)), load_reference())
    fig = vr.plot_paper_comparison(comp)
    stars = [line for ax in fig.axes for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 1 and stars[0].get_ydata()[0] == pytest.approx(0.9468)


def test_grid_preprocessing_changes_the_profile_and_is_checked():
    g = ex.grids("control")[0]
    prof = g.profile("smoke")
    assert prof.baseline is False and prof.normalize == "train_fold"
    assert prof.physio_config().normalize is None  # the train_fold scaling happens in training
    assert prof.train_settings("gbvnet", fused=False)["bio_standardize"] == "train_fold"
    # a new field at its default is left out, so existing cells keep their keys
    assert "bio_standardize" not in ex.get_profile("smoke").train_settings("gbvnet", fused=False)
    with pytest.raises(ValueError, match="preprocessing keys"):
        ex.Grid("x", "05", ("safavi",), (("bio",),), preprocessing={"lr": 1.0})
    with pytest.raises(ValueError, match="normalize"):
        ex.get_profile("smoke", normalize="per_subject")


def test_paired_gap_pairs_subjects_and_uses_a_t_interval():
    rows = []
    for s, (leaky, honest) in enumerate([(0.9, 0.7), (0.8, 0.7), (0.7, 0.6), (0.9, 0.8)], start=1):
        rows += [{"protocol": "paper-segment-kfold", "subject": s, "fold": 0, "accuracy": leaky, "n_test": 10, "n_pos": 5},
                 {"protocol": "trial-kfold", "subject": s, "fold": 0, "accuracy": honest, "n_test": 10, "n_pos": 5}]  # fmt: skip
    rows.append({"protocol": "trial-kfold", "subject": 9, "fold": 0, "accuracy": 0.1, "n_test": 10, "n_pos": 5})
    g = ex.paired_gap(pd.DataFrame(rows), leaky="paper-segment-kfold")
    diffs = np.array([0.2, 0.1, 0.1, 0.1])
    half = stats.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2
    assert g["n_subjects"] == 4  # subject 9 has no leaky result: left out
    assert g["gap"] == pytest.approx(0.125) and g["gap_low"] == pytest.approx(0.125 - half)
    table = ex.paired_gaps(pd.DataFrame(rows).assign(model="m"), by=["model"], leaky="paper-segment-kfold")
    assert bool(table.loc[0, "contains_zero"]) is False
    with pytest.raises(KeyError, match="loso"):
        ex.paired_gap(pd.DataFrame(rows), leaky="loso")
