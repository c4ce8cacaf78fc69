"""Chapter 10's remedies for modality imbalance, on a constructed two-modality problem whose answer
is known: the face carries the label weakly (informative, slow to fit), the physiological signal
carries a loud pattern unique to each trial and nothing about the label (a distractor that is
memorised fast and generalises to no new trial)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from emolab.models.fusion import ConcatFusion
from emolab.models.multimodal import ModelOutput, MultimodalModel
from emolab.train import balance, sweep
from emolab.train.config import AugmentConfig, BalanceConfig, TrainConfig
from emolab.train.protocols import Fold, make_folds, make_labels
from emolab.train.trainer import Trainer, seed_everything
from emolab.train.balance import (
    BranchProbes,
    GradientModulation,
    blending_weights,
    encoder_param_groups,
    inner_split,
    mix,
    mixing_weight,
)

C, L, T, HW, D = 4, 16, 2, 8, 8


class Imbalanced(Dataset):
    """One subject, ``n_trials`` trials of ``n_segments`` segments; labels alternate by trial."""

    def __init__(self, n_trials=16, n_segments=6, seed=0):
        rng = np.random.default_rng(seed)
        rows, bio, face = [], [], []
        for t in range(1, n_trials + 1):
            y = t % 2
            pattern = 3.0 * rng.normal(size=(C, L))  # the trial's own pattern, unrelated to y
            for g in range(n_segments):
                bio.append((pattern + 0.1 * rng.normal(size=(C, L))).astype(np.float32))
                shade = 0.5 + 0.03 * (2 * y - 1) + 0.03 * rng.normal()  # the face says y, faintly
                f = shade + 0.05 * rng.normal(size=(T, 3, HW, HW))
                face.append(np.clip(f, 0, 1).astype(np.float32))
                rows.append({"subject": 1, "trial": t, "experiment_id": t, "segment": g, "has_face": True,
                             "valence": 7.0 if y else 3.0, "arousal": 5.0})
        self.metadata = pd.DataFrame(rows)
        self.bio, self.face = torch.from_numpy(np.stack(bio)), torch.from_numpy(np.stack(face))
        self.labels = torch.tensor((self.metadata[["valence", "arousal"]].to_numpy() >= 5), dtype=torch.float32)

    def __len__(self):
        return len(self.metadata)

    def __getitem__(self, i):
        r = self.metadata.iloc[i]
        return {"bio": self.bio[i], "face": self.face[i], "labels": self.labels[i], "has_face": True,
                **{k: int(r[k]) for k in ("subject", "trial", "experiment_id", "segment")}}


class FaceEncoder(nn.Module):
    n_features, n_frames, image_size = D, T, HW

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, D)

    def forward(self, x):  # (B, T, 3, HW, HW) -> (B, D)
        return self.lin(10 * (x.mean(dim=(1, 3, 4)) - 0.5))


class BioEncoder(nn.Module):
    n_features, n_chans, n_times = D, C, L

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(C * L, D)

    def forward(self, x):  # (B, C, L) -> (B, D)
        return self.lin(x.flatten(1))


def build(modalities=("face", "bio"), **kwargs):
    face = FaceEncoder() if "face" in modalities else None
    bio = BioEncoder() if "bio" in modalities else None
    widths = [D] * len(tuple(modalities))
    return MultimodalModel(face, bio, ConcatFusion(widths, hidden=(8,), dropout=0.2), **kwargs)


def config(**kw):
    base = dict(task="valence", modalities=("face", "bio"), batch_size=16, epochs=8, lr=1e-2, keep="last",
                val_fraction=0.15, progress=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data():
    ds = Imbalanced()
    meta = ds.metadata
    y = make_labels(meta, task="valence")
    fold = make_folds(meta, "trial-kfold", task="valence", n_splits=4, seed=0, labels=y)[0]
    return ds, meta, y, fold


# ------------------------------------------------------------------------------------ probes
def _train(ds, cfg, rows, probes=None, checkpoint_dir=None, callbacks=(), **model_kw):
    seed_everything(cfg.seed)
    model = build(cfg.modalities, **model_kw)
    subset, fit_set = sweep.fold_subsets(ds, make_labels(ds.metadata, task="valence"), cfg, rows)
    trainer = Trainer(model, cfg, observers=[probes] if probes else [], checkpoint_dir=checkpoint_dir,
                      callbacks=callbacks)  # fmt: skip
    hist = trainer.fit(fit_set, subset(rows[:6]))
    return model, hist


def test_probes_change_nothing_in_the_training(data):
    ds, meta, y, fold = data
    # every random stream of a training in use: head dropout, modality dropout, augmentation
    cfg = config(epochs=3, augment=AugmentConfig(bio_noise=True, bio_scale=True))
    kw = dict(modality_dropout=0.3)
    plain, h1 = _train(ds, cfg, fold.train_idx, **kw)
    watched, h2 = _train(ds, cfg, fold.train_idx, BranchProbes(("face", "bio")), **kw)
    for a, b in zip(plain.state_dict().values(), watched.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]
    assert {"probe_face_train_loss", "probe_bio_val_accuracy"} <= set(h2[-1])


def test_probes_are_recorded_before_the_checkpoint(data, tmp_path):
    ds, meta, y, fold = data
    cfg = config(epochs=2)

    class Kill(Exception):
        pass

    def kill(trainer, rec):
        raise Kill

    with pytest.raises(Kill):
        _train(ds, cfg, fold.train_idx, BranchProbes(("face", "bio")), checkpoint_dir=tmp_path, callbacks=[kill])
    saved = torch.load(tmp_path / "last.pt", weights_only=False)["history"]
    assert len(saved) == 1 and np.isfinite(saved[0]["probe_bio_val_loss"])
    probes = BranchProbes(("face", "bio"))
    probes.fitted = {2: {"face": None, "bio": None}}
    probes._eval = {"face": [np.zeros((3, D))], "bio": [np.zeros((3, D))]}
    assert np.isnan(probes.predict(1)["probe_face"]).all()  # a probe not kept is NaN, never another epoch's
    with pytest.raises(ValueError, match="features"):
        probes.batch(True, None, torch.zeros(3))


def test_probes_show_which_branch_memorises(data):
    ds, meta, y, fold = data
    out = sweep.run_fold(build(), ds, meta, fold, config(), labels=y)
    last = out.history.iloc[-1]
    # the distractor's features recognise the training trials better and new trials worse than the face's
    assert last["probe_bio_train_accuracy"] > last["probe_face_train_accuracy"]
    assert last["probe_bio_val_loss"] > last["probe_face_val_loss"]
    assert last["probe_bio_val_accuracy"] < last["probe_bio_train_accuracy"]
    assert out.predictions[["probe_face", "probe_bio"]].notna().all().all()
    assert len(out.predictions) == len(fold.test_idx)


# ------------------------------------------------------------------------------ late ensemble
def test_late_ensemble_weight_goes_to_the_informative_modality_from_training_trials_only(data, monkeypatch):
    ds, meta, y, fold = data
    seen = {}
    real = balance.mixing_weight

    def spy(p_face, p_bio, yy, **kw):
        seen["y"] = np.asarray(yy)
        return real(p_face, p_bio, yy, **kw)

    monkeypatch.setattr(sweep, "mixing_weight", spy)
    cfg = config(balance=BalanceConfig(method="late ensemble"))
    out = sweep.run_balanced_fold(build, ds, meta, fold, cfg, labels=y)
    weight = out.history["mix_weight_face"].iloc[0]
    assert weight > 0.5
    _, held = inner_split(meta, fold.train_idx, labels=y, fraction=0.25, seed=cfg.seed)
    assert set(held) <= set(fold.train_idx) and not set(held) & set(fold.test_idx)
    assert np.array_equal(seen["y"], y[held])
    assert {"logits_face", "logits_bio"} <= set(out.predictions.columns)
    np.testing.assert_allclose(out.predictions["y_score"],
                               mix(torch.sigmoid(torch.tensor(out.predictions["logits_face"].to_numpy())).numpy(),
                                   torch.sigmoid(torch.tensor(out.predictions["logits_bio"].to_numpy())).numpy(),
                                   weight), atol=1e-5)


def test_late_ensemble_reuses_finished_members(data):
    ds, meta, y, fold = data
    cfg = config(balance=BalanceConfig(method="late ensemble"))
    fresh = sweep.run_balanced_fold(build, ds, meta, fold, cfg, labels=y)
    members = {}
    for m in ("face", "bio"):
        seed_everything(cfg.seed)
        members[m] = sweep.run_fold(build((m,)), ds, meta, fold, cfg.replace(modalities=(m,), balance=None),
                                    labels=y).predictions
    reused = sweep.run_balanced_fold(build, ds, meta, fold, cfg, labels=y, members=members)
    np.testing.assert_allclose(fresh.predictions["y_score"], reused.predictions["y_score"], atol=1e-6)
    assert set(fresh.history["stage"]) > set(reused.history["stage"])


def test_mixing_weight_prefers_the_right_model_and_mix_falls_back_to_bio():
    y = np.array([1, 0, 1, 0, 1, 0])
    good, bad = np.where(y == 1, 0.8, 0.2), np.full(6, 0.5)
    w, table = mixing_weight(good, bad, y)
    assert w == 1.0 and len(table) == 11 and table["loss"].idxmin() == 10
    assert mixing_weight(bad, good, y)[0] == 0.0
    assert mix(np.array([np.nan, 1.0]), np.array([0.2, 0.0]), 0.5).tolist() == [0.2, 0.5]


# -------------------------------------------------------------------------- gradient blending
def test_blending_weights_put_less_on_the_overfitting_head():
    rows = []
    for head, (tr, held) in {"fused": ((0.7, 0.5), (0.7, 0.6)), "face": ((0.7, 0.6), (0.7, 0.62)),
                             "bio": ((0.7, 0.05), (0.7, 0.69))}.items():  # fmt: skip
        rows += [{"epoch": e, "head": head, "train_loss": tr[e], "held_loss": held[e]} for e in (0, 1)]
    w = blending_weights(pd.DataFrame(rows))
    assert math.isclose(sum(w.values()), 1.0)
    assert w["bio"] < w["face"] and w["bio"] < w["fused"]
    lazy = pd.DataFrame([{"epoch": e, "head": h, "train_loss": 0.7 - 0.1 * e * (h == "face"),
                          "held_loss": 0.7 + (0.2 if h == "fused" else -0.1) * e} for h in ("fused", "face") for e in (0, 1)])
    assert blending_weights(lazy)["fused"] == 0.01  # the head the model answers through still trains
    worse = pd.DataFrame([{"epoch": e, "head": h, "train_loss": 0.5, "held_loss": 0.5 + e} for h in ("fused", "bio")
                          for e in (0, 1)])  # fmt: skip
    assert blending_weights(worse) == {"fused": 0.5, "bio": 0.5}


def test_gradient_blending_weighs_the_distractor_less_from_training_trials_only(data, monkeypatch):
    ds, meta, y, fold = data
    asked = []
    real = sweep.fold_subsets

    def spy(dataset, labels, cfg, fit_idx):
        subset, fit_set = real(dataset, labels, cfg, fit_idx)
        asked.append(np.asarray(fit_idx))

        def recording(idx):
            asked.append(np.asarray(idx))
            return subset(idx)

        return recording, fit_set

    monkeypatch.setattr(sweep, "fold_subsets", spy)
    class Stop(Exception):
        pass

    def main_training(*args, loss_weights, **kwargs):
        raise Stop(loss_weights)

    monkeypatch.setattr(sweep, "run_fold", main_training)
    cfg = config(balance=BalanceConfig(method="gradient blending"))
    with pytest.raises(Stop) as stop:
        sweep.run_balanced_fold(lambda m, **k: build(m, auxiliary_heads=True), ds, meta, fold, cfg, labels=y)
    weights = stop.value.args[0]
    assert weights["bio"] < weights["face"] and weights["fused"] >= 0.01
    assert asked and all(set(a) <= set(fold.train_idx) for a in asked)  # the pilot never saw the test fold


def test_gradient_blending_trains_with_its_weights(data):
    ds, meta, y, fold = data
    cfg = config(epochs=2, balance=BalanceConfig(method="gradient blending", pilot_epochs=2))
    out = sweep.run_balanced_fold(lambda m, **k: build(m, auxiliary_heads=True), ds, meta, fold, cfg, labels=y)
    assert list(out.history["stage"].unique()) == ["pilot", "train"]
    assert math.isclose(sum(out.history.iloc[0][[f"blend_weight_{h}" for h in balance.HEADS]]), 1.0)
    with pytest.raises(ValueError, match="auxiliary_heads=True"):
        sweep.run_balanced_fold(build, ds, meta, fold, cfg, labels=y)


# ----------------------------------------------------------------------------------- OGM-GE
def test_modulation_coefficients_follow_the_papers_equation():
    model = build(("face", "bio"))
    opt = torch.optim.Adam(encoder_param_groups(model), lr=1e-3)
    mod = GradientModulation(model, opt, lr=1e-3, alpha=0.8, noise=False, seed=0)
    y = torch.ones(4)
    out = ModelOutput(torch.zeros(4, 1), features={"face": torch.zeros(4, D), "bio": torch.zeros(4, D)})
    model.alone = lambda f: {"face": torch.full((4, 1), 0.0), "bio": torch.full((4, 1), 2.0)}  # bio leads
    c = mod.coefficients(out, y)
    rho_bio = (4 * torch.sigmoid(torch.tensor(2.0)) / 2.0).item()
    assert c["face"] == 1.0 and math.isclose(c["bio"], 1 - math.tanh(0.8 * rho_bio), rel_tol=1e-5)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    mod.after_backward(out, y)
    assert opt.param_groups[0]["lr"] == 1e-3 and math.isclose(opt.param_groups[1]["lr"], 1e-3 * c["bio"])
    assert opt.param_groups[2]["lr"] == 1e-3


def test_ogm_lowers_the_leading_distractors_learning_rate(data):
    ds, meta, y, fold = data
    cfg = config(balance=BalanceConfig(method="ogm-ge"))
    out = sweep.run_fold(build(), ds, meta, fold, cfg, labels=y)
    h = out.history
    assert (h["ogm_coeff_bio"] < 1).all() and h["ogm_face_leads"].iloc[-1] < 0.5
    assert h["ogm_coeff_bio"].iloc[-1] < h["ogm_coeff_face"].iloc[-1] == 1.0
    with pytest.raises(ValueError, match="needs a fused model"):
        sweep.run_fold(build(("bio",)), ds, meta, fold, cfg.replace(modalities=("bio",)), labels=y)


def test_ogm_resumed_from_a_checkpoint_ends_as_an_uninterrupted_run(data, tmp_path):
    ds, meta, y, fold = data
    cfg = config(epochs=3, balance=BalanceConfig(method="ogm-ge"))
    full, h_full = _train(ds, cfg, fold.train_idx, checkpoint_dir=tmp_path / "a")

    class Kill(Exception):
        pass

    def kill_after_1(trainer, rec):
        if rec["epoch"] == 1:
            raise Kill

    with pytest.raises(Kill):
        _train(ds, cfg, fold.train_idx, checkpoint_dir=tmp_path / "b", callbacks=[kill_after_1])
    resumed, h_res = _train(ds, cfg, fold.train_idx, checkpoint_dir=tmp_path / "b")
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["ogm_coeff_bio"] for r in h_full] == [r["ogm_coeff_bio"] for r in h_res]


def test_alone_reads_autocast_features_and_leaves_the_gate_as_it_was():
    from emolab.models.fusion import GatedFusion

    model = MultimodalModel(FaceEncoder(), BioEncoder(), GatedFusion([D, D], hidden=(8,), dropout=0.0))
    x = Imbalanced(n_trials=2, n_segments=2)
    model(face=x.face, bio=x.bio)
    gate = model.fusion.last_gate.clone()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(face=x.face, bio=x.bio, return_branches=True)
    assert out.features["face"].dtype == torch.bfloat16
    model.fusion.last_gate = gate
    alone = model.alone(out.features)
    assert alone["face"].dtype == torch.float32 and torch.equal(model.fusion.last_gate, gate)
    # a head that reads only the face: the face alone answers as the whole model, the bio alone does not
    model.fusion = ConcatFusion([D, D], hidden=(4,), dropout=0.0)
    with torch.no_grad():
        model.fusion.classifier[0].weight[:, D:] = 0
    full = model(face=x.face, bio=x.bio, return_branches=True)
    alone = model.alone(full.features)
    assert torch.allclose(alone["face"], full.logits, atol=1e-6) and not torch.allclose(alone["bio"], full.logits)


# --------------------------------------------------------------------------- modality dropout
def test_modality_dropout_drops_at_the_stated_rate():
    torch.manual_seed(0)
    model = build(modality_dropout=0.3).train()
    seen = {}
    model.fusion.register_forward_pre_hook(lambda mod, args: seen.update(feats=args[0]))
    x = Imbalanced(n_trials=2, n_segments=1)
    n = 20_000
    model(face=x.face[:1].expand(n, -1, -1, -1, -1), bio=x.bio[:1].expand(n, -1, -1))
    zero = [(f.abs().sum(dim=1) == 0).float().mean().item() for f in seen["feats"]]
    assert all(abs(z - 0.15) < 0.01 for z in zero)  # each modality dropped on half the dropped share
    model.eval()
    model(face=x.face[:1].expand(100, -1, -1, -1, -1), bio=x.bio[:1].expand(100, -1, -1))
    assert all((f.abs().sum(dim=1) > 0).all() for f in seen["feats"])
