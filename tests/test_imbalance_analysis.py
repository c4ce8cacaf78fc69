"""Chapter 10's tables and sentences, on hand-made results whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emolab import analysis as an
from emolab import experiments as ex


def _rows(model, mods, task, accs, cell="c"):
    return pd.DataFrame([{"cell_id": f"{cell}{mods}{s}", "model": model, "modalities": mods, "task": task,
                          "protocol": "trial-kfold", "subject": s, "fold": 0, "accuracy": a, "n_test": 10,
                          "n_pos": 5, "majority_baseline": 0.5, "train_seconds": 2.0}
                         for s, a in enumerate(accs, 1)])  # fmt: skip


def test_remedy_table_pairs_each_arm_with_joint_and_the_better_half():
    halves = pd.concat([_rows("m", "face", "valence", [0.6, 0.7, 0.8, 0.7]),
                        _rows("m", "bio", "valence", [0.5, 0.5, 0.5, 0.5])])  # fmt: skip
    arms = {"joint": _rows("m", "face+bio", "valence", [0.5, 0.6, 0.7, 0.6], "j"),
            "late ensemble": _rows("m", "face+bio", "valence", [0.7, 0.8, 0.9, 0.8], "l")}  # fmt: skip
    t = an.remedy_table(arms, halves).set_index("arm")
    assert t.loc["joint", "vs_joint"] == 0 and t.loc["late ensemble", "vs_joint"] == pytest.approx(0.2)
    assert t.loc["late ensemble", "vs_joint_low"] == pytest.approx(0.2)  # the same gain for every subject
    assert t.loc["joint", "best_single"] == "face" and t.loc["joint", "vs_best"] == pytest.approx(-0.1)
    words = an.remedy_sentences(t.reset_index())
    assert "above it" in words[1] and words[-1] == "m valence: all 1 remedies are above joint training."
    with pytest.raises(KeyError, match="reference"):
        an.remedy_table({"late ensemble": arms["late ensemble"]}, halves)
    times = an.run_times(arms)
    assert times["seconds"].tolist() == [8.0, 8.0] and times["n_cells"].tolist() == [4, 4]


def test_probe_curves_and_fit_speed():
    hist = pd.DataFrame([{"model": "m", "task": "valence", "protocol": "trial-kfold", "subject": 1, "fold": 0,
                          "epoch": e, "probe_bio_train_loss": 0.1, "probe_bio_train_accuracy": [0.8, 0.95, 1.0][e - 1],
                          "probe_bio_val_loss": 0.9, "probe_bio_val_accuracy": 0.5,
                          "probe_face_train_loss": 0.6, "probe_face_train_accuracy": 0.7,
                          "probe_face_val_loss": 0.6, "probe_face_val_accuracy": 0.7} for e in (1, 2, 3)])  # fmt: skip
    curves = an.probe_curves(hist, arm="joint")
    assert len(curves) == 3 * 2 * 2 and set(curves["split"]) == {"train", "val"}
    speed = an.fit_speed(curves).set_index("modality")
    assert speed.loc["bio", "median_epoch"] == 2 and np.isnan(speed.loc["face", "median_epoch"])
    assert speed.loc["face", "share_fitted"] == 0
    with pytest.raises(ValueError, match="no probe columns"):
        an.probe_curves(hist[["model", "epoch"]])


def test_every_remedy_arm_names_its_settings_in_the_cell_config():
    for g in ex.grids("balance"):
        kw = g.kwargs()
        if g.arm in ("late ensemble", "gradient blending", "ogm-ge"):
            assert kw["train"]["balance"]["method"] == g.arm and "held_out_fraction" in kw["train"]["balance"]
        else:
            assert "train" not in kw
    assert ex.FUSION_ARMS["gradient blending"]["model_kwargs"] == {"auxiliary_heads": True}
