"""Every chapter notebook follows the book's layout (checked without executing anything)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED_PARAMETERS = ("profile", "data_root", "seed", "device")


def _cells(nb_path: Path) -> list[dict]:
    return json.loads(nb_path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_parameters_cell(nb):
    code = [c for c in _cells(nb) if c["cell_type"] == "code"]
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), f"{nb.name}: first code cell not tagged 'parameters'"
    src = _source(code[0])
    for name in REQUIRED_PARAMETERS:
        assert f"{name} =" in src, f"{nb.name}: parameters cell lacks {name!r}"
    assert 'profile = "smoke"' in src and "data_root = None" in src, f"{nb.name}: defaults must be the smoke profile"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_layout(nb):
    cells = _cells(nb)
    opening = _source(cells[0])
    assert cells[0]["cell_type"] == "markdown" and "What you will learn" in opening, nb.name
    assert "Estimated time" in opening, nb.name
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    assert "## Summary" in markdown and "## Exercises" in markdown, nb.name
    assert any("solution" in c.get("metadata", {}).get("tags", []) for c in cells), f"{nb.name}: no solution cell"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(nb):
    for cell in _cells(nb):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{nb.name} has stored outputs"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_is_in_the_table_of_contents(nb):
    toc = (ROOT / "book" / "_toc.yml").read_text()
    assert f"chapters/{nb.stem}" in toc, f"{nb.name} missing from book/_toc.yml"
