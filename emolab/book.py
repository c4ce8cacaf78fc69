"""Execute the ordered notebooks with papermill and build the Jupyter Book from the executed copies.

``emolab book`` (and ``make book``) call :func:`build_book`.  Notebooks are executed in file-name
order, each on a fresh kernel, into ``book/chapters/``; the book (Jupyter Book 1.x, with
``execute_notebooks: "off"``) only renders those copies, so nothing runs twice.  All failing
notebooks are reported together, each with the cell that failed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolab._logging import logger

#: Book sources copied when the book is built into another folder (patterns inside book/).
BOOK_SOURCES = ("*.yml", "*.md", "*.bib")
#: Folders of book/ that its pages read (figures and tables made by scripts), copied whole.
BOOK_FOLDERS = ("recipe_search",)
#: Tag of exercise solution cells; in the book they are folded behind a "Show" toggle.
SOLUTION_TAG = "solution"
#: Papermill parameter that runs the exercises' solutions (``%%solution`` cells, see
#: :mod:`emolab.exercises`); :func:`build_book` sets it to True unless told otherwise.
SOLUTIONS_PARAMETER = "solutions"


class BookError(RuntimeError):
    """A notebook failed to execute or the book failed to build."""


@dataclass
class NotebookRun:
    """Outcome of executing one notebook."""

    name: str
    seconds: float
    error: str | None = None


@dataclass
class BookReport:
    """What :func:`build_book` did: one :class:`NotebookRun` per notebook and the HTML folder."""

    runs: list[NotebookRun] = field(default_factory=list)
    html_dir: Path | None = None
    #: :func:`emolab.analysis.chapter_claims` of the executed chapters (None when not checked:
    #: a partial run, real data, or a profile other than ``smoke``).
    claims: Any = None

    @property
    def failures(self) -> list[NotebookRun]:
        return [r for r in self.runs if r.error is not None]


def list_notebooks(notebooks_dir: Path) -> list[Path]:
    """The chapter notebooks in book order (``NN_name.ipynb``, sorted by name)."""
    nbs = sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not nbs:
        raise BookError(f"no notebooks named NN_*.ipynb in {notebooks_dir}")
    return nbs


def _describe_failure(exc: BaseException, executed: Path) -> str:
    """'cell N: ErrorName: message' for a papermill failure, read from the executed notebook."""
    cell = "?"
    try:
        nb = json.loads(executed.read_text())
        for i, c in enumerate(nb["cells"]):
            for out in c.get("outputs", []):
                if out.get("output_type") == "error":
                    cell = str(c.get("execution_count") or f"#{i}")
                    return f"cell {cell}: {out.get('ename')}: {out.get('evalue')}"
    except (OSError, ValueError, KeyError):
        pass
    first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return f"cell {cell}: {first_line}"


def execute_notebooks(
    notebooks_dir: Path,
    out_dir: Path,
    *,
    parameters: dict | None = None,
    only: list[str] | None = None,
    kernel_name: str | None = None,
) -> list[NotebookRun]:
    """Execute every chapter notebook with papermill into ``out_dir``; never stops at a failure.

    Parameters
    ----------
    notebooks_dir : Path
        Folder with the source notebooks (``NN_name.ipynb``).
    out_dir : Path
        Where the executed copies go (created).
    parameters : dict, optional
        Papermill parameters injected into every notebook (e.g. ``{"profile": "smoke"}``); a
        notebook that lacks one of them simply ignores it.
    only : list of str, optional
        Run only the notebooks whose name starts with one of these prefixes (``["00", "04"]``).
    kernel_name : str, optional
        Jupyter kernel; default: the notebook's own (``python3``, i.e. this interpreter).
    """
    import papermill as pm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for nb in list_notebooks(Path(notebooks_dir)):
        if only and not any(nb.name.startswith(p) for p in only):
            continue
        target = out_dir / nb.name
        logger.info("executing %s", nb.name)
        t0 = time.perf_counter()
        error = None
        try:
            pm.execute_notebook(
                str(nb),
                str(target),
                parameters=dict(parameters or {}),
                kernel_name=kernel_name,
                cwd=str(nb.parent),
                progress_bar=False,
                log_output=False,
            )
        except Exception as exc:  # papermill raises PapermillExecutionError and kernel errors
            error = _describe_failure(exc, target)
            logger.error("%s failed: %s", nb.name, error)
        runs.append(NotebookRun(nb.name, time.perf_counter() - t0, error))
        logger.info("%s: %.1f s", nb.name, runs[-1].seconds)
    return runs


def fold_solutions(chapters_dir: Path) -> int:
    """Fold every exercise solution of the executed chapters behind a toggle; return how many.

    A cell tagged ``solution`` also gets myst-nb's ``hide-cell`` tag, so the book shows a
    "Show the solution" button instead of the answer (source and output).  Only the executed
    copies in ``chapters_dir`` change; the notebooks in ``notebooks/`` keep their solutions in
    view for people working through them in JupyterLab.
    """
    import nbformat

    count = 0
    for path in sorted(Path(chapters_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            tags = cell.metadata.setdefault("tags", [])
            if SOLUTION_TAG in tags:
                count += 1
                if "hide-cell" not in tags:
                    tags.append("hide-cell")
                    changed = True
        if changed:
            nbformat.write(nb, path)
    return count


def _jupyter_book_executable() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise BookError("jupyter-book is not installed in this environment; run `make book`")
    return [found]


def build_html(book_dir: Path) -> Path:
    """Render the book in ``book_dir`` to HTML with Jupyter Book 1.x; return the HTML folder."""
    book_dir = Path(book_dir)
    cmd = [*_jupyter_book_executable(), "build", str(book_dir), "--builder", "html", "--keep-going"]
    logger.info("building the book: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BookError(
            f"jupyter-book build {book_dir} failed (exit {proc.returncode}):\n"
            + (proc.stdout[-4000:] + proc.stderr[-4000:])
        )
    html = book_dir / "_build" / "html"
    if not (html / "index.html").is_file():
        raise BookError(f"jupyter-book reported success but {html / 'index.html'} is missing")
    return html


#: Patterns that betray an error rendered into the book (a traceback or an error output cell).
_ERROR_PATTERNS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'class="[^"]*\boutput\s+traceback\b'),
    re.compile(r'class="[^"]*\boutput\s+error\b'),
)


def scan_html_for_errors(html_dir: Path) -> list[str]:
    """Return ``"page: snippet"`` for every built page that shows a traceback or error output."""
    problems = []
    for page in sorted(Path(html_dir).rglob("*.html")):
        text = page.read_text(errors="replace")
        for pat in _ERROR_PATTERNS:
            m = pat.search(text)
            if m:
                snippet = text[max(0, m.start() - 80) : m.end() + 80].replace("\n", " ")
                problems.append(f"{page.relative_to(html_dir)}: …{snippet}…")
                break
    return problems


def check_claims(chapters: Path, *, parameters: dict, only: list[str] | None):
    """Every sentence the executed chapters print about a direction or a size, recomputed from
    the results table (:func:`emolab.analysis.chapter_claims`), must be in the chapter's output,
    and every truth by construction must hold; :class:`BookError` lists the ones that do not.

    Checked when every chapter ran on the synthetic data of the ``smoke`` profile with its own
    results table and the parameters the claims assume (the book's own run: seed 0 under
    ``make book``, the test suite's seed under ``make test``); returns the claims table, or None
    when not checked.  A sentence that was not printed fails the build; a truth by construction
    that does not hold is logged (it is a statistical test: on a seed of your own it can fail by
    chance; the test suite asserts it on its seed).
    """
    own = {"data_root", "profile", "results_path", "fingerprints", "task", "sources"}
    changed = {k for k in own if parameters.get(k) is not None} - {"profile"}
    if only or changed or parameters.get("profile", "smoke") != "smoke":
        return None
    from emolab.analysis import chapter_claims

    claims = chapter_claims(profile="smoke", seed=int(parameters.get("seed", 0)), chapters_dir=chapters)
    failed = claims[(claims["kind"] == "construction") & ~claims["holds"].astype(bool)]
    for _, r in failed.iterrows():
        logger.warning("chapter %s: a truth by construction does not hold on this seed: %s", r["chapter"], r["what"])
    bad = claims[(claims["kind"] == "sentence") & ~claims["holds"].astype(bool)]
    if len(bad):
        lines = "\n  ".join(f"chapter {r['chapter']} ({r['kind']}, {r['claim']}): {r['what']}" for _, r in bad.iterrows())
        raise BookError(f"{len(bad)} claim(s) the executed chapters do not support:\n  {lines}")
    logger.info("chapter claims: %d sentences and %d truths by construction checked",
                int((claims["kind"] == "sentence").sum()), int((claims["kind"] == "construction").sum()))  # fmt: skip
    return claims


def build_book(
    project_dir: Path,
    *,
    out_dir: Path | None = None,
    parameters: dict | None = None,
    only: list[str] | None = None,
) -> BookReport:
    """Execute the notebooks and build the book; raise :class:`BookError` naming every failure.

    Parameters
    ----------
    project_dir : Path
        The checkout (holds ``notebooks/`` and ``book/``).
    out_dir : Path, optional
        Build the book here instead of in ``project_dir/book`` (the book's sources are copied);
        the tests use this to leave the checkout untouched.
    parameters, only
        See :func:`execute_notebooks`.  ``solutions=True`` is added unless ``parameters`` sets
        it: every exercise's reference solution runs through its check cell, and a wrong one
        fails the build (:mod:`emolab.exercises`).
    """
    project_dir = Path(project_dir)
    src_book = project_dir / "book"
    book_dir = Path(out_dir) if out_dir is not None else src_book
    if book_dir.resolve() != src_book.resolve():
        book_dir.mkdir(parents=True, exist_ok=True)
        for pattern in BOOK_SOURCES:
            for path in sorted(src_book.glob(pattern)):
                shutil.copy2(path, book_dir / path.name)
        for name in BOOK_FOLDERS:
            if (src_book / name).is_dir():
                shutil.copytree(src_book / name, book_dir / name, dirs_exist_ok=True)
    chapters = book_dir / "chapters"
    if chapters.exists():
        shutil.rmtree(chapters)  # never render a stale chapter from an earlier run
    report = BookReport()
    parameters = {SOLUTIONS_PARAMETER: True, **(parameters or {})}
    report.runs = execute_notebooks(project_dir / "notebooks", chapters, parameters=parameters, only=only)
    if report.failures:
        lines = "\n".join(f"  {r.name}: {r.error}" for r in report.failures)
        raise BookError(f"{len(report.failures)} notebook(s) failed:\n{lines}")
    report.claims = check_claims(chapters, parameters=parameters, only=only)
    fold_solutions(chapters)
    report.html_dir = build_html(book_dir)
    problems = scan_html_for_errors(report.html_dir)
    if problems:
        raise BookError("the built book shows error output:\n  " + "\n  ".join(problems))
    return report
