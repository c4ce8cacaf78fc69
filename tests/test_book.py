"""The whole book: every notebook executes with papermill (smoke profile) and the book builds clean.

This is the slowest test of the suite (it runs every chapter); it builds into a temporary folder
so the checkout is left untouched.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.version import Version

from emolab.book import BookError, build_book, execute_notebooks, scan_html_for_errors

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.slow
def test_every_notebook_executes(built_book):
    out, report = built_book
    assert [r.name for r in report.runs] == [p.name for p in NOTEBOOKS]
    for r in report.runs:
        print(f"{r.name}: {r.seconds:.1f} s")  # shown with -rA; the per-chapter run times
    for nb in NOTEBOOKS:
        executed = nbformat.read(out / "chapters" / nb.name, as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{nb.name}: {errors[0]['ename']}"
        assert all(c.execution_count for c in executed.cells if c.cell_type == "code" and c.source.strip())


@pytest.mark.slow
def test_book_html_has_every_chapter_and_no_errors(built_book):
    out, report = built_book
    html = report.html_dir
    assert (html / "index.html").is_file()
    for nb in NOTEBOOKS:
        page = html / "chapters" / f"{nb.stem}.html"
        assert page.is_file(), f"no page for {nb.name}"
    assert scan_html_for_errors(html) == []


def _write_notebook(path: Path, cells: list[str], tags: dict[int, list[str]] | None = None) -> None:
    """A notebook of code cells, the first tagged ``parameters``, others tagged by ``tags``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
    nb.cells[0].metadata["tags"] = ["parameters"]
    for i, t in (tags or {}).items():
        nb.cells[i].metadata["tags"] = t
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_failures_are_all_reported_with_notebook_and_cell(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    _write_notebook(src / "00_ok.ipynb", ["x = 1", "y = x + 1"])
    _write_notebook(src / "01_bad.ipynb", ["x = 1", "raise ValueError('broken on purpose')"])
    _write_notebook(src / "02_worse.ipynb", ["x = 1", "1 / 0"])
    runs = execute_notebooks(src, tmp_path / "out")
    assert [r.name for r in runs] == ["00_ok.ipynb", "01_bad.ipynb", "02_worse.ipynb"]
    assert runs[0].error is None
    assert "ValueError" in runs[1].error and "broken on purpose" in runs[1].error and "cell 2" in runs[1].error
    assert "ZeroDivisionError" in runs[2].error


def test_parameters_are_injected(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    _write_notebook(src / "00_p.ipynb", ["profile = 'smoke'", "assert profile == 'full', profile"])
    runs = execute_notebooks(src, tmp_path / "out", parameters={"profile": "full"})
    assert runs[0].error is None, runs[0].error


def test_scan_finds_a_rendered_traceback(tmp_path):
    (tmp_path / "ok.html").write_text("<html><div class='cell_output'>fine</div></html>")
    assert scan_html_for_errors(tmp_path) == []
    (tmp_path / "bad.html").write_text("<pre>Traceback (most recent call last):\n  File ...</pre>")
    assert [p.split(":")[0] for p in scan_html_for_errors(tmp_path)] == ["bad.html"]


def test_build_book_raises_naming_the_failing_notebook(tmp_path):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "book").mkdir()
    for path in ROOT.joinpath("book").glob("*.*"):
        if path.suffix in (".yml", ".md", ".bib"):
            (project / "book" / path.name).write_text(path.read_text())
    _write_notebook(project / "notebooks" / "00_bad.ipynb", ["x = 1", "import no_such_module_xyz"])
    # cell 3: papermill runs the parameters build_book injects (solutions=True) as cell 2
    with pytest.raises(BookError, match=r"00_bad\.ipynb: cell 3: ModuleNotFoundError"):
        build_book(project)


@pytest.mark.parametrize("page", ["book/cluster.md", "README.md"])
def test_cluster_instructions_keep_the_cluster_private(page):
    text = (ROOT / page).read_text()
    assert "Keep your cluster private" in text, f"{page}: no 'Keep your cluster private' paragraph"
    for needed in ("private network", "--node-ip-address", "RAY_AUTH_MODE=token", "ray get-auth-token",
                   "--dashboard-host=127.0.0.1", "https://docs.ray.io/en/latest/ray-security/index.html"):  # fmt: skip
        assert needed in text, f"{page}: the cluster instructions do not mention {needed}"
    # every `ray start` of the page, joined across backslash continuations, uses those settings
    commands = [c for c in re.sub(r"\\\n\s*", " ", text).splitlines() if "ray start" in c and "`" not in c]
    assert any("--head" in c for c in commands), f"{page}: no command that starts the head"
    for command in commands:
        assert "--node-ip-address=" in command, f"{page}: {command.strip()}"
        if "--head" in command:
            assert "--dashboard-host=127.0.0.1" in command, f"{page}: {command.strip()}"
    head = text.index("ray start --head")
    assert text.rfind("RAY_AUTH_MODE=token", 0, head) != -1, f"{page}: token auth is set after the head starts"


def test_ray_extra_has_token_authentication():
    # RAY_AUTH_MODE=token, which the cluster page relies on, came with Ray 2.52.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("ray", "test"):
        (spec,) = [r for r in extras[extra] if r.startswith("ray")]
        assert Version(spec.split(">=")[1]) >= Version("2.52"), f"pyproject.toml [{extra}]: {spec}"
