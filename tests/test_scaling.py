"""emolab.train.scaling and TrainConfig(bio_standardize="train_fold"): statistics from the rows a
model is fitted on, the same numbers for every trial, never the test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from emolab.train import TrainConfig
from emolab.train.batches import InMemorySegments
from emolab.train.scaling import ChannelStandardizer, Standardized


def _bio(n=40, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.array([1.0, 10.0, 0.01])[None, :, None]
    level = np.array([0.0, 32.0, 5.0])[None, :, None]
    return (rng.normal(size=(n, 3, 16)) * scale + level).astype(np.float32)


def test_fit_rows_in_chunks_equals_fit_in_one():
    x = _bio()

    class Items:
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"bio": x[i]}

    whole, chunked = ChannelStandardizer.fit(x), ChannelStandardizer.fit_rows(Items(), np.arange(len(x)), chunk=7)
    np.testing.assert_allclose(whole.mean, chunked.mean, rtol=1e-5)
    np.testing.assert_allclose(whole.std, chunked.std, rtol=1e-5)
    z = whole.transform(torch.from_numpy(x))
    np.testing.assert_allclose(z.mean(dim=(0, 2)).numpy(), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(dim=(0, 2), unbiased=False).numpy(), 1.0, atol=1e-4)
    assert isinstance(Standardized(Items(), whole)[0]["bio"], np.ndarray)


def test_flat_channel_and_bad_shapes():
    x = _bio()
    x[:, 2] = 5.0
    s = ChannelStandardizer.fit(x)
    assert s.std[2] == 1.0
    with pytest.raises(ValueError, match="channels"):
        s.transform(np.zeros((2, 4, 16), np.float32))
    with pytest.raises(ValueError, match="shape"):
        ChannelStandardizer.fit(np.zeros((0, 3, 16)))
    with pytest.raises(ValueError, match="bio_standardize"):
        TrainConfig(bio_standardize="per_trial")


@pytest.mark.parametrize("in_memory", [True, False])
def test_run_fold_fits_the_statistics_on_the_fit_rows_only(monkeypatch, in_memory):
    """The scaler sees exactly the rows the model is fitted on (no validation, no test row)."""
    from emolab.train import sweep
    from emolab.train.protocols import make_folds

    n_trials, n_seg = 6, 5
    meta = pd.DataFrame([{"subject": 1, "trial": t, "experiment_id": t, "segment": k, "valence": 2.0 + t,
                          "arousal": 3.0 + t} for t in range(1, n_trials + 1) for k in range(n_seg)])  # fmt: skip
    bio = _bio(len(meta))
    data = InMemorySegments({"bio": torch.from_numpy(bio),
                             "labels": torch.from_numpy(np.stack([meta.valence >= 5, meta.arousal >= 5], 1)
                                                        .astype(np.float32)),
                             "subject": torch.ones(len(meta), dtype=torch.int64),
                             "trial": torch.tensor(meta.trial.to_numpy()),
                             "experiment_id": torch.tensor(meta.trial.to_numpy()),
                             "segment": torch.tensor(meta.segment.to_numpy())})  # fmt: skip
    seen = {}
    fit, fit_rows = ChannelStandardizer.fit, ChannelStandardizer.fit_rows

    def spy_fit(x, **kw):
        seen["x"] = np.asarray(x)
        return fit(x, **kw)

    def spy_rows(dataset, indices, **kw):
        seen["x"] = bio[np.asarray(indices)]
        return fit_rows(dataset, indices, **kw)

    monkeypatch.setattr(sweep.ChannelStandardizer, "fit", staticmethod(spy_fit))
    monkeypatch.setattr(sweep.ChannelStandardizer, "fit_rows", staticmethod(spy_rows))
    fold = make_folds(meta, "trial-kfold", task="valence", n_splits=3, seed=0)[0]

    class Bio(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16, 1))

        def forward(self, face=None, bio=None):
            return self.net(bio).squeeze(-1)

    cfg = TrainConfig(modalities=("bio",), epochs=1, batch_size=8, val_fraction=0.2, device="cpu", progress=False,
                      bio_standardize="train_fold", in_memory=in_memory)  # fmt: skip
    out = sweep.run_fold(Bio(), data, meta, fold, cfg)
    assert out.n_test == len(fold.test_idx)
    rows = [int(np.flatnonzero((bio == x).all(axis=(1, 2)))[0]) for x in seen["x"]]
    assert len(rows) == out.n_train  # the fit rows, without the validation split
    assert set(rows) <= set(fold.train_idx.tolist()) and not set(rows) & set(fold.test_idx.tolist())
