"""The book's explorers: each builds, draws its default state, and offers it as a static figure.

The explorers are ipywidgets; here nobody moves their controls, exactly as when papermill runs a
chapter.  Each test checks the static HTML figure (what the built book shows without a kernel)
and that moving a control redraws.
"""

from __future__ import annotations

import base64
import html
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from emolab.viz.explorer import STATIC_CLASS, Explorer  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _static_png(explorer: Explorer) -> bytes:
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle, "no live widget in the bundle"
    page = bundle["text/html"]
    assert f'class="{STATIC_CLASS}"' in page and f'data-explorer="{explorer.name}"' in page
    m = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert m, "the static figure has no embedded PNG"
    png = base64.b64decode(m.group(1))
    assert png.startswith(PNG_MAGIC) and len(png) > 2000, "the static figure is empty"
    live = explorer.output.outputs[0]["data"]["image/png"]  # what the live widget shows
    assert base64.b64decode(live) == png
    return png


def toy_metadata(n_subjects=3, n_trials=6, n_segments=10) -> pd.DataFrame:
    rows = []
    for s in range(1, n_subjects + 1):
        for t in range(1, n_trials + 1):
            for seg in range(n_segments):
                rows.append({"subject": s, "trial": t, "experiment_id": t, "segment": seg,
                             "valence": 7.0 if t % 2 else 3.0, "arousal": 3.0 if t % 3 else 7.0})
    return pd.DataFrame(rows)


def test_protocol_roles_keep_the_protocols_promises():
    from emolab.viz.protocol_explorer import split_roles, trial_grid

    meta = toy_metadata()
    trials, row_of, _ = trial_grid(meta)
    for protocol in ("paper-segment-kfold", "pooled-segment-kfold", "trial-kfold", "loso"):
        roles, info = split_roles(meta, protocol, subject=2, fold=1, n_splits=3)
        assert set(np.unique(roles)) >= {1, 3}, protocol
        per_trial = pd.Series(roles).groupby(row_of).agg(lambda r: set(r) - {0})
        mixed = per_trial.map(lambda r: {1, 3} <= r).any()
        assert mixed == (protocol in ("paper-segment-kfold", "pooled-segment-kfold")), protocol
        if protocol in ("paper-segment-kfold", "trial-kfold"):  # only subject 2 is used
            assert (roles[meta["subject"].to_numpy() != 2] == 0).all()
        if protocol == "loso":
            assert (roles[meta["subject"].to_numpy() == 2] == 3).all()
        assert info["report"]["shared_trials"] == (0 if not mixed else info["report"]["shared_trials"])


def test_protocol_explorer_draws_and_follows_its_controls():
    from emolab.viz.protocol_explorer import protocol_explorer

    ex = protocol_explorer(toy_metadata(), n_splits=3)
    first = _static_png(ex)
    assert ex.values == {"protocol": "paper-segment-kfold", "subject": 1, "fold": 0}
    ex.controls["protocol"].value = "trial-kfold"
    assert _static_png(ex) != first
    assert "protocol = 'trial-kfold'" in html.unescape(ex._repr_mimebundle_()["text/html"])


def test_synthetic_explorer_draws_the_knobs():
    from emolab.viz.synthetic_explorer import KNOBS, synthetic_explorer

    ex = synthetic_explorer()
    assert set(ex.values) == set(KNOBS)
    assert ex.values["fingerprint"] == 1.0  # the smoke preset's default
    first = _static_png(ex)
    ex.controls["fingerprint"].value = 0.0
    assert _static_png(ex) != first


def test_gate_explorer_on_a_tiny_gated_model():
    import torch

    from emolab.models import build_model
    from emolab.viz.gate_explorer import gate_explorer

    model = build_model("gbvnet", n_chans=40, n_times=128, n_frames=2, seed=0).eval()
    rng = np.random.default_rng(0)
    items = [{"face": torch.rand(2, 3, 64, 64), "bio": torch.tensor(rng.normal(size=(40, 128)), dtype=torch.float32),
              "has_face": True, "labels": torch.tensor([i % 2, 0.0]), "subject": 1, "trial": 1 + i // 2,
              "experiment_id": 1, "segment": i % 2} for i in range(4)]  # fmt: skip
    ex = gate_explorer(model, items)
    first = _static_png(ex)
    ex.controls["sample"].value = 3
    assert _static_png(ex) != first
    with pytest.raises(ValueError, match="collect it on this very dataset"):
        gate_explorer(dataset=items[:2], gates=ex_gates(model, items))


def ex_gates(model, items):
    from emolab.analysis.gates import collect_gates

    return collect_gates(model, items)
