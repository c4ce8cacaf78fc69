"""The simple-feature baseline (:func:`emolab.analysis.feature_baseline`): the deep cells' folds,
one row per test subject, the face rules of the deep models, late fusion, the results table's
format, its errors, and the known answer on chapter 09's synthetic control."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from emolab import analysis as an
from emolab import experiments as ex
from emolab.analysis import baseline as bl
from emolab.train.metrics import binary_metrics
from emolab.train.protocols import get_protocol
from emolab.train.sweep import cell_fold
from emolab.train.results import RESULT_COLUMNS, append_results, load_results

ALL_SETS = (("bio",), ("face",), ("face", "bio"))
ALL_PROTOCOLS = ("paper-segment-kfold", "pooled-segment-kfold", "trial-kfold", "loso")


class _FakeStore:
    path = "in-memory"

    def __init__(self, bio: dict[int, np.ndarray], face_shape: tuple[int, int] | None):
        self.config = {"reader": {"dataset": "deap"}, "physio": {"sfreq": 128.0}}
        self._bio, self._face_shape = bio, face_shape

    def bio(self, subject: int) -> np.ndarray:
        return self._bio[subject]

    def face_shape(self):
        return self._face_shape


class _FakeDataset:
    """What the baseline and :func:`emolab.experiments.grid_cells` read of a SegmentDataset, in
    memory: 4 subjects x 6 trials x 6 segments of 4 channels (0.5 s at 128 Hz) and 2-frame 8 x 8
    face crops.  Each trial's arousal and valence move one channel's gain and the crops'
    brightness, so the regressions have something to learn.  Subjects 1 and 3 have a face in
    every segment, subject 2 lost it in two segments, subject 4 has no face video."""

    def __init__(self, *, modalities=("face", "bio"), n_subjects=4, n_trials=6, n_segments=6, seed=0):
        rng = np.random.default_rng(seed)
        self.modalities = tuple(modalities)
        self.subjects = list(range(1, n_subjects + 1))
        rows, bio, face = [], {}, []
        for s in self.subjects:
            ratings = rng.permutation(np.linspace(1.5, 8.5, n_trials))
            xs = []
            for t in range(n_trials):
                valence, arousal = float(ratings[t]), float(ratings[(t + 2) % n_trials])
                x = rng.standard_normal((n_segments, 4, 64))
                x[:, 0] *= np.exp(0.3 * (arousal - 5))
                x[:, 1] *= np.exp(0.3 * (valence - 5))
                xs.append(x)
                f = 120 + 8 * (valence - 5) + 20 * rng.standard_normal((n_segments, 2, 3, 8, 8))
                face.append(np.clip(f, 0, 255))
                for k in range(n_segments):
                    rows.append({"subject": s, "trial": t + 1, "experiment_id": t + 1, "segment": k,
                                 "valence": valence, "arousal": arousal})  # fmt: skip
            bio[s] = np.concatenate(xs).astype(np.float32)
        meta = pd.DataFrame(rows)
        has_face = (meta["subject"] != 4).to_numpy().copy()
        second = np.flatnonzero(meta["subject"].to_numpy() == 2)
        has_face[second[[0, n_segments]]] = False  # the first segment of trials 1 and 2 of subject 2
        if "face" not in self.modalities:
            has_face[:] = False
        self.metadata = meta.assign(has_face=has_face)
        self._bio = np.concatenate([bio[s] for s in self.subjects])
        self._face = np.concatenate(face).astype(np.uint8)
        self._face[~has_face] = 0
        self.store = _FakeStore(bio, (2, 8) if "face" in self.modalities else None)

    def arrays(self, indices):
        idx = np.asarray(indices)
        meta = self.metadata
        out = {"bio": self._bio[idx], "has_face": meta["has_face"].to_numpy()[idx],
               "subject": meta["subject"].to_numpy()[idx], "trial": meta["trial"].to_numpy()[idx]}  # fmt: skip
        if "face" in self.modalities:
            out["face"] = self._face[idx]
        return out


@pytest.fixture(scope="module")
def fake():
    return _FakeDataset()


@pytest.fixture(scope="module")
def every_protocol(fake):
    return an.feature_baseline(fake, protocols=ALL_PROTOCOLS, predictions=True)


def _prefix(model, mods, task, protocol, subject, fold):
    return f"{model}|{'+'.join(mods)}|{task}|{protocol}|s{subject}|f{fold}|"


def test_the_folds_are_the_deep_cells_folds(fake, every_protocol):
    """Every deep cell that grid_cells lists (the face sets on the subjects with a face) has the
    baseline's fold with the same test segments (the face-only model's without a face left out),
    and the baseline has no other fold."""
    rows, preds = every_protocol
    cells = ex.grid_cells(fake, models=["safavi"], modalities=ALL_SETS, tasks=["valence", "arousal"],
                          protocols=ALL_PROTOCOLS, profile=ex.get_profile("smoke", n_splits=3), seed=0,
                          device="cpu")  # fmt: skip
    meta = fake.metadata
    expected_ids = set()
    for cell in cells:
        cell_meta = meta[meta["subject"].isin(cell.data["kwargs"]["subjects"])].reset_index(drop=True)
        fold = cell_fold(cell, cell_meta)
        test = cell_meta.iloc[fold.test_idx]
        train = cell_meta.iloc[fold.train_idx]
        if cell.modalities == ("face",):
            test, train = test[test["has_face"]], train[train["has_face"]]
        models = ["features"] if len(cell.modalities) == 1 else ["features (concat)", "features (late)"]
        for model in models:
            prefix = _prefix(model, cell.modalities, cell.task, cell.protocol, cell.subject, cell.fold)
            mine = preds[preds["cell_id"].str.startswith(prefix)]
            assert mine["cell_id"].nunique() == 1, prefix
            expected_ids.add(mine["cell_id"].iloc[0])
            got = set(zip(mine["subject"], mine["trial"], mine["segment"]))
            assert got == set(zip(test["subject"], test["trial"], test["segment"])), prefix
            assert (rows.loc[rows["cell_id"] == mine["cell_id"].iloc[0], "n_train"] == len(train)).all()
    assert set(rows["cell_id"]) == expected_ids
    subjects = {c.modalities: tuple(c.data["kwargs"]["subjects"]) for c in cells}
    assert subjects == {("bio",): (1, 2, 3, 4), ("face",): (1, 2, 3), ("face", "bio"): (1, 2, 3)}


def test_pooled_and_loso_folds_give_one_row_per_test_subject(every_protocol):
    rows, preds = every_protocol
    assert (rows["subject"] >= 1).all()
    for protocol in ("pooled-segment-kfold", "loso"):
        part = rows[rows["protocol"] == protocol]
        for cell_id, g in part.groupby("cell_id"):
            tested = preds[preds["cell_id"] == cell_id]
            assert sorted(g["subject"]) == sorted(tested["subject"].unique())
            assert g["n_test"].sum() == len(tested)
            for row in g.itertuples():  # each subject scored on its own test segments
                own = tested[tested["subject"] == row.subject]
                m = binary_metrics(own["y_true"], own["y_score"])
                assert (row.accuracy, row.n_test, row.n_pos) == (pytest.approx(m["accuracy"]), m["n"], m["n_pos"])
        if protocol == "pooled-segment-kfold":
            assert part.groupby(["model", "modalities", "task"])["fold"].nunique().eq(3).all()
            assert part["cell_id"].str.contains(r"\|s-1\|").all()
            assert part.groupby("cell_id")["subject"].nunique().gt(1).all()
        else:  # one fold per held-out subject, scored on that subject only
            assert (part["cell_id"].str.extract(r"\|s(\d+)\|")[0].astype(int) == part["subject"]).all()
    summary = ex.summarize(rows)
    pooled = summary[summary["protocol"] == "pooled-segment-kfold"]
    assert len(pooled) == 2 * 4 and (pooled["n_subjects"] == pooled["modalities"].map({"bio": 4}).fillna(3)).all()


def test_face_only_drops_segments_without_a_face_and_fusion_keeps_them(every_protocol):
    rows, _ = every_protocol
    segment_kfold = rows[rows["protocol"] == "paper-segment-kfold"]
    per = segment_kfold.groupby(["model", "modalities", "task", "subject"])["n_test"].sum()
    for task in ("valence", "arousal"):
        assert per[("features", "bio", task)].to_dict() == {1: 36, 2: 36, 3: 36, 4: 36}
        assert per[("features", "face", task)].to_dict() == {1: 36, 2: 34, 3: 36}
        for model in ("features (concat)", "features (late)"):
            assert per[(model, "face+bio", task)].to_dict() == {1: 36, 2: 36, 3: 36}
    face_train = rows[(rows["modalities"] == "face") & (rows["protocol"] == "loso")].set_index(["task", "subject"])
    assert (face_train["n_train"] + face_train["n_test"] == 106).all()  # 3 x 36 segments, 2 without a face


def test_late_fusion_averages_the_two_modalities_probabilities(every_protocol):
    """Its score is the mean of a face and a physiological regression's probabilities; on a
    subject with a face in every segment, under per-subject protocols, those are the unimodal
    rows' own probabilities (same folds, same training rows)."""
    _, preds = every_protocol
    late = preds[preds["model"] == "features (late)"]
    np.testing.assert_allclose(late["y_score"], (late["y_score_face"] + late["y_score_bio"]) / 2)
    assert preds.loc[preds["model"] != "features (late)", ["y_score_face", "y_score_bio"]].isna().all().all()
    keys = ["task", "protocol", "fold", "position"]
    per_subject = preds["protocol"].isin(["paper-segment-kfold", "trial-kfold"]) & (preds["subject"] == 1)
    one = preds[per_subject]
    merged = one[one["model"] == "features (late)"].merge(
        one[one["modalities"] == "bio"][[*keys, "y_score"]].rename(columns={"y_score": "bio"}), on=keys).merge(
        one[one["modalities"] == "face"][[*keys, "y_score"]].rename(columns={"y_score": "face"}), on=keys)  # fmt: skip
    assert len(merged) == 2 * 2 * 36
    np.testing.assert_allclose(merged["y_score_bio"], merged["bio"])
    np.testing.assert_allclose(merged["y_score_face"], merged["face"])
    np.testing.assert_allclose(merged["y_score"], (merged["bio"] + merged["face"]) / 2)
    concat = preds[preds["model"] == "features (concat)"].set_index(["cell_id", "position"])
    assert len(concat) == len(late) and not np.allclose(concat["y_score"].to_numpy(), late["y_score"].to_numpy())


def test_rows_are_results_table_rows(tmp_path, fake, every_protocol):
    rows, preds = every_protocol
    assert list(rows.columns) == RESULT_COLUMNS
    assert set(rows["model"]) == {"features", "features (concat)", "features (late)"}
    assert set(rows.groupby("model")["modalities"].unique().map(tuple)) == {("bio", "face"), ("face+bio",)}
    assert (rows["n_val"] == 0).all() and rows[["best_epoch", "epochs_run"]].isna().all().all()
    assert (rows["device"] == "cpu").all() and rows["train_seconds"].ge(0).all()
    assert rows["leaky"].to_numpy().tolist() == rows["protocol"].str.contains("segment").tolist()
    config = json.loads(rows["config"].iloc[0])
    assert (config["baseline"], config["C"], config["validation"]) == (
        "feature_baseline", 1.0, "none: fitted on the whole training fold")
    assert "bio" in config["features"] and config["split_seed"] == 0 and config["n_splits"] == 3
    # the metrics are binary_metrics of the scores, per test subject
    r = rows.iloc[5]
    own = preds[(preds["cell_id"] == r["cell_id"]) & (preds["subject"] == r["subject"])]
    m = binary_metrics(own["y_true"], own["y_score"])
    for k in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "majority_baseline"):
        assert r[k] == pytest.approx(m[k], nan_ok=True)
    # cell ids are one per fold and model, stable across calls, and the table takes the rows
    assert rows.groupby("cell_id")["fold"].nunique().eq(1).all()
    again = an.feature_baseline(fake, modalities=[("bio",)], tasks=["arousal"], protocols=["trial-kfold"])
    assert set(again["cell_id"]) <= set(rows["cell_id"])
    pd.testing.assert_frame_equal(
        again.drop(columns="train_seconds").reset_index(drop=True),
        rows[rows["cell_id"].isin(again["cell_id"])].drop(columns="train_seconds").reset_index(drop=True))
    path = append_results(tmp_path / "results.csv", rows.to_dict("records"))
    back = load_results(path)
    assert len(back) == len(rows) and list(back.columns) == RESULT_COLUMNS
    summary = ex.summarize(back)
    assert len(summary) == 4 * 2 * 4 and summary["accuracy"].between(0, 1).all()


def test_each_modalitys_features_are_computed_once(fake, monkeypatch):
    calls = []

    def counting(dataset, *, modalities, rows):
        calls.append((tuple(modalities), int(np.unique(dataset.metadata["subject"].to_numpy()[rows]).item())))
        return real(dataset, modalities=modalities, rows=rows)

    real = bl.input_features
    monkeypatch.setattr(bl, "input_features", counting)
    an.feature_baseline(fake, protocols=["paper-segment-kfold", "trial-kfold"])
    assert sorted(calls) == sorted([(("bio",), s) for s in (1, 2, 3, 4)] + [(("face",), s) for s in (1, 2, 3)])


def test_errors_name_the_fix(fake):
    with pytest.raises(ValueError, match=r"write \('bio',\)"):
        an.feature_baseline(fake, modalities=["bio"])
    with pytest.raises(ValueError, match="unknown modality set"):
        an.feature_baseline(fake, modalities=[("eeg",)])
    with pytest.raises(ValueError, match="resolve_protocols"):
        an.feature_baseline(fake, protocols=["paper", "trial-kfold"])
    with pytest.raises(ValueError, match="unknown protocols"):
        an.feature_baseline(fake, protocols=["within-trial-kfold"])
    with pytest.raises(ValueError, match="unknown tasks"):
        an.feature_baseline(fake, tasks=["dominance"])
    with pytest.raises(ValueError, match="unknown fusion"):
        an.feature_baseline(fake, fusion=["gated"])
    with pytest.raises(ValueError, match="fusion is empty"):
        an.feature_baseline(fake, fusion=())
    with pytest.raises(ValueError, match="n_splits"):
        an.feature_baseline(fake, n_splits=1)
    bio_only = _FakeDataset(modalities=("bio",))
    with pytest.raises(ValueError, match=r"serves \('bio',\).*modalities=\('face', 'bio'\)"):
        an.feature_baseline(bio_only)
    assert len(an.feature_baseline(bio_only, modalities=[("bio",)], fusion=())) == 2 * 2 * 4 * 3


# ------------------------------------------------------------------------------ the known answer
#: Seeds the book and the tests report use (tests run the book with seed 1).
REPORTED_SEEDS = (1,)
#: Development seeds, run as well with ``EMOLAB_DEV_SEEDS=1``.
DEV_SEEDS = (100, 101, 102)
SEEDS = REPORTED_SEEDS + (DEV_SEEDS if os.environ.get("EMOLAB_DEV_SEEDS") else ())


def _control_gap(seed: int, **knobs) -> dict:
    """The baseline's paired per-subject gap, segment k-fold minus trial-kfold, on arousal, on the
    bio-only synthetic control (every trial signature off, SIGNATURE_SOURCES' 'none') and ``knobs``."""
    profile = ex.grids("control")[0].profile("smoke")
    assert (profile.baseline, profile.normalize) == (False, "train_fold")
    data = ex.prepare_segments(None, profile=profile, seed=seed, modalities=("bio",), verbose="ERROR",
                               **{**ex.NO_SIGNATURE_KNOBS, "face_subjects": 0, **knobs})  # fmt: skip
    rows = an.feature_baseline(data, modalities=[("bio",)], tasks=["arousal"], n_splits=profile.n_splits, seed=seed)
    gaps = ex.paired_gaps(rows, leaky="paper-segment-kfold")
    assert len(gaps) == 1 and gaps["n_subjects"].item() == len(data.subjects)
    return gaps.iloc[0].to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_the_fingerprint_alone_opens_the_baselines_gap(seed):
    """The control with the generator's trial fingerprint on: segment k-fold can name the trial
    and copy its label, trial-kfold cannot, so the paired gap's interval lies above 0."""
    g = _control_gap(seed, fingerprint=1.0)
    print(f"seed {seed}: fingerprint gap {g['gap']:+.3f} [{g['gap_low']:+.3f}, {g['gap_high']:+.3f}]")
    assert g["gap_low"] > 0.0


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_without_any_signature_the_baselines_gap_contains_zero(seed):
    """The control with every trial-constant source off, the emotion included: the paired gap
    between segment k-fold and trial-kfold has an interval that contains 0.

    The emotion is constant within a trial too (the generator drives a trial's signals with its
    latent rating), so with it left in, segment k-fold can still place a trial rated near the
    threshold on the side its own training segments show; only without it is a zero gap true by
    construction."""
    g = _control_gap(seed, physio_arousal=0.0, physio_valence=0.0)
    print(f"seed {seed}: control gap {g['gap']:+.3f} [{g['gap_low']:+.3f}, {g['gap_high']:+.3f}]")
    assert g["gap_low"] <= 0.0 <= g["gap_high"]


def test_bio_gap_is_the_audits_statistics_probe():
    """On bio alone under the per-subject protocols the baseline is chapter 09's "statistics +
    logistic regression" probe (:func:`emolab.analysis.input_signature`): the same features,
    folds and regression, hence the same paired gap."""
    data = _FakeDataset(modalities=("bio",), seed=3)
    rows = an.feature_baseline(data, modalities=[("bio",)], tasks=["arousal"], seed=2)
    gap = ex.paired_gap(rows, leaky="paper-segment-kfold")
    probe = an.input_signature(data, task="arousal", n_splits=3, seed=2).probes[0]
    assert probe.name == "statistics + logistic regression"
    assert (gap["gap"], gap["gap_low"], gap["gap_high"]) == pytest.approx((probe.gap, probe.gap_low, probe.gap_high))


def test_with_the_validation_split_the_baseline_fits_on_the_deep_cells_fit_rows(fake):
    """``val_fraction``: the baseline leaves out exactly the rows run_fold holds out for validation,
    so it fits on as many rows as the deep cell of the same fold."""
    from emolab.train.protocols import make_labels, validation_split

    prof = ex.get_profile("smoke", n_splits=3)
    rows = an.feature_baseline(fake, protocols=ALL_PROTOCOLS, val_fraction=prof.val_fraction, fusion=("concat",))
    cells = ex.grid_cells(fake, models=["safavi"], modalities=ALL_SETS, tasks=["valence", "arousal"],
                          protocols=ALL_PROTOCOLS, profile=prof, seed=0, device="cpu")  # fmt: skip
    meta = fake.metadata
    for cell in cells:
        cell_meta = meta[meta["subject"].isin(cell.data["kwargs"]["subjects"])].reset_index(drop=True)
        fold = cell_fold(cell, cell_meta)
        train = np.asarray(fold.train_idx)
        if cell.modalities == ("face",):
            train = train[cell_meta["has_face"].to_numpy(bool)[train]]
        config = cell.train_config()
        grouping = get_protocol(cell.protocol).disjoint or "segment"
        fit, val = validation_split(cell_meta, train, grouping=grouping, val_fraction=config.val_fraction,
                                    labels=make_labels(cell_meta, task=cell.task), seed=config.seed)  # fmt: skip
        model = "features" if len(cell.modalities) == 1 else "features (concat)"
        prefix = _prefix(model, cell.modalities, cell.task, cell.protocol, cell.subject, cell.fold)
        mine = rows[rows["cell_id"].str.startswith(prefix)]
        assert len(mine) and (mine["n_train"] == len(fit)).all() and (mine["n_val"] == len(val)).all(), prefix
    assert (rows["n_val"] > 0).all()
