"""`emolab sweep`: grids from a chapter or a YAML file, run headless, resumed, summarised."""

from __future__ import annotations

import pytest

from emolab import experiments as ex
from emolab import sweep_config
from emolab.cli import main
from emolab.sweep_config import chapter_grids, load_grid_file, run_parameters, sweep_cells
from emolab.train.results import finished_cells, load_results
from test_sweep import _cells

GRID_YAML = """
grids:
  - models: [toy]
    modalities: [[bio], [face, bio]]
    tasks: [valence]
    protocols: [paper-segment-kfold, trial-kfold]
  - models: [toy]
    modalities: [[bio]]
    tasks: [valence]
    protocols: [trial-kfold]
    synthetic: {fingerprint: 0.0}
"""


def test_chapter_grids_are_the_registry():
    assert chapter_grids("fusion") == [ex.grid("fusion").kwargs()]
    control = chapter_grids("control")
    assert len(control) == 2 and all(g["synthetic"] == ex.NO_SIGNATURE_KNOBS for g in control)
    assert all(g["preprocessing"] == ex.NO_SIGNATURE_PREPROCESSING for g in control)
    signatures = chapter_grids("signatures")
    assert len(signatures) == len(ex.SIGNATURE_SOURCES)
    results = chapter_grids("results")
    assert [g["models"] for g in results] == [["safavi", "gbvnet"]]
    from emolab.experiments.grids import MODALITY_DROPOUT, OPTION_ARMS

    arms = chapter_grids("concat arms")
    assert [g["model_kwargs"] for g in arms] == [ex.FUSION_ARMS[a]["model_kwargs"] for a in OPTION_ARMS]
    balance = chapter_grids("balance")
    assert [g.get("train", {}).get("balance", {}).get("method", "joint") for g in balance] == [
        "joint", "late ensemble", "gradient blending", "ogm-ge", "joint", "joint"]
    assert [g.get("model_kwargs") for g in balance][-2:] == [{"modality_dropout": MODALITY_DROPOUT},
                                                               {"auxiliary_heads": True}]
    assert all("model_kwargs" not in g for g in chapter_grids("concat"))
    n = {"unimodal": 1, "control": 2, "concat": 1, "concat arms": 2, "gated": 1, "gated arms": 2, "fusion": 1,
         "results": 1, "balance": len(ex.BALANCE_ARMS), "signatures": len(ex.SIGNATURE_SOURCES)}
    assert set(n) == set(ex.GRIDS) and len(chapter_grids("all")) == sum(n.values())
    with pytest.raises(KeyError, match="known"):
        chapter_grids("leakage")


def test_grid_file_is_checked(tmp_path):
    f = tmp_path / "grid.yaml"
    f.write_text(GRID_YAML)
    grids = load_grid_file(f)
    assert len(grids) == 2 and grids[0]["modalities"] == [("bio",), ("face", "bio")]
    f.write_text("models: [safavi]\nmodalities: [bio]\n")
    with pytest.raises(ValueError, match=r"grid.yaml: grid 1: modalities must be a list of lists"):
        load_grid_file(f)
    f.write_text("models: [safavi]\nmodalities: [[bio]]\nepochs: 3\n")
    with pytest.raises(ValueError, match=r"\['epochs'\] unknown"):
        load_grid_file(f)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_grid_file(tmp_path / "none.yaml")
    with pytest.raises(KeyError, match="unknown sweep parameter"):
        run_parameters({"profle": "full"})


def test_sweep_cells_prepares_one_dataset_per_knobs(monkeypatch, caplog_emolab):
    prepared, asked = [], []

    def prepare(data_root, *, profile, seed, verbose, modalities, **knobs):
        prepared.append((data_root, profile.name, seed, modalities, knobs))
        return f"data{knobs}"

    def grid_cells(dataset, *, profile, seed, device, **grid):
        asked.append((dataset, device, grid))
        return _cells(modalities=grid["modalities"], protocols=grid["protocols"])

    monkeypatch.setattr(ex, "prepare_segments", prepare)
    monkeypatch.setattr(ex, "grid_cells", grid_cells)
    grids = [dict(models=["toy"], modalities=[("bio",)], protocols=["trial-kfold"]),
             dict(models=["toy"], modalities=[("bio",)], protocols=["trial-kfold", "loso"]),
             dict(models=["toy"], modalities=[("bio",)], protocols=["trial-kfold"],
                  synthetic={"fingerprint": 0.0}),
             dict(models=["toy"], modalities=[("bio",)], protocols=["trial-kfold"],
                  synthetic={"fingerprint": 0.0}, preprocessing={"baseline": False})]  # fmt: skip
    profiles = []
    real_grid_cells = grid_cells

    def grid_cells_profile(dataset, *, profile, seed, device, **grid):
        profiles.append(profile.baseline)
        return real_grid_cells(dataset, profile=profile, seed=seed, device=device, **grid)

    monkeypatch.setattr(ex, "grid_cells", grid_cells_profile)
    cells = sweep_cells(grids, profile="smoke", seed=3, device="cpu")
    both = ("face", "bio")
    # one store per distinct synthetic knobs and preprocessing
    assert prepared == [(None, "smoke", 3, both, {}), (None, "smoke", 3, both, {"fingerprint": 0.0}),
                        (None, "smoke", 3, both, {"fingerprint": 0.0})]  # fmt: skip
    assert profiles == [True, True, True, False]
    assert [a[0] for a in asked] == ["data{}", "data{}", "data{'fingerprint': 0.0}", "data{'fingerprint': 0.0}"]
    assert all(a[1] == "cpu" and "synthetic" not in a[2] for a in asked)
    assert len({c.cell_id for c in cells}) == len(cells)  # grids 1-3 share cells: listed once
    n = len(prepared)
    caplog_emolab.clear()  # the grid that needs the generator is skipped, with a line saying why
    assert sweep_cells(grids[2:], data_root="/data/deap") == []
    assert len(prepared) == n and "synthetic data only" in caplog_emolab.text
    no_video = dict(models=["toy"], modalities=[("bio",)], protocols=["trial-kfold"],
                    synthetic={"fingerprint": 2.0, "face_subjects": 0})  # fmt: skip
    sweep_cells([no_video], profile="smoke", seed=3)
    assert prepared[-1][3] == ("bio",)  # chapter 09's bio-only store, not a second face store


def test_emolab_sweep_runs_resumes_and_summarises(tmp_path, monkeypatch, capsys):
    f = tmp_path / "grid.yaml"
    f.write_text(GRID_YAML)
    seen = {}

    def cells_of(grids, **params):  # the toy cells instead of a synthetic store
        seen.update(params, grids=grids)
        return _cells(modalities=[("bio",)])

    monkeypatch.setattr(sweep_config, "sweep_cells", cells_of)
    out = tmp_path / "r.csv"
    args = ["sweep", "--config", str(f), "--results", str(out), "--jobs", "1", "-p", "seed=2"]
    assert main(args) == 0
    assert seen["seed"] == 2 and seen["device"] == "auto" and len(seen["grids"]) == 2
    assert finished_cells(out) == {c.cell_id for c in _cells(modalities=[("bio",)])}
    text = capsys.readouterr().out
    assert "sweep: 4 cells (smoke profile, local backend): 0 already done, 4 run now" in text
    assert "0 missing" in text and "trial-kfold" in text
    assert main(args) == 0  # resumed: nothing left
    assert "4 already done, 0 run now" in capsys.readouterr().out
    assert len(load_results(out)) == len(load_results(out).drop_duplicates(["cell_id", "subject"]))


def test_emolab_sweep_usage_errors(tmp_path, capsys):
    assert main(["sweep"]) == 1
    assert "give either --chapter NAME or --config FILE" in capsys.readouterr().err
    assert main(["sweep", "--chapter", "fusion", "--gpus-per-cell", "0.5"]) == 1
    assert "need --backend ray" in capsys.readouterr().err
    assert main(["sweep", "--chapter", "fusion", "--backend", "ray", "--jobs", "2"]) == 1
    assert "--jobs is for --backend local" in capsys.readouterr().err


def test_every_registry_grid_and_every_name_the_cluster_page_lists_is_a_sweep_chapter(capsys):
    """``emolab sweep --chapter NAME`` takes every grid of the registry; the cluster page lists
    exactly those names; an unknown one is refused naming the known ones."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "book" / "cluster.md").read_text()
    listed = re.search(r"--chapter ([a-z |]+)`", page).group(1).split(" | ")
    assert set(listed) == {*ex.GRIDS, "all"}
    for name in listed:
        assert chapter_grids(name)
    assert main(["sweep", "--chapter", "leakage", "--results", "/nonexistent/r.csv"]) != 0
    assert "known" in capsys.readouterr().err
