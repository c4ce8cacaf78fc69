"""Readable code in the book, and a structure a course can follow (checked without executing).

* every code cell is formatted by ruff (``ruff format notebooks/``, line length 88: what the
  book's code column shows without cutting lines) and no cell is longer than 15 lines;
* every chapter's opening links its prerequisites, and its numbered sections carry estimated
  times that add up to the chapter's estimated time;
* every glossary term is linked where the book first uses it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_LINE, MAX_CELL_LINES = 88, 15


def _params():
    return [pytest.param(nb, id=nb.stem) for nb in NOTEBOOKS]


def _cells(nb: Path) -> list[dict]:
    return json.loads(nb.read_text())["cells"]


def _code(nb: Path) -> list[tuple[int, str]]:
    return [(i, "".join(c["source"])) for i, c in enumerate(_cells(nb)) if c["cell_type"] == "code"]


@pytest.mark.parametrize("nb", _params())
def test_code_lines_fit_the_page(nb):
    long = [(i, line) for i, src in _code(nb) for line in src.splitlines() if len(line) > MAX_LINE]
    assert not long, f"{nb.name}: {len(long)} lines over {MAX_LINE} characters, first in cell {long[0][0]}: {long[0][1]!r}"


@pytest.mark.parametrize("nb", _params())
def test_code_cells_are_short(nb):
    tall = [(i, len(src.splitlines())) for i, src in _code(nb) if len(src.splitlines()) > MAX_CELL_LINES]
    assert not tall, f"{nb.name}: cells over {MAX_CELL_LINES} lines (cell, lines): {tall}; move code into emolab"


@pytest.mark.parametrize("nb", _params())
def test_notebook_is_formatted(nb):
    ruff = Path(sys.executable).with_name("ruff")
    cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    proc = subprocess.run([*cmd, "format", "--check", "--diff", str(nb)], capture_output=True, text=True)
    assert proc.returncode == 0, f"run `ruff format {nb.relative_to(ROOT)}`:\n{proc.stdout[-2000:]}{proc.stderr[-500:]}"


def _opening(nb: Path) -> str:
    return "".join(_cells(nb)[0]["source"])


@pytest.mark.parametrize("nb", _params())
def test_prerequisites_are_linked(nb):
    opening = _opening(nb)
    m = re.search(r"\*\*Needs:\*\*(.*?)(?:\n\n|$)", opening, flags=re.S)
    assert m, f"{nb.name}: the opening cell has no '**Needs:**' line"
    needs = m.group(1)
    if not needs.strip().startswith("nothing"):
        assert re.search(r"\]\((?:\.\./)?[\w./-]+\.(?:ipynb|md)\)", needs), f"{nb.name}: prerequisites not linked: {needs!r}"


@pytest.mark.parametrize("nb", _params())
def test_section_times_add_up(nb):
    md = "\n".join("".join(c["source"]) for c in _cells(nb) if c["cell_type"] == "markdown")
    sections = re.findall(r"^## \d+\. .*$", md, flags=re.M)
    times = [re.search(r"\((\d+) min\)\s*$", s) for s in sections]
    assert sections and all(times), f"{nb.name}: sections without '(N min)': {[s for s, t in zip(sections, times) if not t]}"
    total = re.search(r"\*\*Estimated time:?\*\*:? *(\d+) minutes", _opening(nb))
    assert total, f"{nb.name}: no '**Estimated time:** N minutes'"
    assert sum(int(t.group(1)) for t in times) == int(total.group(1)), nb.name


def _glossary_terms() -> list[str]:
    text = (ROOT / "book" / "glossary.md").read_text()
    block = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith(" ")]


def _reading_order() -> list[tuple[str, str]]:
    """(name, markdown text) of the book's pages in reading order, up to the last chapter."""
    pages = [("intro.md", (ROOT / "book" / "intro.md").read_text())]
    for nb in NOTEBOOKS:
        md = "\n".join("".join(c["source"]) for c in _cells(nb) if c["cell_type"] == "markdown")
        pages.append((nb.name, md))
    return pages


def test_glossary_terms_are_linked_at_their_first_use():
    unlinked = []
    for term in _glossary_terms():
        word = re.compile(rf"(?<![\w-]){re.escape(term)}s?(?![\w-])", flags=re.I)
        link = re.compile(rf"{{term}}`(?:{re.escape(term)}|[^`<]*<{re.escape(term)}>)`", flags=re.I)
        first = next(((name, text) for name, text in _reading_order() if word.search(text)), None)
        if first is not None and not link.search(first[1]):
            unlinked.append(f"{term} (first used in {first[0]})")
    assert not unlinked, "glossary terms not linked where first used: " + ", ".join(unlinked)


def test_table_of_contents_has_parts_and_the_course_pages():
    import yaml

    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    captions = [p["caption"] for p in toc["parts"]]
    assert len(captions) >= 4, captions
    files = [c["file"] for p in toc["parts"] for c in p["chapters"]]
    for page in ("glossary", "notation", "teaching", "bibliography"):
        assert page in files and (ROOT / "book" / f"{page}.md").is_file(), page
