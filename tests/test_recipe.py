"""The recipe search: it never opens a test fold, it refuses reported seeds, it chooses as documented,
and the CI profile's recipe is the one the committed evidence chooses."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import emolab.experiments as ex
from emolab.experiments import recipe
from emolab.train.protocols import make_folds, make_labels

EVIDENCE = Path(__file__).resolve().parents[1] / "book" / "recipe_search"


def _meta(n_subjects=3, n_trials=12, n_segments=4):
    rng = np.random.default_rng(0)
    rows = [{"subject": s, "trial": t, "experiment_id": t, "segment": k, "has_face": True,
             "valence": float(rng.uniform(1, 9)) if k == 0 else np.nan, "arousal": 9.0 - (t % 9)}
            for s in range(1, n_subjects + 1) for t in range(1, n_trials + 1) for k in range(n_segments)]  # fmt: skip
    meta = pd.DataFrame(rows)
    meta["valence"] = meta.groupby(["subject", "trial"])["valence"].transform("first")
    return meta


@pytest.mark.parametrize("task", ["valence", "arousal"])
def test_development_folds_hold_only_the_outer_training_trials(task):
    meta = _meta()
    outer = {(f.subject, f.fold): f for f in make_folds(meta, "trial-kfold", task=task, n_splits=3, seed=5,
                                                        labels=make_labels(meta, task=task))}  # fmt: skip
    dev = recipe.development_folds(meta, task=task, n_splits=3, seed=5)
    assert {(f.subject, f.fold) for f in dev} == set(outer)
    trial = meta["subject"].to_numpy() * 1000 + meta["trial"].to_numpy()
    for f in dev:
        o = outer[(f.subject, f.fold)]
        used = np.union1d(f.train_idx, f.test_idx)
        assert np.array_equal(used, np.sort(o.train_idx))  # exactly the outer training rows
        assert not np.intersect1d(used, o.test_idx).size  # never a test row
        assert not np.intersect1d(trial[f.train_idx], trial[f.test_idx]).size  # held out by trial
        share = len(np.unique(trial[f.test_idx])) / len(np.unique(trial[used]))
        assert 0 < share <= 0.5
    assert len(recipe.development_folds(meta, task=task, n_splits=3, seed=5, max_folds=1)) == 3


def test_the_search_hands_training_only_the_outer_training_rows(monkeypatch):
    """The search, run end to end with the training replaced by a spy: every row a training sees,
    is scored on, or is given for its per-epoch score, is a training row of an outer fold."""
    import emolab.store.dataset as store_dataset
    from emolab import models
    from emolab.experiments import segments
    from emolab.train import sweep

    meta = _meta()
    data = SimpleNamespace(metadata=meta, subjects=[1, 2, 3])
    monkeypatch.setattr(segments, "prepare_segments", lambda *a, **k: data)
    monkeypatch.setattr(store_dataset, "segment_shapes", lambda d: {})
    monkeypatch.setattr(models, "build_model", lambda *a, **k: None)
    seen = []

    def spy(model, dataset, metadata, fold, config, *, labels=None, score_each_epoch=None, **_):
        seen.append((config.task, fold, np.asarray(score_each_epoch)))
        hist = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.7, 0.6], "scored_accuracy": [0.5, 0.6],
                             "scored_loss": [0.7, 0.65]})  # fmt: skip
        return SimpleNamespace(history=hist, metrics={"accuracy": 0.6})

    monkeypatch.setattr(sweep, "run_fold", spy)
    curves = ex.search_recipe(seeds=[100], candidates=["plain", "augmented"], models=["safavi"],
                              modalities=[("bio",)], tasks=["valence", "arousal"], epochs=2, max_folds=None,
                              n_jobs=1)  # fmt: skip
    assert len(seen) == 2 * 2 * 3 * 3  # candidates x tasks x subjects x folds
    assert set(curves["held_out_accuracy"]) == {0.5, 0.6}
    for task, fold, scored in seen:
        outer = next(o for o in make_folds(meta, "trial-kfold", task=task, n_splits=3, seed=100,
                                       labels=make_labels(meta, task=task))
                 if (o.subject, o.fold) == (fold.subject, fold.fold))  # fmt: skip
        for rows in (fold.train_idx, fold.test_idx, scored):
            assert np.isin(rows, outer.train_idx).all() and not np.isin(rows, outer.test_idx).any()


def test_the_search_refuses_the_reported_seeds_and_unknown_candidates():
    with pytest.raises(ValueError, match="development seeds"):
        ex.search_recipe(seeds=[100, 1])
    with pytest.raises(ValueError, match="development seeds"):
        ex.search_recipe(seeds=[0])
    with pytest.raises(KeyError, match="known"):
        ex.search_recipe(seeds=[100], candidates=["mixup"])
    assert min(recipe.DEV_SEEDS) >= 100


def _curves(scores: dict) -> pd.DataFrame:
    """Curves with one subject per (model, candidate, epoch): ``{(model, candidate, epoch): accuracy}``."""
    rows = [{"seed": 100, "candidate": c, "model": m, "modalities": "bio", "task": "valence", "subject": 1,
             "fold": 0, "epoch": e, "held_out_accuracy": a} for (m, c, e), a in scores.items()]  # fmt: skip
    return pd.DataFrame(rows)


def test_choose_recipe_picks_one_normalisation_then_each_models_best_epoch_fewest_on_ties():
    scores = {("safavi", "plain", 1): 0.60, ("safavi", "plain", 2): 0.70, ("safavi", "plain", 3): 0.70,
              ("safavi", "augmented", 2): 0.65,
              ("safavi", "plain, train-fold scaling", 2): 0.72,  # safavi alone would take train-fold
              ("gbvnet", "plain", 4): 0.66, ("gbvnet", "augmented", 5): 0.69,
              ("gbvnet", "plain, train-fold scaling", 5): 0.55}  # fmt: skip
    got = recipe.choose_recipe(_curves(scores))
    assert {m: (c["candidate"], c["normalize"], c["epochs"]) for m, c in got.items()} == {
        "safavi": ("plain", "baseline_std", 2), "gbvnet": ("augmented", "baseline_std", 5)}
    assert got["gbvnet"]["held_out_accuracy"] == pytest.approx(0.69)
    train = recipe.model_train({m: {k: v for k, v in c.items()} for m, c in got.items()})
    assert train["safavi"] == {"epochs": 2}
    assert train["gbvnet"]["augment"] == recipe.GBVNET_AUGMENTATIONS and train["gbvnet"]["epochs"] == 5


def test_the_ci_profiles_recipe_is_the_one_the_committed_evidence_chooses():
    curves = pd.read_csv(EVIDENCE / "curves.csv")
    saved = json.loads((EVIDENCE / "choice.json").read_text())
    # the evidence is what benchmarks/choose_recipe.py writes with the module's settings
    assert set(curves["seed"]) == set(recipe.DEV_SEEDS) == set(saved["seeds"])
    assert set(curves["candidate"]) == set(recipe.CANDIDATES) == set(saved["candidates"])
    assert int(curves["epoch"].max()) == recipe.MAX_EPOCHS == saved["epochs"]
    chosen = recipe.choose_recipe(curves)
    assert {m: {k: v for k, v in c.items() if k != "held_out_accuracy"} for m, c in chosen.items()} == recipe.CHOSEN
    assert {m: {k: v for k, v in c.items() if k != "held_out_accuracy"}
            for m, c in saved["choice"].items()} == recipe.CHOSEN  # fmt: skip
    smoke = ex.get_profile("smoke")
    assert smoke.model_train == recipe.model_train() and smoke.normalize == recipe.chosen_normalize()
    # the same settings for every modality set and protocol of an architecture
    for model in recipe.CHOSEN:
        settings = [smoke.train_settings(model, fused=f, protocol=p)
                    for f in (False, True) for p in ("paper-segment-kfold", "trial-kfold", "loso")]  # fmt: skip
        assert all(s == settings[0] for s in settings)
