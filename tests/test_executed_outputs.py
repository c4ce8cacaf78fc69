"""No warnings in the executed chapters (unless a chapter is about them), solutions folded, and
every exercise's solution checked.

Scans the notebooks as papermill executed them for the book (the session's ``built_book``):
stderr streams and text outputs that carry a Python warning (``SomethingWarning:``), a logged
``WARNING`` line, or a ``FutureWarning`` / deprecation notice.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WARNING = re.compile(r"\b\w*Warning:|^WARNING\b|\bWARNING \[|\bdeprecated\b", flags=re.M | re.I)


def warnings_in(nb: nbformat.NotebookNode) -> list[str]:
    """``"cell N: line"`` for every warning printed into the outputs of an executed notebook."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            found += [f"cell {i}: {line.strip()[:160]}" for line in text.splitlines() if WARNING.search(line)]
    return found


def test_the_scan_finds_warnings():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr",
                                                  text="/x.py:3: UserWarning: groups parameter is ignored by KFold\n")]  # fmt: skip
    assert warnings_in(nb) == ["cell 0: /x.py:3: UserWarning: groups parameter is ignored by KFold"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [nb.name for nb in NOTEBOOKS])
def test_no_warnings_in_executed_outputs(built_book, name):
    out, _ = built_book
    found = warnings_in(nbformat.read(out / "chapters" / name, as_version=4))
    assert not found, f"{name} prints warnings:\n  " + "\n  ".join(found)


@pytest.mark.slow
def test_solutions_are_folded_in_the_book(built_book):
    out, _ = built_book
    for nb_path in sorted((out / "chapters").glob("*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            tags = cell.metadata.get("tags", [])
            if "solution" in tags:
                assert "hide-cell" in tags, f"{nb_path.name}: a solution is not folded"


def unchecked_exercises(nb: nbformat.NotebookNode) -> list[str]:
    """``"cell N: verdict"`` for every check cell (``check("name", ...)``) of an executed notebook
    whose output is not a "correct" verdict (also when it shows no verdict at all)."""
    found = []
    for i, cell in enumerate(nb.cells):
        m = re.search(r'^check\("(\w+)"', cell.source, flags=re.M) if cell.cell_type == "code" else None
        if m is None:
            continue
        texts = ["".join(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", [])]
        if not any(t.startswith(f"{m.group(1)}: correct") for t in texts):
            found.append(f"cell {i}: {' | '.join(texts) or 'no verdict'}")
    return found


def test_the_scan_finds_an_unchecked_exercise():
    cells = [nbformat.v4.new_code_cell('check("f", f)') for _ in range(3)]
    cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "f: correct (2 checks passed)"})]
    cells[1].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "f: not attempted yet"})]
    nb = nbformat.v4.new_notebook(cells=cells)
    assert unchecked_exercises(nb) == ["cell 1: f: not attempted yet", "cell 2: no verdict"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [nb.name for nb in NOTEBOOKS])
def test_every_solution_passed_its_check(built_book, name):
    """The book runs with solutions=True: each check cell must show its solution correct."""
    out, _ = built_book
    nb = nbformat.read(out / "chapters" / name, as_version=4)
    assert any(c.cell_type == "code" and c.source.startswith("check(") for c in nb.cells), f"{name}: no check cell"
    found = unchecked_exercises(nb)
    assert not found, f"{name}: exercises whose solution was not shown correct:\n  " + "\n  ".join(found)
