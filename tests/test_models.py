"""emolab.models: shapes, gradients, gates, overfitting, determinism, saving, FLOP counts.

Parametrised over the registry (every model family and fusion head), as braindecode tests its
model zoo.  Inputs are random tensors: these tests check the machinery, not emotion recognition.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from torch import nn

from emolab.models import (
    FUSION_NAMES,
    MODEL_NAMES,
    GatedFusion,
    LateFusion,
    ModelConfig,
    MultimodalModel,
    build_model,
    complexity_table,
    count_parameters,
    flops_per_sample,
    trace_shapes,
)

# (n_chans, n_frames) of the datasets and frame rates the papers use
DATASET_SHAPES = {
    "deap_5fps": (40, 5),  # Safavi / DeepVANet on DEAP
    "deap_10fps": (40, 10),  # GBV-Net on DEAP
    "mahnob_12fps": (38, 12),  # GBV-Net on MAHNOB-HCI
}
MODALITY_SETS = [("face", "bio"), ("face",), ("bio",)]


@pytest.fixture(autouse=True)
def _one_thread():
    """Run these small models on one thread: on a shared 2-core machine, two OpenMP threads
    competing with other processes make tiny batches several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _inputs(batch: int, n_chans: int, n_frames: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "face": torch.rand(batch, n_frames, 3, 64, 64, generator=g),
        "bio": torch.randn(batch, n_chans, 128, generator=g),
    }


@pytest.mark.parametrize("dataset", list(DATASET_SHAPES))
@pytest.mark.parametrize("modalities", MODALITY_SETS, ids="+".join)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape(name, modalities, dataset):
    n_chans, n_frames = DATASET_SHAPES[dataset]
    model = build_model(name, modalities=modalities, n_chans=n_chans, n_frames=n_frames, n_outputs=2, seed=0)
    assert model.modalities == modalities
    inputs = _inputs(3, n_chans, n_frames)
    given = {m: inputs[m] for m in modalities}  # the absent modality is not passed at all
    assert model(**given).shape == (3, 2)
    features = model.encode(**given)
    assert set(features) == set(modalities)
    assert all(f.shape == (3, 64) for f in features.values())


@pytest.mark.parametrize("fusion", FUSION_NAMES)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_parameter_gets_a_gradient(name, fusion):
    model = build_model(name, fusion=fusion, n_frames=2, seed=0)
    inputs = _inputs(4, 40, 2)
    model(**inputs).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


@pytest.mark.parametrize("fusion", [f for f in FUSION_NAMES if f != "attention"])
@pytest.mark.parametrize("modality", ["face", "bio"])
def test_unimodal_models_accept_every_head_but_attention(fusion, modality):
    model = build_model("gbvnet", modalities=(modality,), fusion=fusion, n_frames=2, seed=0)
    inputs = _inputs(2, 40, 2)
    assert model(**{modality: inputs[modality]}).shape == (2, 1)


def test_attention_fusion_needs_two_modalities():
    with pytest.raises(ValueError, match="two modalities"):
        build_model("safavi", modalities=("bio",), fusion="attention")


def test_unused_input_is_ignored_and_missing_input_is_named():
    model = build_model("safavi", modalities=("bio",), seed=0).eval()
    inputs = _inputs(2, 40, 5)
    torch.testing.assert_close(model(**inputs), model(bio=inputs["bio"]))
    fused = build_model("safavi", seed=0)
    with pytest.raises(ValueError, match="no face input"):
        fused(bio=inputs["bio"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"face": torch.rand(2, 7, 3, 64, 64)}, "n_frames=7"), ({"bio": torch.randn(2, 32, 128)}, "n_chans")],
)
def test_wrong_input_shapes_are_explained(kwargs, message):
    model = build_model("gbvnet", seed=0)
    inputs = {**_inputs(2, 40, 5), **kwargs}
    with pytest.raises(ValueError, match=message):
        model(**inputs)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("deepvanet")
    with pytest.raises(ValueError, match="unknown fusion"):
        build_model("gbvnet", fusion="sum")
    with pytest.raises(ValueError, match="modalities"):
        build_model("gbvnet", modalities=("eeg",))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gate_is_exposed_and_strictly_between_0_and_1(name):
    model = build_model(name, fusion="gated", n_frames=2, seed=0)
    assert isinstance(model.fusion, GatedFusion) and model.fusion.last_gate is None
    model(**_inputs(6, 40, 2))
    gate = model.fusion.last_gate
    assert gate.shape == (6, 128) and not gate.requires_grad
    assert bool((gate > 0).all()) and bool((gate < 1).all())
    # the gate depends on the sample
    assert gate.std(dim=0).max() > 0


def test_late_fusion_weights_sum_to_one():
    model = build_model("safavi", fusion="late", n_frames=2, seed=0)
    assert isinstance(model.fusion, LateFusion)
    out = model.eval()(**_inputs(3, 40, 2))
    w = model.fusion.modality_weights()
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    torch.testing.assert_close(out, (model.fusion.last_logits * w[None, :, None]).sum(1))


def test_attention_fusion_exposes_its_weights():
    model = build_model("gbvnet", fusion="attention", n_frames=2, seed=0).eval()  # no attention dropout
    model(**_inputs(3, 40, 2))
    att = model.fusion.last_attention
    assert len(att) == 2 and att[0].shape == (3, 8, 8)
    torch.testing.assert_close(att[0].sum(-1), torch.ones(3, 8))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_overfits_a_tiny_random_batch(name):
    """A model that cannot memorise 8 random samples has a broken gradient path."""
    model = build_model(name, n_frames=2, seed=0)
    inputs = _inputs(8, 40, 2, seed=1)
    labels = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1], dtype=torch.float32)[:, None]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _step in range(100):
        model.train()
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(**inputs), labels).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            accuracy = ((model(**inputs) > 0).float() == labels).float().mean().item()
        if accuracy == 1.0:
            break
    assert accuracy == 1.0, f"{name} reached only {accuracy:.0%} training accuracy after {_step + 1} steps"


@pytest.mark.parametrize("fusion", FUSION_NAMES)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_same_outputs_and_global_rng_untouched(name, fusion):
    inputs = _inputs(2, 40, 2)
    state = torch.random.get_rng_state()
    a = build_model(name, fusion=fusion, n_frames=2, seed=3).eval()
    b = build_model(name, fusion=fusion, n_frames=2, seed=3).eval()
    assert torch.equal(state, torch.random.get_rng_state())
    c = build_model(name, fusion=fusion, n_frames=2, seed=4).eval()
    with torch.no_grad():
        assert torch.equal(a(**inputs), b(**inputs))
        assert not torch.equal(a(**inputs), c(**inputs))


@pytest.mark.parametrize("fusion", FUSION_NAMES)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_and_reload_with_weights_only(name, fusion):
    model = build_model(name, fusion=fusion, n_frames=2, seed=0)
    # one training step so the BatchNorm statistics differ from a fresh model's
    model(**_inputs(4, 40, 2, seed=5)).sum().backward()
    model.eval()
    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "config": dataclasses.asdict(model.config)}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    config = ModelConfig(**{**saved["config"], "seed": 123})  # different init, then overwritten
    clone = config.build()
    clone.load_state_dict(saved["state_dict"])
    clone.eval()
    inputs = _inputs(3, 40, 2)
    with torch.no_grad():
        assert torch.equal(model(**inputs), clone(**inputs))


def test_model_config_round_trip():
    model = build_model("gbvnet", modalities=["bio", "face"], n_chans=38, n_frames=12, fusion="late", seed=1)
    config = model.config
    assert config.modalities == ("face", "bio")  # normalised to fusion order
    rebuilt = ModelConfig(**dataclasses.asdict(config)).build()
    for (na, pa), (nb, pb) in zip(model.state_dict().items(), rebuilt.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)


def test_wrapper_checks_fusion_widths():
    model = build_model("safavi", seed=0)
    with pytest.raises(ValueError, match="feature widths"):
        MultimodalModel(model.face_encoder, None, model.fusion)
    with pytest.raises(ValueError, match="needs a face encoder, a bio encoder or both"):
        MultimodalModel(None, None, model.fusion)


# ---- parameter and FLOP counts -------------------------------------------------------------


class _Wrap(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer(x)
        return out[0] if isinstance(out, tuple) else out


def test_count_parameters():
    layer = nn.Linear(10, 3)
    assert count_parameters(layer) == 33
    layer.bias.requires_grad_(False)
    assert count_parameters(layer) == 30
    assert count_parameters(layer, trainable_only=False) == 33


def test_flops_of_a_linear_layer():
    x = {"x": torch.randn(4, 10)}
    assert flops_per_sample(_Wrap(nn.Linear(10, 3)), x) == 2 * 10 * 3


def test_flops_of_an_lstm_are_counted():
    x = {"x": torch.randn(2, 5, 16)}
    assert flops_per_sample(_Wrap(nn.LSTM(16, 8, batch_first=True)), x) == 5 * 2 * 4 * 8 * (16 + 8)


@pytest.mark.parametrize("groups", [1, 8])
def test_flops_of_a_grouped_conv_backward(groups):
    conv = _Wrap(nn.Conv2d(8, 8, 3, padding=1, groups=groups, bias=False))
    x = {"x": torch.randn(2, 8, 6, 6)}  # the input needs no gradient: backward = weight gradient
    forward = flops_per_sample(conv, x)
    assert forward == 2 * 8 * 6 * 6 * (8 // groups) * 9
    assert flops_per_sample(conv, x, training=True) == 2 * forward


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_flops_and_table(name):
    model = build_model(name, n_frames=5, seed=0)
    inference = flops_per_sample(model)
    training = flops_per_sample(model, training=True)
    assert inference > 1e6
    assert 2 * inference < training < 4 * inference  # backward costs about twice the forward
    assert all(p.grad is None for p in model.parameters())  # counting leaves no gradients behind
    table = complexity_table({name: model})
    row = table.loc[name]
    assert row["total params"] == count_parameters(model)
    assert row["face params"] + row["bio params"] + row["fusion params"] == row["total params"]


def test_trace_shapes_follows_the_forward_pass():
    model = build_model("safavi", n_chans=38, n_frames=12, seed=0)
    table = trace_shapes(model, **model.example_inputs(2), max_depth=2)
    rows = table.set_index("layer")
    assert rows.loc["face_encoder", "input shape"] == (2, 12, 3, 64, 64)
    assert rows.loc["face_encoder", "output shape"] == (2, 64)
    assert rows.loc["face_encoder.lstm", "input shape"][:2] == (2, 12)
    assert rows.loc["bio_encoder.transformer", "output shape"] == (2, 128, 64)
    assert rows.loc["fusion", "output shape"] == (2, 1)
    assert table["depth"].max() == 2
    assert model.training  # restored


@pytest.mark.parametrize("module", ["safavi_bio", "safavi_face", "gbvnet_bio", "gbvnet_face", "registry"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"emolab.models.{module}")
    result = doctest.testmod(mod, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0


def test_global_response_norm_matches_its_formula():
    from emolab.models.layers import GlobalResponseNorm

    grn = GlobalResponseNorm(6)
    x = torch.randn(2, 4, 4, 6)
    torch.testing.assert_close(grn(x), x)  # gamma = beta = 0 at start: identity
    nn.init.normal_(grn.gamma)
    nn.init.normal_(grn.beta)
    norms = x.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    expected = x + grn.gamma * x * norms / (norms.mean(dim=-1, keepdim=True) + grn.eps) + grn.beta
    torch.testing.assert_close(grn(x), expected)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_attention_dropout_is_an_option(name):
    attentions = lambda m: [a for a in m.bio_encoder.modules() if isinstance(a, nn.MultiheadAttention)]  # noqa: E731
    default = build_model(name, modalities=("bio",), seed=0)
    assert attentions(default) and all(a.dropout == 0.0 for a in attentions(default))
    dropped = build_model(name, modalities=("bio",), bio_kwargs={"attention_dropout": 0.2}, seed=0)
    assert all(a.dropout == 0.2 for a in attentions(dropped))


def _random_inputs(b=6, s=32):
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 5, 3, s, s, generator=g), torch.randn(b, 40, 128, generator=g)


@pytest.mark.parametrize("name", ["safavi", "gbvnet"])
def test_auxiliary_heads_give_one_logit_per_modality_in_training_only(name):
    face, bio = _random_inputs()
    model = build_model(name, image_size=32, auxiliary_heads=True, seed=0)
    model.train()
    out = model(face=face, bio=bio, return_branches=True)
    assert [tuple(a.shape) for a in out.auxiliary] == [tuple(out.logits.shape)] * 2
    model.eval()
    with torch.no_grad():
        res = model(face=face, bio=bio, return_branches=True)
        fused = model(face=face, bio=bio)
        features = model.encode(face=face, bio=bio)
    torch.testing.assert_close(res.logits, fused)  # the same fused output either way
    assert res.auxiliary == []  # no auxiliary loss outside training
    # ... but each branch's own answer is still there, from its head on its own features
    assert list(res.branches) == ["face", "bio"]
    for i, m in enumerate(("face", "bio")):
        torch.testing.assert_close(res.branches[m], model.auxiliary[i](features[m]))
        assert not torch.equal(res.branches[m], fused)
    assert build_model(name, modalities=("bio",), auxiliary_heads=True).auxiliary is None  # unimodal
    plain = build_model(name, image_size=32, seed=0)  # no auxiliary heads
    assert plain(face=face, bio=bio, return_branches=True).branches == {}
    assert not hasattr(model, "branch_logits") and not hasattr(model, "auxiliary_logits")  # nothing left behind


def test_branch_logits_do_not_change_training_or_the_fused_output():
    """Keeping the branches' logits in eval mode is bookkeeping: the same seed gives the same
    weights and the same fused predictions as a model that only keeps them while training."""
    from emolab.models.multimodal import MultimodalModel
    from emolab.train.batches import InMemorySegments
    from emolab.train.config import TrainConfig
    from emolab.train.trainer import Trainer

    face, bio = _random_inputs(12)
    data = InMemorySegments({"face": face, "bio": bio, "labels": torch.zeros(12, 2),
                             "target": torch.tensor([0.0, 1.0] * 6)})  # fmt: skip
    cfg = TrainConfig(modalities=("face", "bio"), epochs=2, batch_size=4, progress=False)
    preds = []
    for keep_in_eval in (True, False):
        torch.manual_seed(0)
        model = build_model("safavi", image_size=32, auxiliary_heads=True, seed=0)
        if not keep_in_eval:  # the branch heads run in training only, as before they were kept
            plain = MultimodalModel.forward

            def forward(self, face=None, bio=None, return_branches=False, _plain=plain):
                out = _plain(self, face=face, bio=bio, return_branches=return_branches)
                if return_branches and not self.training:
                    out = dataclasses.replace(out, branches={})
                return out

            model.forward = forward.__get__(model)
        trainer = Trainer(model, cfg, verbose=False)
        trainer.fit(data)
        preds.append(trainer.predict(data))
    np.testing.assert_array_equal(preds[0]["logits"], preds[1]["logits"])
    assert set(preds[0]) - set(preds[1]) == {"logits_face", "logits_bio"}
    assert preds[0]["logits_face"].shape == preds[0]["logits"].shape == (12,)
    assert not np.allclose(preds[0]["logits_face"], preds[0]["logits_bio"])


def test_predictions_never_read_branch_logits_left_by_an_earlier_pass():
    """A model that leaves branch logits in an attribute (in training mode only): the trainer
    reads no attribute, so its predictions carry none, rather than the last training batch's."""
    from emolab.train.batches import InMemorySegments
    from emolab.train.config import TrainConfig
    from emolab.train.trainer import Trainer

    class TrainOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.branch_logits = nn.Parameter(torch.zeros(1)), {}

        def forward(self, face=None, bio=None):
            out = bio.mean(dim=(1, 2)).unsqueeze(1) * self.w
            if self.training:
                self.branch_logits = {"bio": out * 2}
            return out

    data = InMemorySegments({"bio": torch.randn(8, 2, 3), "labels": torch.zeros(8, 2),
                             "target": torch.tensor([0.0, 1.0] * 4)})  # fmt: skip
    trainer = Trainer(TrainOnly(), TrainConfig(modalities=("bio",), epochs=1, batch_size=4, progress=False),
                      verbose=False)  # fmt: skip
    trainer.fit(data)
    assert trainer.model.branch_logits  # left by the last training batch
    assert "logits_bio" not in trainer.predict(data)


def test_trainer_adds_the_auxiliary_losses():
    """A model returning auxiliary logits of 0 next to fused logits of 0: the training loss is
    ln 2 for the fused output plus ln 2 for each auxiliary one."""
    import math

    from emolab.models import ModelOutput
    from emolab.train.batches import InMemorySegments
    from emolab.train.config import TrainConfig
    from emolab.train.trainer import Trainer

    class Constant(nn.Module):
        def __init__(self, n_aux):
            super().__init__()
            self.w, self.n_aux = nn.Parameter(torch.zeros(())), n_aux

        def forward(self, face=None, bio=None, return_branches=False):
            out = self.w.expand(len(bio), 1)
            if not return_branches:
                return out
            return ModelOutput(out, [out * 1.0 for _ in range(self.n_aux)] if self.training else [])

    data = InMemorySegments({"bio": torch.zeros(8, 2, 3), "labels": torch.zeros(8, 2),
                             "target": torch.tensor([0.0, 1.0] * 4)})  # fmt: skip
    for n_aux in (0, 2):
        cfg = TrainConfig(modalities=("bio",), epochs=1, lr=1e-12, batch_size=4, progress=False)
        hist = Trainer(Constant(n_aux), cfg, verbose=False).fit(data)
        assert hist[0]["train_loss"] == pytest.approx((1 + n_aux) * math.log(2), rel=1e-5)


def test_modality_dropout_zeroes_one_modality_per_dropped_sample():
    face, bio = _random_inputs(64)
    model = build_model("gbvnet", image_size=32, modality_dropout=0.5, seed=0)
    seen = []
    model.fusion.register_forward_pre_hook(lambda mod, args: seen.append([f.detach() for f in args[0]]))
    model.train()
    torch.manual_seed(0)
    model(face=face, bio=bio)
    f_face, f_bio = seen[-1]
    zero_face, zero_bio = (f_face == 0).all(1), (f_bio == 0).all(1)
    assert not (zero_face & zero_bio).any() and 10 < int((zero_face | zero_bio).sum()) < 54
    model.eval()
    with torch.no_grad():
        model(face=face, bio=bio)
    assert not (seen[-1][0] == 0).all(1).any() and not (seen[-1][1] == 0).all(1).any()
    with pytest.raises(ValueError, match="modality_dropout"):
        build_model("gbvnet", modality_dropout=1.0)


def test_standardised_features_have_zero_mean_and_unit_spread():
    face, bio = _random_inputs(4)
    model = build_model("safavi", image_size=32, normalize_features=True, seed=0).eval()
    seen = []
    model.fusion.register_forward_pre_hook(lambda mod, args: seen.append([f.detach() for f in args[0]]))
    with torch.no_grad():
        model(face=face, bio=bio)
    for f in seen[-1]:
        torch.testing.assert_close(f.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(f.std(1, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
