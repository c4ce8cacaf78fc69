"""The full profile's settings on real-shaped data: subjects with face video, per-model frame
rates, augmentations and protocols, GBV-Net's fold-averaged pooled results, one test set for
every model, the dataset format of a folder, EOG regression on DEAP's cleaned files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emolab import experiments as ex
from emolab.data.formats import detect_format

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# Full-profile settings on a tiny set: subject 1 has face video (one trial of it missing),
# subject 2 has none, as DEAP's participants 23-32.
TINY = ex.get_profile("full", n_splits=2, max_folds=1, epochs=1, patience=1, batch_size=16,
                      segments_per_trial=3, face_size=16, n_jobs=1)  # fmt: skip


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    from emolab.data.synthetic import ensure_synthetic

    base = tmp_path_factory.mktemp("full")
    root = ensure_synthetic(root=base / "syn", n_subjects=2, n_trials=4, trial_s=3.0, face_subjects=1,
                            missing_videos=((1, 4),))  # fmt: skip
    ds = ex.prepare_segments(root, profile=TINY, store_root=base / "store")
    both = ex.prepare_segments(root, profile=TINY.replace(face_subjects_only=False), store_root=base / "store")
    return base, root, ds, both


def test_full_profile_has_the_papers_per_model_settings():
    full, smoke = ex.get_profile("full"), ex.get_profile("smoke")
    assert full.face_subjects_only and full.eog_regression is None
    assert full.model_fps == {"gbvnet": {"deap": 10.0, "mahnob": 12.0}} and "safavi" not in full.model_fps
    assert full.augment_models == ("gbvnet",)
    # the CI profile: one store for every model, no augmentation; each model's paper protocol
    # is a fact of its paper, the same in every profile (ex.paper_protocol)
    assert (smoke.model_fps, smoke.augment_models) == ({}, ())
    assert [ex.paper_protocol(m) for m in ("safavi", "gbvnet")] == ["paper-segment-kfold", "pooled-segment-kfold"]
    assert smoke.eog_regression is True and not smoke.face_subjects_only
    assert ex.ExperimentProfile(**full.to_dict()) == full


@pytest.mark.parametrize("fmt, rate", [("deap", 50.0), ("mahnob", 60.0)])
def test_real_size_presets_film_at_the_datasets_rates(fmt, rate):
    from emolab.data.synthetic import make_config

    cfg = make_config(fmt=fmt, preset="deap")
    assert cfg.video_fps == rate  # DEAP's videos: 50 fps; MAHNOB-HCI's: about 60
    wanted = [fps[fmt] for fps in ex.get_profile("full").model_fps.values()] + [5.0]
    assert all(cfg.video_fps >= f and (cfg.video_fps / f).is_integer() for f in wanted)


def test_detect_format(tmp_path):
    (tmp_path / "d" / "data_preprocessed_python").mkdir(parents=True)
    (tmp_path / "m" / "Sessions").mkdir(parents=True)
    assert detect_format(tmp_path / "d") == "deap" and detect_format(tmp_path / "m") == "mahnob"
    with pytest.raises(FileNotFoundError, match="neither"):
        detect_format(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        detect_format(tmp_path / "nowhere")
    (tmp_path / "m" / "data_preprocessed_python").mkdir()
    with pytest.raises(FileNotFoundError, match="both"):
        detect_format(tmp_path / "m")


def test_only_subjects_with_face_video(faces):
    _, _, ds, both = faces
    assert list(ds.subjects) == [1] and set(ds.metadata["subject"]) == {1}
    assert list(both.subjects) == [1, 2] and ex.face_subjects(both) == [1]
    assert not ds.metadata["has_face"].all()  # trial 4 of subject 1 has no video
    with pytest.raises(ValueError, match="face_subjects_only"):
        ex.prepare_segments(None, profile=TINY, modalities=("bio",))


def test_grid_cells_apply_the_per_model_settings(faces, caplog):
    base, root, _, both = faces
    profile = TINY.replace(face_subjects_only=False)
    with caplog.at_level(logging.WARNING, logger="emolab"):
        cells = ex.grid_cells(both, models=["safavi", "gbvnet"], modalities=[("bio",), ("face",), ("face", "bio")],
                              tasks=["valence"], protocols=["paper", "trial-kfold"],
                              profile=profile)  # fmt: skip
    assert "not on the same subjects" in caplog.text
    for c in cells:
        kw = c.data["kwargs"]
        face_fps = json.loads((Path(kw["store"]) / "config.json").read_text())["face"]["fps"]
        assert face_fps == (10.0 if c.model == "gbvnet" else 5.0), c.cell_id
        assert kw["subjects"] == ([1] if "face" in c.modalities else [1, 2]), c.cell_id
        assert c.train["augment"]["face_flip"] is (c.model == "gbvnet")
        assert c.train["augment"]["bio_scale"] is (c.model == "gbvnet")
    protocols = {(c.model, c.protocol) for c in cells}
    assert ("gbvnet", "pooled-segment-kfold") in protocols and ("gbvnet", "paper-segment-kfold") not in protocols
    assert ("safavi", "paper-segment-kfold") in protocols
    # a protocol named as such means the same for every model
    named = ex.grid_cells(both, models=["gbvnet"], modalities=[("bio",)], tasks=["valence"],
                          protocols=["paper-segment-kfold"], profile=profile)  # fmt: skip
    assert {c.protocol for c in named} == {"paper-segment-kfold"}
    # GBV-Net's face cells read 10 frames per second
    assert {c.model_kwargs["n_frames"] for c in cells if c.model == "gbvnet"} == {10}
    # chapter 07 opens GBV-Net's own store: the same one its cells read
    own = ex.prepare_segments(root, profile=profile, model="gbvnet", store_root=base / "store")
    assert ex.segment_shapes(own)["n_frames"] == 10
    gb = ex.grid_cells(own, models=["gbvnet"], modalities=[("face",)], tasks=["valence"],
                       protocols=["trial-kfold"], profile=profile)  # fmt: skip
    assert {c.data["kwargs"]["store"] for c in gb} == {str(Path(own.store.path).resolve())}


def test_a_store_at_another_frame_rate_builds_with_worker_processes(faces, monkeypatch):
    """segments_at_fps builds like every store build: n_jobs workers, one per core by default."""
    from emolab.experiments import segments

    *_, both = faces
    asked = []

    def build_store(*args, n_jobs, **kwargs):
        asked.append(n_jobs)
        raise RuntimeError("stop")  # only the call is checked

    monkeypatch.setattr(segments, "build_store", build_store)
    for n_jobs, expected in ((3, 3), (None, ex.available_cores())):
        with pytest.raises(RuntimeError, match="stop"):
            ex.segments_at_fps(both, 7.0, n_jobs=n_jobs)
        assert asked[-1] == expected
    with pytest.raises(RuntimeError, match="stop"):  # and so does the grid that needs it
        ex.grid_cells(both, models=["gbvnet"], modalities=[("face",)], profile=TINY.replace(
            face_subjects_only=False, build_jobs=2, model_fps={"gbvnet": {"deap": 7.0}}))
    assert asked[-1] == 2


def test_fused_and_unimodal_cells_share_the_recipe_and_an_arm_adds_only_its_model_option(faces):
    both = faces[3]
    profile = TINY.replace(face_subjects_only=False, augment_models=(),
                           model_train={"safavi": {"augment": {"bio_time_shift": True, "max_shift": 64},
                                                   "weight_decay": 0.01}})  # fmt: skip
    grid = dict(models=["safavi", "gbvnet"], modalities=[("bio",), ("face", "bio")], tasks=["valence"],
                protocols=["trial-kfold"], profile=profile)  # fmt: skip
    cells = ex.grid_cells(both, **grid)
    assert {(c.model, len(c.modalities)) for c in cells} == {(m, k) for m in ("safavi", "gbvnet") for k in (1, 2)}
    for c in cells:
        mine = c.model == "safavi"
        assert c.train["augment"]["bio_time_shift"] is mine, c.cell_id
        assert c.train["augment"]["max_shift"] == (64 if mine else 12), c.cell_id
        assert not c.train["augment"]["bio_noise"], c.cell_id  # the other fields keep their values
        assert c.train["weight_decay"] == (0.01 if mine else 0.0), c.cell_id
        assert "auxiliary_heads" not in c.model_kwargs and "normalize_features" not in c.model_kwargs
    arm = ex.grids("concat arms")[0]
    armed = ex.grid_cells(both, **{**grid, "modalities": [("face", "bio")]}, model_kwargs=arm.model_kwargs)
    plain = {(c.model, c.subject, c.fold): c for c in cells if len(c.modalities) > 1}
    for c in armed:
        ref = plain[(c.model, c.subject, c.fold)]
        assert c.train == ref.train
        assert {k: v for k, v in c.model_kwargs.items() if k not in arm.model_kwargs} == ref.model_kwargs
        assert c.cell_id != ref.cell_id


@pytest.mark.parametrize("bad, match", [
    (dict(model_train={"safavi": {"weight_decy": 0.1}}), "weight_decy"),
    (dict(model_train={"safavi": {"augment": {"bio_shift": True}}}), "augment.bio_shift"),
    (dict(model_train={"safavi": {"augment": True}}), "augment"),
    (dict(model_train={"safavi": True}), "model_train"),
])  # fmt: skip
def test_profile_refuses_recipe_settings_it_cannot_apply(bad, match):
    with pytest.raises(ValueError, match=match):
        ex.get_profile("smoke", **bad)



def test_has_face_results_share_one_test_set(faces):
    base, _, ds, _ = faces
    path = base / "results" / "results.csv"
    res = ex.run_grid(ds, models=["safavi"], modalities=[("face",), ("face", "bio"), ("bio",)], tasks=["arousal"],
                      protocols=["trial-kfold"], profile=TINY.replace(max_folds=None), results_path=path,
                      progress=False, train={"val_fraction": 0.0})  # fmt: skip
    n = res.groupby("modalities")["n_test"].sum()
    assert n["face+bio"] == n["bio"] > n["face"]  # the face-only cells leave faceless segments out
    same = ex.has_face_results(res, ds, path)
    m = same.groupby("modalities")["n_test"].sum()
    assert (same["test_set"] == "has_face").all() and len(same) == len(res)
    assert m["face+bio"] == m["bio"] == m["face"] == n["face"]
    face = res["modalities"] == "face"
    assert np.allclose(same.loc[face.to_numpy(), "accuracy"], res.loc[face, "accuracy"])


def test_pooled_results_are_scored_per_subject_and_eq7_is_available():
    from emolab.train.metrics import aggregate_folds

    # two folds of a pooled protocol, each with rows of two test subjects
    rows = pd.DataFrame({
        "model": "gbvnet", "modalities": "bio", "task": "valence", "protocol": "pooled-segment-kfold",
        "leaky": True, "fold": [0, 0, 1, 1], "subject": [1, 2, 1, 2],
        "accuracy": [1.0, 0.5, 0.8, 0.2], "n_test": [10, 30, 25, 25], "n_pos": [5, 15, 10, 20],
        "balanced_accuracy": 0.5, "majority_baseline": [0.5, 0.5, 0.6, 0.8],
    })  # fmt: skip
    by = ["model", "modalities", "task", "protocol"]
    fold_acc = [(10 * 1.0 + 30 * 0.5) / 40, (25 * 0.8 + 25 * 0.2) / 50]  # 0.625, 0.5
    out = aggregate_folds(rows, by=by, metrics=["accuracy", "majority_baseline"])  # GBV-Net's Eq. 7
    assert out["accuracy"].iloc[0] == pytest.approx(np.mean(fold_acc)) and out["n_folds"].iloc[0] == 2
    # the book's summary: each subject's test segments pooled over the folds, then the subjects
    per_subject = np.mean([(10 * 1.0 + 25 * 0.8) / 35, (30 * 0.5 + 25 * 0.2) / 55])
    assert abs(per_subject - np.mean(fold_acc)) > 0.04
    s = ex.summarize(rows)
    assert s["accuracy"].iloc[0] == pytest.approx(per_subject) and s["unit"].iloc[0] == "subject"
    assert s["n_folds"].iloc[0] == 2 and s["n_subjects"].iloc[0] == 2
    # a per-subject protocol in the same table is summarised the same way
    other = rows.assign(protocol="trial-kfold", leaky=False)
    both = ex.summarize(pd.concat([rows, other], ignore_index=True)).set_index("protocol")
    assert both.loc["trial-kfold", "unit"] == "subject"
    assert both.loc["trial-kfold", "accuracy"] == pytest.approx(per_subject)


def test_leak_gap_reads_each_models_own_paper_protocol():
    rows = [("safavi", "paper-segment-kfold", 0.9), ("safavi", "trial-kfold", 0.6),
            ("gbvnet", "pooled-segment-kfold", 0.95), ("gbvnet", "paper-segment-kfold", 0.8),
            ("gbvnet", "trial-kfold", 0.55)]  # fmt: skip
    summary = pd.DataFrame([{"model": m, "modalities": "bio", "task": "valence", "protocol": p, "accuracy": a,
                             "accuracy_ci_low": a - 0.01, "accuracy_ci_high": a + 0.01} for m, p, a in rows])  # fmt: skip
    plain = ex.protocol_gaps(summary, leaky="paper-segment-kfold").set_index("model")
    assert plain.loc["gbvnet", "gap"] == pytest.approx(0.25)  # the per-subject rows, as named
    own = ex.protocol_gaps(summary, leaky="paper").set_index("model")  # each model's paper protocol
    assert own.loc["gbvnet", "gap"] == pytest.approx(0.40) and own.loc["safavi", "gap"] == pytest.approx(0.30)
    only_pooled = summary[summary["protocol"] != "paper-segment-kfold"]
    gaps = ex.protocol_gaps(only_pooled, leaky="paper").set_index("model")
    assert gaps.index.tolist() == ["gbvnet"] and gaps.loc["gbvnet", "gap"] == pytest.approx(0.40)
    assert summary["protocol"].tolist()[2] == "pooled-segment-kfold"  # the caller's table is untouched


def test_eog_regression_left_to_deaps_preprocessing(tmp_path):
    from emolab.data import read_deap
    from emolab.data.synthetic import ensure_synthetic
    from emolab.preprocess.physio import PhysioConfig, preprocess_record

    root = ensure_synthetic(root=tmp_path / "syn", n_subjects=1, n_trials=1, trial_s=3.0, face_subjects=0)
    rec = next(iter(read_deap(root, subjects=[1], verbose=False)))
    auto = preprocess_record(rec, PhysioConfig(eog_regression=None))
    assert auto.eog_coef is None and any("already cleaned of EOG" in s for s in auto.steps)
    forced = preprocess_record(rec, PhysioConfig(eog_regression=True))
    assert forced.eog_coef is not None
    # on input not preprocessed by the dataset's authors, None regresses
    raw = preprocess_record(rec, PhysioConfig(eog_regression=None, already_filtered=False))
    assert raw.eog_coef is not None


def test_loso_validation_warning_proposes_no_finer_grouping(caplog):
    from emolab.train.protocols import validation_split

    meta = pd.DataFrame({"subject": np.repeat([1, 2, 3], 20), "trial": np.tile(np.repeat([1, 2], 10), 3),
                         "segment": np.tile(np.arange(10), 6)})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="emolab"):
        validation_split(meta, np.arange(60), grouping="subject", val_fraction=0.1)
    assert "holds" in caplog.text and "val_grouping='trial'" not in caplog.text
    assert "subjects the model trains on" in caplog.text


def test_protocols_docstring_places_the_stimulus_leak_right():
    from emolab.train import protocols

    doc = " ".join(protocols.__doc__.split())
    assert "``trial-kfold`` is free of it" in doc and "``loso`` trains on" in doc
    assert "remains even in ``trial-kfold``" not in doc


@pytest.mark.parametrize("name", ["02_physiological_preprocessing", "05_unimodal_ablations",
                                  "06_fusion_concat", "07_fusion_gated"])  # fmt: skip
def test_chapters_take_a_data_format(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    params = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    assert 'data_format = "auto"' in "".join(params["source"])
    assert any("fmt=data_format" in s or "fmt=fmt" in s for s in code)


@pytest.mark.slow
def test_chapter_02_executes_on_mahnob_format_data(tmp_path, monkeypatch):
    """MAHNOB-HCI has no EOG channels and names its skin conductance GSR1: chapter 02 still runs,
    shows EOG regression on DEAP-format data instead, and builds a MAHNOB-HCI store."""
    from emolab.book import execute_notebooks

    monkeypatch.setenv("EMOLAB_HOME", str(tmp_path / "home"))
    (tmp_path / "nb").mkdir()
    name = "02_physiological_preprocessing.ipynb"
    (tmp_path / "nb" / name).write_text((NOTEBOOKS / name).read_text())
    runs = execute_notebooks(tmp_path / "nb", tmp_path / "out", parameters={"data_format": "mahnob", "max_subjects": 2})
    assert runs[0].error is None, runs[0].error
    nb = json.loads((tmp_path / "out" / name).read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "mahnob has no EOG channel" in printed and "EOG regression: skipped (no EOG channel)" in printed
    assert list((tmp_path / "home" / "store").glob("mahnob-*"))

