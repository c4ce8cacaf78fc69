"""The trainer: learns, is reproducible, resumes exactly, keeps the test fold out of training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from emolab.train.augment import augment_bio, augment_face
from emolab.train.config import AugmentConfig, TrainConfig
from emolab.train.device import resolve_device, resolve_precision
from emolab.train.protocols import get_protocol, make_folds, trial_groups
from emolab.train.sweep import run_fold
from emolab.train.batches import InMemorySegments
from emolab.train.trainer import TIMING_KEYS, Trainer, WithTargets, seed_everything

C, L, T, HW = 4, 16, 2, 8


class ToySegments(Dataset):
    """Items shaped like the segment store's, small: valence is carried by the bio channel 0 mean
    and by the face brightness; each trial adds its own fingerprint."""

    def __init__(self, n_subjects=2, n_trials=8, n_segments=6, seed=0, noise=0.5):
        rng = np.random.default_rng(seed)
        rows, bio, face = [], [], []
        for s in range(1, n_subjects + 1):
            for t in range(1, n_trials + 1):
                val = 7.0 if t % 2 else 3.0
                aro = float(rng.uniform(1, 9))
                finger = rng.normal(size=(C, 1))
                for g in range(n_segments):
                    x = finger + noise * rng.normal(size=(C, L))
                    x[0] += 1.0 if val >= 5 else -1.0
                    bio.append(x.astype(np.float32))
                    f = np.full((T, 3, HW, HW), 0.7 if val >= 5 else 0.3) + 0.1 * rng.normal(size=(T, 3, HW, HW))
                    face.append(np.clip(f, 0, 1).astype(np.float32))
                    rows.append({"subject": s, "trial": t, "experiment_id": t, "segment": g,
                                 "has_face": True, "valence": val, "arousal": aro})
        self.metadata = pd.DataFrame(rows)
        self.bio, self.face = torch.from_numpy(np.stack(bio)), torch.from_numpy(np.stack(face))
        self.ratings = torch.tensor(self.metadata[["valence", "arousal"]].to_numpy(), dtype=torch.float32)
        self.ints = self.metadata[["subject", "trial", "experiment_id", "segment"]].to_numpy()
        self.accessed: list[int] = []

    def __len__(self):
        return len(self.metadata)

    def __getitem__(self, i):
        self.accessed.append(int(i))
        subject, trial, exp_id, segment = (int(v) for v in self.ints[i])
        return {
            "bio": self.bio[i], "face": self.face[i], "has_face": bool(self.metadata["has_face"].iat[i]),
            "labels": (self.ratings[i] >= 5).float(), "ratings": self.ratings[i], "subject": subject,
            "trial": trial, "experiment_id": exp_id, "segment": segment,
        }


class ToyModel(nn.Module):
    """Linear bio branch + mean-colour face branch, with dropout (exercises the RNG state)."""

    def __init__(self, modalities=("face", "bio"), n_chans=C, n_times=L, hidden=16, **_):
        super().__init__()
        self.modalities = tuple(modalities)
        self.bio = nn.Linear(n_chans * n_times, hidden)
        self.face = nn.Linear(3, hidden)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(hidden, 1)

    def forward(self, face=None, bio=None):
        assert (face is not None) == ("face" in self.modalities)
        assert (bio is not None) == ("bio" in self.modalities)
        h = 0
        if bio is not None:
            h = h + self.bio(bio.flatten(1))  # (B, C, L) -> (B, C*L) -> (B, hidden)
        if face is not None:
            h = h + self.face(10 * (face.mean(dim=(1, 3, 4)) - 0.5))  # (B, T, 3, H, W) -> (B, 3) -> (B, hidden)
        return self.head(self.drop(torch.relu(h)))  # (B, 1)


def build_toy(name, *, modalities=("face", "bio"), **kwargs):
    return ToyModel(modalities=modalities, **kwargs)


def strip_timings(history):
    """A history without its time measurements (they differ between identical runs)."""
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in history]


def _cfg(**kw):
    base = dict(task="valence", modalities=("bio",), batch_size=16, epochs=6, patience=10,
                lr=1e-2, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def _fit(config, ds, train_idx, val_idx=None, checkpoint_dir=None, callbacks=()):
    seed_everything(config.seed)
    model = ToyModel(modalities=config.modalities)
    tr = Trainer(model, config, checkpoint_dir=checkpoint_dir, callbacks=callbacks, verbose=False)
    hist = tr.fit(Subset(ds, list(train_idx)), None if val_idx is None else Subset(ds, list(val_idx)))
    return tr, hist


def test_overfits_a_tiny_set():
    ds = ToySegments(n_subjects=1, n_trials=4, n_segments=4)
    tr, hist = _fit(_cfg(epochs=60, val_fraction=0.0, batch_size=8), ds, range(len(ds)))
    assert len(hist) == 60 and tr.best_epoch == 60
    assert hist[-1]["train_loss"] < 0.05 < hist[0]["train_loss"]
    assert tr.evaluate(ds)["accuracy"] == 1.0


@pytest.mark.parametrize("modalities", [("bio",), ("face",), ("face", "bio")])
def test_each_modality_set_learns(modalities):
    ds = ToySegments()
    tr, _ = _fit(_cfg(modalities=modalities, epochs=15), ds, range(0, len(ds), 2))
    assert tr.evaluate(Subset(ds, list(range(1, len(ds), 2))))["accuracy"] > 0.8


def test_same_seed_same_result_different_seed_differs():
    ds = ToySegments()
    aug = AugmentConfig.all_on()
    cfg = _cfg(modalities=("face", "bio"), augment=aug)
    a, ha = _fit(cfg, ds, range(48), range(48, 64))
    b, hb = _fit(cfg, ds, range(48), range(48, 64))
    c, hc = _fit(cfg.replace(seed=1), ds, range(48), range(48, 64))
    assert strip_timings(ha) == strip_timings(hb)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert a.evaluate(ds) == b.evaluate(ds)
    assert [h["train_loss"] for h in ha] != [h["train_loss"] for h in hc]


def test_worker_processes_do_not_change_results():
    ds = ToySegments(n_subjects=1)
    _, h0 = _fit(_cfg(epochs=2), ds, range(32), range(32, 48))
    _, h1 = _fit(_cfg(epochs=2, num_workers=1), ds, range(32), range(32, 48))
    keys = ("train_loss", "val_loss", "val_accuracy")
    assert [[h[k] for k in keys] for h in h0] == [[h[k] for k in keys] for h in h1]


class _Kill(Exception):
    pass


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    ds = ToySegments()
    cfg = _cfg(modalities=("face", "bio"), augment=AugmentConfig.all_on(), epochs=5)
    full, hist_full = _fit(cfg, ds, range(48), range(48, 64), checkpoint_dir=tmp_path / "a")

    def kill_after_2(trainer, rec):
        if rec["epoch"] == 2:
            raise _Kill

    with pytest.raises(_Kill):
        _fit(cfg, ds, range(48), range(48, 64), checkpoint_dir=tmp_path / "b", callbacks=[kill_after_2])
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    # a fresh process would re-seed and rebuild the model with other weights: resuming must
    # overwrite them (and the RNG) from the checkpoint
    torch.manual_seed(1234)
    resumed = Trainer(ToyModel(modalities=cfg.modalities), cfg, checkpoint_dir=tmp_path / "b", verbose=False)
    hist_res = resumed.fit(Subset(ds, list(range(48))), Subset(ds, list(range(48, 64))))
    assert strip_timings(hist_res) == strip_timings(hist_full)
    assert resumed.best_epoch == full.best_epoch
    for va, vb in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(va, vb)
    assert resumed.evaluate(Subset(ds, list(range(64, 96)))) == full.evaluate(Subset(ds, list(range(64, 96))))


def test_finished_checkpoint_is_not_retrained_and_other_config_refused(tmp_path):
    ds = ToySegments(n_subjects=1)
    cfg = _cfg(epochs=2)
    _fit(cfg, ds, range(32), range(32, 48), checkpoint_dir=tmp_path)
    again, hist = _fit(cfg, ds, range(32), range(32, 48), checkpoint_dir=tmp_path)
    assert len(hist) == 2  # loaded, not run again
    with pytest.raises(ValueError, match="another configuration"):
        _fit(cfg.replace(lr=0.5), ds, range(32), range(32, 48), checkpoint_dir=tmp_path)


def test_early_stopping_keeps_best_validation_epoch():
    ds = ToySegments(n_subjects=1)
    tr, hist = _fit(_cfg(lr=0.0, epochs=20, patience=3), ds, range(32), range(32, 48))
    # nothing changes with lr 0: epoch 1 stays best and training stops after `patience` more
    assert len(hist) == 4 and tr.best_epoch == 1
    tr2, hist2 = _fit(_cfg(epochs=8, patience=2, monitor="val_balanced_accuracy"), ds, range(32), range(32, 48))
    best = max(range(len(hist2)), key=lambda i: (hist2[i]["val_balanced_accuracy"], -i))
    assert tr2.best_epoch == best + 1


def test_model_output_shapes():
    ds = ToySegments(n_subjects=1, n_trials=2, n_segments=4)

    class Flat(ToyModel):
        def forward(self, face=None, bio=None):
            return super().forward(face=face, bio=bio)[:, 0]  # (B,)

    class Bad(ToyModel):
        def forward(self, face=None, bio=None):
            return super().forward(face=face, bio=bio).repeat(1, 2)  # (B, 2)

    cfg = _cfg(epochs=1, val_fraction=0.0)
    Trainer(Flat(modalities=("bio",)), cfg).fit(ds)
    with pytest.raises(ValueError, match=r"\(B, 1\)"):
        Trainer(Bad(modalities=("bio",)), cfg).fit(ds)


def test_balanced_pos_weight_and_targets_override():
    ds = ToySegments(n_subjects=1)
    flipped = 1 - (ds.metadata["valence"].to_numpy() >= 5).astype(int)
    wt = WithTargets(ds, flipped)
    cfg = _cfg(epochs=15, pos_weight="balanced", val_fraction=0.0)
    seed_everything(0)
    tr = Trainer(ToyModel(modalities=("bio",)), cfg)
    tr.fit(Subset(wt, list(range(0, 48, 2))))
    assert tr._pos_weight == pytest.approx(1.0)
    # learned the overridden (flipped) targets, not item["labels"]
    assert tr.evaluate(Subset(wt, list(range(1, 48, 2))))["accuracy"] > 0.8


def test_run_fold_never_touches_test_fold_before_the_end():
    ds = ToySegments(n_subjects=2, n_trials=8)
    meta = ds.metadata
    fold = make_folds(meta, "trial-kfold", n_splits=4, seed=0)[0]
    seen: list[int] = []
    ds.accessed.clear()
    out = run_fold(ToyModel(modalities=("bio",)), ds, meta, fold, _cfg(epochs=3, val_fraction=0.25),
                   callbacks=[lambda tr, rec: seen.__setitem__(slice(None), ds.accessed)], verbose=False)
    assert not set(seen) & set(fold.test_idx.tolist())
    assert set(ds.accessed[len(seen):]) == set(fold.test_idx.tolist())  # tested once, at the end
    # validation grouped by trial, like the protocol: no trial on both sides
    g = trial_groups(meta)
    used_train = set(seen)
    assert out.n_train + out.n_val == len(fold.train_idx) and out.n_test == len(fold.test_idx)
    assert get_protocol(fold.protocol).disjoint == "trial"
    assert set(g[fold.test_idx]).isdisjoint(g[list(used_train)])
    assert set(out.per_subject) == {fold.subject}
    assert len(out.history) == 3 and list(out.predictions["subject"].unique()) == [fold.subject]


def test_run_fold_face_only_skips_segments_without_face():
    ds = ToySegments(n_subjects=1, n_trials=8)
    ds.metadata.loc[ds.metadata["trial"] == 1, "has_face"] = False
    fold = make_folds(ds.metadata, "paper-segment-kfold", n_splits=4)[0]
    out = run_fold(ToyModel(modalities=("face",)), ds, ds.metadata, fold,
                   _cfg(modalities=("face",), epochs=1), verbose=False)
    no_face = set(np.flatnonzero(~ds.metadata["has_face"].to_numpy()))
    assert out.n_test == len(set(fold.test_idx) - no_face)
    assert out.n_train + out.n_val == len(set(fold.train_idx) - no_face)


# --------------------------------------------------------------------------- augmentations
def test_augmentations_are_seeded_shaped_and_switchable():
    g = torch.Generator().manual_seed(0)
    face = torch.rand(4, 3, 3, 16, 16, generator=g)
    bio = torch.randn(4, 5, 32, generator=g)
    off = AugmentConfig()
    assert torch.equal(augment_face(face, off, generator=torch.Generator()), face)
    assert torch.equal(augment_bio(bio, off, generator=torch.Generator()), bio)
    on = AugmentConfig.all_on()
    f1 = augment_face(face, on, generator=torch.Generator().manual_seed(3))
    f2 = augment_face(face, on, generator=torch.Generator().manual_seed(3))
    assert f1.shape == face.shape and torch.equal(f1, f2)
    assert f1.min() >= 0 and f1.max() <= 1 and not torch.equal(f1, face)
    b1 = augment_bio(bio, on, generator=torch.Generator().manual_seed(3))
    assert b1.shape == bio.shape and torch.equal(b1, augment_bio(bio, on, generator=torch.Generator().manual_seed(3)))


def test_flip_shift_scale_do_what_they_say():
    face = torch.rand(6, 2, 3, 8, 8)
    flipped = augment_face(face, AugmentConfig(face_flip=True, flip_p=1.0), generator=torch.Generator())
    assert torch.equal(flipped, face.flip(-1))
    bio = torch.randn(5, 3, 20)
    shifted = augment_bio(bio, AugmentConfig(bio_time_shift=True, max_shift=4),
                          generator=torch.Generator().manual_seed(1))
    for i in range(5):  # each segment is a circular roll of itself, all channels together
        assert any(torch.equal(shifted[i], bio[i].roll(k, dims=-1)) for k in range(-4, 5))
    scaled = augment_bio(bio, AugmentConfig(bio_scale=True, scale=0.1), generator=torch.Generator())
    ratio = scaled / bio
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio > 0.9 - 1e-6) & (ratio < 1.1 + 1e-6)).all()
    blurred = augment_face(face, AugmentConfig(face_blur=True, blur_p=1.0), generator=torch.Generator())
    assert blurred.std() < face.std()  # blur removes high-frequency variation


def test_config_roundtrip_and_validation():
    cfg = TrainConfig(modalities=["bio"], augment=AugmentConfig.all_on(), seed=3)
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.fingerprint() == cfg.fingerprint()
    assert cfg.replace(lr=0.1).fingerprint() != cfg.fingerprint()
    assert cfg.replace(progress=True).fingerprint() == cfg.fingerprint()
    assert (cfg.lr, cfg.batch_size) == (1e-3, 256)  # the papers' Adam settings
    for bad in (dict(task="dominance"), dict(modalities=("eeg",)), dict(val_fraction=1.0)):
        with pytest.raises(ValueError):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"learning_rate": 1})


def test_device_and_precision():
    dev = resolve_device("auto")
    assert dev.type in ("cpu", "cuda", "mps")
    assert resolve_device("cpu").type == "cpu"
    assert resolve_precision("auto", torch.device("cpu")) is None
    with pytest.raises(ValueError, match="only used on CUDA"):
        resolve_precision("bf16", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            resolve_device("cuda")


def test_in_memory_fold_trains_exactly_like_the_item_path():
    """Gathering a fold into stacked tensors changes speed, not results: same batches, same
    weights, same metrics as the DataLoader over items."""
    ds = ToySegments()
    cfg = _cfg(modalities=("face", "bio"), augment=AugmentConfig.all_on(), epochs=3)
    y = (ds.metadata["valence"].to_numpy() >= 5).astype(np.float32)
    a, ha = _fit(cfg, ds, range(48), range(48, 64))
    seed_everything(cfg.seed)
    b = Trainer(ToyModel(modalities=cfg.modalities), cfg, verbose=False)
    hb = b.fit(InMemorySegments.gather(ds, list(range(48)), targets=y[:48]),
               InMemorySegments.gather(ds, list(range(48, 64)), targets=y[48:64]))
    assert strip_timings(ha) == strip_timings(hb)
    for va, vb in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(va, vb)


def test_uint8_faces_are_converted_on_the_device():
    ds = ToySegments(n_subjects=1)
    fold = InMemorySegments.gather(ds, list(range(8)))
    fold.tensors["face"] = (fold.tensors["face"] * 255).round().to(torch.uint8)
    tr = Trainer(ToyModel(modalities=("face",)), _cfg(modalities=("face",)), verbose=False)
    batch = next(iter(fold.batches(4)))
    x = tr._inputs(batch)["face"]
    assert batch["face"].dtype == torch.uint8 and x.dtype == torch.float32
    assert float(x.max()) <= 1.0 and torch.allclose(x, ds.face[:4], atol=1 / 255)


def test_keep_last_runs_every_epoch_and_keeps_the_last_weights():
    ds = ToySegments()
    tr, hist = _fit(_cfg(epochs=4, patience=1, keep="last"), ds, range(48), range(48, 64))
    assert len(hist) == 4 and tr.best_epoch == 4 and "val_loss" in hist[0]
    with pytest.raises(ValueError, match="keep"):
        _cfg(keep="first")


def test_checkpoint_interval_writes_fewer_checkpoints_and_always_the_last(tmp_path):
    ds = ToySegments()
    _, hist = _fit(_cfg(epochs=4, checkpoint_interval_s=3600.0), ds, range(48), range(48, 64),
                   checkpoint_dir=tmp_path)
    written = [h["epoch"] for h in hist if "checkpoint_seconds" in h]
    assert written == [4]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 4


def test_a_wrapped_fused_model_still_hands_the_trainer_its_branches():
    """A model inside DataParallel (or torch.compile's module) passes its keywords on: the trainer
    asks the wrapped model whether it returns branches, so auxiliary losses are not dropped."""
    from emolab.models import build_model
    from emolab.train.trainer import _takes_return_branches

    model = build_model("safavi", modalities=("face", "bio"), n_chans=4, n_times=32, n_frames=2, image_size=16,
                        auxiliary_heads=True)  # fmt: skip
    assert _takes_return_branches(model) and _takes_return_branches(nn.DataParallel(model))

    class Compiled(nn.Module):  # the attribute torch.compile's OptimizedModule keeps its model in
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

        def forward(self, *args, **kwargs):
            return self._orig_mod(*args, **kwargs)

    assert _takes_return_branches(Compiled(model))
    assert not _takes_return_branches(nn.Linear(2, 1))
