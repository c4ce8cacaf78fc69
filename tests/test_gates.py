"""Gate analysis and missing/degraded-modality evaluation (emolab.analysis.gates).

Most tests use a hand-set gated model whose behaviour is known in closed form:

* the face encoder outputs the clip's mean brightness (3 copies), the bio encoder the mean of
  channel 0 and its negative;
* the gate MLP is set so that every gate value is ``sigmoid(brightness)``;
* the classifier reads only the two bio features: logit = 20 * gate * mean(channel 0).

So the gate is computable by hand per sample, the prediction depends on the bio signal only
(its sign carries the label), and damaging the bio signal must cost accuracy while damaging the
face must not.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from emolab.analysis import (
    Degradation,
    add_noise,
    aggregate_gates,
    collect_gates,
    default_degradations,
    evaluate_degraded,
    gate_slices,
    gaussian_blur,
    occlude,
)
from emolab.models import GatedFusion, MultimodalModel, build_model
from emolab.models.fusion import ConcatFusion

N_FRAMES, SIZE, N_CHANS, N_TIMES = 2, 8, 2, 32


class BrightnessFace(nn.Module):
    """(B, T, 3, S, S) -> (B, 3): the clip's mean brightness, three times."""

    n_frames, image_size, n_features = N_FRAMES, SIZE, 3

    def forward(self, x):
        return x.mean(dim=(1, 2, 3, 4))[:, None].expand(-1, 3)


class MeanBio(nn.Module):
    """(B, C, L) -> (B, 2): [mean of channel 0, -mean of channel 0]."""

    n_chans, n_times, n_features = N_CHANS, N_TIMES, 2

    def forward(self, x):
        m = x[:, 0].mean(dim=-1)
        return torch.stack([m, -m], dim=1)


def hand_set_model() -> MultimodalModel:
    head = GatedFusion([3, 2], 1, gate_hidden=1, hidden=(), dropout=0.0)
    with torch.no_grad():
        first, last = head.gate[0], head.gate[2]
        first.weight.zero_()
        first.weight[0, 0] = 1.0  # hidden = relu(brightness) = brightness (>= 0)
        first.bias.zero_()
        last.weight.fill_(1.0)  # every gate value = sigmoid(hidden)
        last.bias.zero_()
        clf = head.classifier[-1]
        clf.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 10.0, -10.0]]))
        clf.bias.zero_()
    return MultimodalModel(BrightnessFace(), MeanBio(), head)


class ListDataset(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def make_items(n_subjects=3, n_trials=2, n_segments=8, seed=0):
    """Items shaped like the segment store's; label in the sign of bio channel 0's mean."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_TIMES) / N_TIMES
    items = []
    for s in range(1, n_subjects + 1):
        for tr in range(1, n_trials + 1):
            for seg in range(n_segments):
                y = (seg + tr) % 2
                bio = rng.normal(0, 0.1, size=(N_CHANS, N_TIMES))
                bio[0] += (1.0 if y else -1.0) + np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6))
                brightness = 0.1 * s + 0.05 * tr + 0.01 * seg
                face = np.full((N_FRAMES, 3, SIZE, SIZE), brightness) + rng.normal(0, 0.02, (N_FRAMES, 3, SIZE, SIZE))
                items.append({
                    "face": torch.tensor(face, dtype=torch.float32),
                    "bio": torch.tensor(bio, dtype=torch.float32),
                    "has_face": True,
                    "labels": torch.tensor([y, 1 - y], dtype=torch.float32),
                    "ratings": torch.tensor([7.0 if y else 3.0, 5.0]),
                    "subject": s, "trial": tr, "experiment_id": 10 + tr, "segment": seg,
                })  # fmt: skip
    return ListDataset(items)


@pytest.fixture
def model():
    return hand_set_model()


@pytest.fixture
def data():
    return make_items()


def test_gate_slices_follow_the_encoder_widths(model):
    assert gate_slices(model) == {"face": slice(0, 3), "bio": slice(3, 5)}


def test_gates_match_the_hand_computation(model, data):
    gv = collect_gates(model, data, batch_size=7)  # batches that do not divide N
    assert gv.gates.shape == (len(data), 5)
    assert np.all((gv.gates > 0) & (gv.gates < 1))
    brightness = np.array([float(it["face"].mean()) for it in data.items])
    expected = 1 / (1 + np.exp(-brightness))
    np.testing.assert_allclose(gv.gates, np.repeat(expected[:, None], 5, axis=1), rtol=1e-5)
    np.testing.assert_allclose(gv.samples["gate_face"], expected, rtol=1e-5)
    np.testing.assert_allclose(gv.samples["gate_bio"], expected, rtol=1e-5)
    assert gv.of("face").shape == (len(data), 3) and gv.of("bio").shape == (len(data), 2)
    # metadata in dataset order
    assert gv.samples["subject"].tolist() == [it["subject"] for it in data.items]
    assert gv.samples["segment"].tolist() == [it["segment"] for it in data.items]
    # the hand-set classifier gets every sample right (sign of the bio mean)
    assert ((gv.samples["y_score"] >= 0.5).astype(int) == gv.samples["y_true"]).all()


def test_share_of_the_fused_vector(model, data):
    gv = collect_gates(model, data)
    item = data.items[5]
    b = float(item["face"].mean())
    m = float(item["bio"][0].mean())
    g = 1 / (1 + math.exp(-b))
    face_part, bio_part = 3 * abs(b) * g, 2 * abs(m) * g
    assert gv.samples.loc[5, "share_face"] == pytest.approx(face_part / (face_part + bio_part), rel=1e-5)
    np.testing.assert_allclose(gv.samples["share_face"] + gv.samples["share_bio"], 1.0, rtol=1e-6)


def test_per_subject_and_per_trial_aggregation(model, data):
    gv = collect_gates(model, data)
    per_subject = aggregate_gates(gv, by="subject")
    # by hand: the mean over each subject's samples of sigmoid(brightness)
    for s in (1, 2, 3):
        vals = [1 / (1 + math.exp(-float(it["face"].mean()))) for it in data.items if it["subject"] == s]
        row = per_subject[per_subject["subject"] == s].iloc[0]
        assert row["n"] == len(vals)
        assert row["gate_face"] == pytest.approx(np.mean(vals), rel=1e-5)
        assert row["gate_face_sd"] == pytest.approx(np.std(vals, ddof=1), rel=1e-4)
        assert row["gate_face_minus_bio"] == pytest.approx(0.0, abs=1e-6)
    # brighter subjects (the face encoder's only feature) get a wider-open gate
    assert per_subject["gate_face"].is_monotonic_increasing
    per_trial = aggregate_gates(gv.samples, by=["subject", "trial"])
    assert len(per_trial) == 6 and per_trial["n"].eq(8).all()
    # subject means are the means of their (equal-sized) trial means
    np.testing.assert_allclose(per_trial.groupby("subject")["gate_face"].mean().to_numpy(),
                               per_subject["gate_face"].to_numpy(), rtol=1e-6)  # fmt: skip
    long = gv.long()
    assert set(long["modality"]) == {"face", "bio"} and len(long) == 2 * len(data)


def test_aggregate_gates_rejects_unknown_columns(model, data):
    gv = collect_gates(model, data)
    with pytest.raises(KeyError, match="cannot group by"):
        aggregate_gates(gv, by="session")


def test_collect_gates_needs_a_gated_head(data):
    concat = MultimodalModel(BrightnessFace(), MeanBio(), ConcatFusion([3, 2], 1))
    with pytest.raises(TypeError, match="not GatedFusion"):
        collect_gates(concat, data)


def test_real_gbvnet_gate_split():
    model = build_model("gbvnet", n_chans=N_CHANS, n_times=N_TIMES, n_frames=N_FRAMES, seed=0,
                        face_kwargs=dict(dims=(8, 16), depths=(1, 1)))  # fmt: skip
    torch.manual_seed(0)
    items = [{"face": torch.rand(N_FRAMES, 3, 64, 64), "bio": torch.randn(N_CHANS, N_TIMES),
              "labels": torch.tensor([i % 2, 0.0]), "subject": 1, "trial": i, "segment": 0}
             for i in range(4)]  # fmt: skip
    gv = collect_gates(model, ListDataset(items), batch_size=2)
    d_face, d_bio = model.face_encoder.n_features, model.bio_encoder.n_features
    assert gv.slices == {"face": slice(0, d_face), "bio": slice(d_face, d_face + d_bio)}
    assert gv.gates.shape == (4, d_face + d_bio)
    assert np.all((gv.gates > 0) & (gv.gates < 1))
    # per-sample modality means are the means of the split columns
    np.testing.assert_allclose(gv.samples["gate_face"], gv.gates[:, :d_face].mean(1), rtol=1e-6)
    np.testing.assert_allclose(gv.samples["gate_bio"], gv.gates[:, d_face:].mean(1), rtol=1e-6)


def test_degrading_the_relied_on_modality_costs_accuracy(model, data):
    conditions = [
        Degradation(),
        Degradation("bio", "missing"),
        Degradation("bio", "noise", -20.0),
        Degradation("face", "missing"),
        Degradation("face", "noise", -10.0),
        Degradation("face", "blur", 2.0),
        Degradation("face", "occlusion", 0.5),
    ]
    res = evaluate_degraded(model, data, conditions, seed=0).set_index("condition")
    assert res.loc["clean", "accuracy"] == 1.0
    # the classifier reads only the bio features: without them every logit is 0 -> one class
    assert res.loc["bio missing", "accuracy"] == pytest.approx(res.loc["bio missing", "majority_baseline"])
    assert res.loc["bio missing", "accuracy_drop"] == pytest.approx(0.5)
    assert res.loc["bio noise -20 dB", "accuracy"] < 0.85
    # damaging the face moves the gate but never flips the sign of the logit
    for c in ("face missing", "face noise -10 dB", "face blur 2 px", "face occlusion 50 %"):
        assert res.loc[c, "accuracy"] == 1.0, c
    # a missing face gives brightness 0: every gate value sigmoid(0) = 0.5
    assert res.loc["face missing", "gate_face"] == pytest.approx(0.5)
    assert res.loc["clean", "gate_face"] > 0.5


def test_degraded_evaluation_per_subject_and_for_a_concat_model(data):
    head = ConcatFusion([3, 2], 1, hidden=(), dropout=0.0)
    with torch.no_grad():
        head.classifier[-1].weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 5.0, -5.0]]))
        head.classifier[-1].bias.zero_()
    concat = MultimodalModel(BrightnessFace(), MeanBio(), head)
    res = evaluate_degraded(concat, data, [Degradation(), Degradation("bio", "missing")], by="subject")
    assert len(res) == 2 * 3 and set(res["subject"]) == {1, 2, 3}
    assert not any(c.startswith("gate_") for c in res.columns)
    clean = res[res["kind"] == "clean"]
    assert (clean["accuracy"] == 1.0).all() and (clean["n"] == 16).all()
    missing = res[res["kind"] == "missing"]
    np.testing.assert_allclose(missing["accuracy_drop"], 1.0 - missing["accuracy"])


def test_conditions_on_an_absent_modality_are_skipped(data):
    bio_only = MultimodalModel(None, MeanBio(), GatedFusion([2], 1))
    res = evaluate_degraded(bio_only, Subset(data, range(10)), default_degradations(("face", "bio")))
    assert "face missing" not in set(res["condition"]) and "bio missing" in set(res["condition"])
    assert res["n"].eq(10).all()


def test_evaluation_is_reproducible(model, data):
    conds = [Degradation("bio", "noise", -20.0), Degradation("face", "occlusion", 0.25)]
    a = evaluate_degraded(model, data, conds, seed=3)
    b = evaluate_degraded(model, data, conds, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_noise_has_the_requested_snr():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, 512, generator=g) * torch.tensor([1.0, 5.0, 0.1, 2.0])[None, :, None]
    for snr in (10.0, 0.0, -10.0):
        noisy = add_noise(x, snr_db=snr, generator=g)
        measured = 10 * torch.log10(x.var(dim=-1) / (noisy - x).var(dim=-1))  # (64, 4)
        assert float(measured.mean()) == pytest.approx(snr, abs=0.3)
    flat = torch.ones(2, 3, 16)
    assert torch.equal(add_noise(flat, snr_db=0.0, generator=g), flat)
    face = torch.rand(2, 2, 3, 8, 8, generator=g)
    noisy = add_noise(face, snr_db=-10.0, generator=g, clip=True)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, face)


def test_blur_and_occlusion():
    g = torch.Generator().manual_seed(0)
    face = torch.rand(3, 2, 3, 16, 16, generator=g)
    blurred = gaussian_blur(face, sigma=2.0)
    assert blurred.shape == face.shape
    assert float(blurred.var()) < 0.5 * float(face.var())  # high frequencies removed
    assert float(blurred.mean()) == pytest.approx(float(face.mean()), abs=0.02)
    const = torch.full((1, 1, 3, 16, 16), 0.3)
    torch.testing.assert_close(gaussian_blur(const, sigma=3.0), const)
    occluded = occlude(face, fraction=0.25, generator=g)
    covered = (occluded == 0.5) & (face != 0.5)
    assert covered.float().mean().item() == pytest.approx(0.25, abs=0.01)
    # the same patch in every frame of a clip
    assert torch.equal(covered[:, 0], covered[:, 1])
    assert not torch.equal(face, occluded) and torch.equal(face, face.clone())


def test_degradation_validation_and_names():
    with pytest.raises(ValueError, match="applies to"):
        Degradation("bio", "blur", 1.0)
    with pytest.raises(ValueError, match="unknown degradation"):
        Degradation("face", "smudge", 1.0)
    with pytest.raises(ValueError, match="area fraction"):
        Degradation("face", "occlusion", 1.5)
    names = [d.name for d in default_degradations()]
    assert names[0] == "clean" and "bio noise -10 dB" in names and "face occlusion 25 %" in names
    assert len(set(names)) == len(names)


def test_plots_draw_from_the_tables(model, data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emolab.viz.gates import (
        plot_degradation,
        plot_gate_distribution,
        plot_gate_heatmap,
        plot_gate_vs_trait,
        plot_gates_by,
    )

    gv = collect_gates(model, data)
    assert plot_gate_distribution(gv).has_data()
    ax = plot_gates_by(gv, by="subject")
    assert len(ax.patches) >= 6  # 3 subjects x 2 modalities
    ax = plot_gate_heatmap(gv, value="gate_face")
    assert np.asarray(ax.collections[0].get_array()).size == 6  # 3 subjects x 2 trials
    traits = pd.DataFrame({"subject": [1, 1, 2, 3], "expressiveness": [0.5, 0.7, 1.0, 2.0]})
    ax = plot_gate_vs_trait(aggregate_gates(gv), traits, value="gate_face")
    assert "Pearson r = 1.00" in ax.get_title() or "Pearson r = 0.9" in ax.get_title()
    res = evaluate_degraded(model, data, [Degradation(), Degradation("bio", "missing")])
    axes = plot_degradation(res)
    assert len(axes) == 2 and [p.get_width() for p in axes[0].patches] == [1.0, 0.5]
    with pytest.raises(KeyError, match="needs the columns"):
        plot_gate_vs_trait(aggregate_gates(gv), traits, trait="age")
    plt.close("all")


def tiny_factory(name, *, modalities, **kwargs):
    """Model factory for a sweep cell (resolved by dotted path ``test_gates:tiny_factory``)."""
    torch.manual_seed(kwargs.get("seed", 0))
    return MultimodalModel(BrightnessFace(), MeanBio(), GatedFusion([3, 2], 1, gate_hidden=4))


def test_load_cell_model_restores_the_selected_weights(tmp_path, data):
    from emolab.analysis import load_cell_model
    from emolab.train import Cell, TrainConfig, Trainer
    from emolab.train.sweep import cell_dir

    cell = Cell(model="tiny", modalities=("face", "bio"), task="valence", protocol="trial-kfold",
                subject=1, fold=0, model_factory="test_gates:tiny_factory")  # fmt: skip
    results = tmp_path / "results.csv"
    with pytest.raises(FileNotFoundError, match="retrain=True"):
        load_cell_model(cell, results)
    trainer = Trainer(tiny_factory("tiny", modalities=cell.modalities),
                      TrainConfig(epochs=3, batch_size=16, progress=False, patience=3),
                      checkpoint_dir=cell_dir(results, cell) / "checkpoint")  # fmt: skip
    trainer.fit(Subset(data, range(0, 40)), Subset(data, range(40, 48)))
    loaded = load_cell_model(cell, results)
    assert not loaded.training
    for k, v in trainer.model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v.cpu(), msg=k)


def tiny_data():
    """Data factory for a sweep cell: the items of make_items with a metadata table."""
    ds = make_items(n_subjects=1, n_trials=6, n_segments=4)
    ds.metadata = pd.DataFrame([{k: it[k] for k in ("subject", "trial", "experiment_id", "segment", "has_face")}
                                | {"valence": float(it["ratings"][0]), "arousal": 5.0} for it in ds.items])  # fmt: skip
    return ds


def test_load_cell_model_can_retrain_a_cell_deterministically(tmp_path):
    from emolab.analysis import load_cell_model
    from emolab.train import Cell, TrainConfig
    from emolab.train.sweep import run_sweep

    cell = Cell(model="tiny", modalities=("face", "bio"), task="valence", protocol="trial-kfold", subject=1,
                fold=0, n_splits=3, train=TrainConfig(epochs=2, batch_size=8, progress=False).to_dict(),
                data={"factory": "test_gates:tiny_data"}, model_factory="test_gates:tiny_factory")  # fmt: skip
    results = tmp_path / "results.csv"
    kept = tmp_path / "kept" / "results.csv"
    run_sweep([cell], results, keep_checkpoints=False, progress=False)
    run_sweep([cell], kept, keep_checkpoints=True, progress=False)
    with pytest.raises(FileNotFoundError, match="retrain=True"):
        load_cell_model(cell, results)
    again = load_cell_model(cell, results, retrain=True)
    reference = load_cell_model(cell, kept)
    for k, v in reference.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v, msg=k)
    assert len(pd.read_csv(results)) == 1  # retraining wrote no new row


def test_gate_vs_trait_draws_no_trend_through_two_subjects(model, data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emolab.viz.gates import plot_gate_vs_trait

    per = aggregate_gates(collect_gates(model, data), by="subject")
    traits = pd.DataFrame({"subject": [1, 2], "expressiveness": [0.5, 2.0]})
    ax = plot_gate_vs_trait(per, traits, value="gate_face")
    assert "too few for a trend" in ax.get_title() and not ax.lines
    plt.close("all")


def test_gates_and_degradations_over_the_cells_of_a_sweep(tmp_path):
    from emolab.analysis import collect_cell_gates, evaluate_cells_degraded, pool_degraded
    from emolab.train import Cell, TrainConfig
    from emolab.train.sweep import cell_fold, run_sweep

    cells = [Cell(model="tiny", modalities=("face", "bio"), task="valence", protocol="trial-kfold", subject=1,
                  fold=f, n_splits=3, train=TrainConfig(epochs=1, batch_size=8, progress=False).to_dict(),
                  data={"factory": "test_gates:tiny_data"}, model_factory="test_gates:tiny_factory")
             for f in (0, 1)]  # fmt: skip
    results = tmp_path / "results.csv"
    run_sweep(cells, results, keep_checkpoints=True, progress=False)
    data = tiny_data()
    folds = [cell_fold(c, data.metadata) for c in cells]
    assert [f.fold for f in folds] == [0, 1] and not set(folds[0].test_idx) & set(folds[1].test_idx)
    gates = collect_cell_gates(cells, data, results)
    assert len(gates) == 2 * len(data)  # every segment of the subject, once per cell
    assert gates.groupby("protocol")["tested"].sum().item() == sum(len(f.test_idx) for f in folds)
    degraded = evaluate_cells_degraded(cells, data, results, seed=0)
    per = pool_degraded(degraded)
    clean = per[per["kind"] == "clean"].iloc[0]
    assert clean["n"] == sum(len(f.test_idx) for f in folds)
    rows = degraded[degraded["kind"] == "clean"]
    assert clean["accuracy"] == pytest.approx((rows["accuracy"] * rows["n"]).sum() / rows["n"].sum())
    assert {"gate_face", "gate_bio"} <= set(per.columns)
