"""Solution cells: the ``%%solution`` cell magic, and the notebooks for students without them.

A ``%%solution`` cell runs only when the notebook's ``solutions`` parameter is on (CI); the
functions it defines are then checked strictly (:func:`is_solution`).  ``emolab export
--student OUT`` writes the notebooks without those cells (:func:`export_student`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emolab._logging import logger
from emolab.book import SOLUTION_TAG, SOLUTIONS_PARAMETER

__all__ = ["export_student", "is_solution", "load_ipython_extension", "run_solution", "solutions_switched_on",
           "strip_solutions"]  # fmt: skip


# --------------------------------------------------------------------- the %%solution magic
#: Functions defined by ``%%solution`` cells (checked strictly), by name.
_SOLUTIONS: dict[str, Any] = {}


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with jupyter
        return None
    return get_ipython()


def solutions_switched_on() -> bool:
    """True when the running notebook's ``solutions`` parameter is on (false outside IPython)."""
    ip = _ipython()
    return bool(ip is not None and ip.user_ns.get(SOLUTIONS_PARAMETER, False))


def is_solution(name: str, fn: Any) -> bool:
    """True when ``fn`` is the function that a ``%%solution`` cell last defined as ``name``."""
    return _SOLUTIONS.get(name) is fn


def run_solution(cell: str, user_ns: dict) -> list[str]:
    """Execute a solution cell's code in ``user_ns`` if its ``solutions`` parameter is on.

    Returns the names of the functions the cell (re)defined, which
    :func:`~emolab.exercises.checking.check` then checks strictly; ``[]`` and a note when the
    solutions are off.  Raises :class:`NameError` when the notebook has no ``solutions``
    parameter.
    """
    if SOLUTIONS_PARAMETER not in user_ns:
        raise NameError(f"this notebook has no `{SOLUTIONS_PARAMETER}` parameter: add "
                        f"`{SOLUTIONS_PARAMETER} = False` to its parameters cell")  # fmt: skip
    if not user_ns[SOLUTIONS_PARAMETER]:
        logger.info("solution not run (your own function is kept); to run the reference "
                    "solution, set %s = True in the parameters cell", SOLUTIONS_PARAMETER)  # fmt: skip
        return []
    before = dict(user_ns)
    exec(compile(cell, "<solution>", "exec"), user_ns)  # noqa: S102 - the notebook's own cell
    defined = [k for k, v in user_ns.items() if callable(v) and before.get(k) is not v
               and not k.startswith("_")]  # fmt: skip
    for k in defined:
        _SOLUTIONS[k] = user_ns[k]
    return defined


def load_ipython_extension(ipython) -> None:
    """``%load_ext emolab.exercises``: register the ``%%solution`` cell magic."""

    def solution(line: str, cell: str) -> None:
        """Run this cell only when the notebook's ``solutions`` parameter is True."""
        run_solution(cell, ipython.user_ns)

    ipython.register_magic_function(solution, magic_kind="cell", magic_name="solution")


# --------------------------------------------------------------------- the student export
def strip_solutions(nb) -> int:
    """Remove the solution cells and every output from a notebook (in place); return how many."""
    keep = [c for c in nb.cells if SOLUTION_TAG not in c.get("metadata", {}).get("tags", [])]
    removed = len(nb.cells) - len(keep)
    for cell in keep:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = keep
    return removed


def export_student(notebooks_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write the chapter notebooks without solutions (nor outputs) to ``out_dir``.

    Returns ``{notebook name: solution cells removed}``.  Raises :class:`FileExistsError` when
    ``out_dir`` is ``notebooks_dir`` itself (that would delete the solutions of the sources).
    """
    import nbformat

    from emolab.book import list_notebooks

    notebooks_dir, out_dir = Path(notebooks_dir), Path(out_dir)
    if out_dir.resolve() == notebooks_dir.resolve():
        raise FileExistsError(f"{out_dir} is the source folder; choose another folder for --student")
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = {}
    for path in list_notebooks(notebooks_dir):
        nb = nbformat.read(path, as_version=4)
        removed[path.name] = strip_solutions(nb)
        nbformat.write(nb, out_dir / path.name)
        logger.info("%s: %d solution cell(s) removed", path.name, removed[path.name])
    return removed
