"""The result chapters on a data folder read as real data: what needs the synthetic generator is
skipped with a line saying why, everything else runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = ["05_unimodal_ablations", "06_fusion_concat", "07_fusion_gated", "08_results", "09_why_97_percent"]


@pytest.mark.slow
def test_result_chapters_execute_with_data_root(tmp_path, monkeypatch):
    """Chapters 05-09 with ``data_root`` a synthetic DEAP-format folder on disk (smaller than the
    book's: 4 subjects of 8 trials), read as real data: every chapter executes, chapter 05's
    control (it needs the generator's knobs) is skipped with a line saying why, and the chapters'
    cells were trained on the folder's own store.  (Chapter 09 measures its trial-signature sources
    on synthetic stores whatever ``data_root`` says, feature baselines only: its grids need the
    generator by design.)"""
    from emolab import experiments as ex
    from emolab.book import execute_notebooks
    from emolab.data.synthetic import ensure_synthetic
    from emolab.train.results import load_results

    monkeypatch.setenv("EMOLAB_HOME", str(tmp_path / "home"))
    root = ensure_synthetic(root=tmp_path / "deap", preset="book", seed=2, n_subjects=4, n_trials=8)
    (tmp_path / "nb").mkdir()
    for name in CHAPTERS:
        (tmp_path / "nb" / f"{name}.ipynb").write_text((NOTEBOOKS / f"{name}.ipynb").read_text())
    # chapter 09's synthetic sources: two are enough to show the path (the others ignore the name)
    params = {"data_root": str(root), "seed": 2, "sources": ["none", "baseline template"]}
    runs = execute_notebooks(tmp_path / "nb", tmp_path / "out", parameters=params)
    assert [r.error for r in runs] == [None] * len(CHAPTERS)
    nb = json.loads((tmp_path / "out" / "05_unimodal_ablations.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "the control needs the synthetic generator's knobs; skipped" in printed
    results = load_results(ex.default_results_path("smoke"))
    stores = {json.loads(c)["data"]["kwargs"]["store"] for c in results["config"]}
    readers = {json.loads((Path(s) / "config.json").read_text())["reader"]["root"] for s in stores}
    assert str(Path(root).resolve()) in readers
