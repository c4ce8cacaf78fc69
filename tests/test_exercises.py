"""Exercises that check themselves (emolab.exercises): the checks, the pattern, the export.

* the check API says "correct", "not attempted yet" or what is wrong, and raises for a wrong
  solution;
* every chapter's reference solutions pass their checks, and a wrong answer fails each check;
* every chapter's exercises follow stub -> ``%%solution`` -> check cell;
* each chapter's module ``emolab.exercises.chNN`` registers exactly the checks its notebook calls;
* ``emolab export --student`` writes the notebooks without solutions;
* executed with papermill, a wrong solution fails the notebook when ``solutions=True`` and the
  stub passes quietly when it is False.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_book import _write_notebook

from emolab import exercises as exr
from emolab.book import execute_notebooks
from emolab.cli import main

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r'^check\("(\w+)", (\w+)\b', flags=re.M)
#: Checked when their chapter executes (they need a trained model, or take seconds).
SLOW_SOLUTIONS = {"bio_noise_sweep", "four_stage_costs"}


def _src(cell) -> str:
    return "".join(cell["source"])


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _stub(*args, **kwargs):
    raise NotImplementedError("exercise")


# --------------------------------------------------------------------------- the check API
def test_a_right_answer_is_correct():
    verdict = exr.check("bio_share", lambda g, n: g[:, n:].mean(1) / (g[:, n:].mean(1) + g[:, :n].mean(1)))
    assert verdict and verdict.status == "correct" and verdict.n_checks == 2
    assert str(verdict) == "bio_share: correct (2 checks passed)"
    assert exr.solved("bio_share")


def test_a_wrong_answer_says_which_case_and_what_differs():
    sums = lambda g, n: g[:, n:].sum(1) / g.sum(1)  # noqa: E731 - sums instead of means
    verdict = exr.check("bio_share", sums)
    assert not verdict and verdict.status == "wrong"
    assert len(verdict.problems) == 1  # the case with 2 + 2 features cannot tell sums from means
    assert "1 face + 3 bio features" in str(verdict) and "expected [0.4545], got [0.7143]" in str(verdict)
    assert not exr.solved(sums) and not exr.solved("bio_share")


def test_a_wrong_shape_is_named():
    verdict = exr.check("window_detection_rate", lambda fw: fw.detected.mean(axis=0))
    assert "wrong shape: expected (3,), got (4,)" in str(verdict)


def test_the_boundary_case_is_named():
    verdict = exr.check("label_balance", lambda r: (r[["valence", "arousal"]] > 5).groupby(r.subject).mean())
    assert "a rating of exactly 5 is high" in str(verdict) and "column 'valence'" in str(verdict)


def test_the_stub_is_not_attempted_and_never_raises():
    verdict = exr.check("shared_fraction", _stub)
    assert verdict.status == "not attempted" and "NotImplementedError" in str(verdict)
    assert not exr.solved(_stub)


def test_an_exception_in_the_answer_is_reported_not_raised():
    verdict = exr.check("shared_fraction", lambda a, b: 1 / 0)
    assert verdict.status == "wrong" and "raised ZeroDivisionError" in verdict.problems[0]


def test_an_answer_that_breaks_a_direct_call_is_reported_not_raised():
    def four_stage_costs():
        raise ValueError("dims and depths differ in length")

    verdict = exr.check("four_stage_costs", four_stage_costs)
    assert verdict.status == "wrong" and "raised ValueError: dims and depths" in str(verdict)


def test_strict_checks_raise_for_wrong_and_missing_answers():
    with pytest.raises(exr.ExerciseError, match="shared_fraction"):
        exr.check("shared_fraction", lambda a, b: 0.5, strict=True)
    with pytest.raises(exr.ExerciseError, match="not attempted"):
        exr.check("shared_fraction", _stub, strict=True)


def test_a_function_from_a_solution_cell_is_checked_strictly():
    ns = {"solutions": True, "np": np}
    defined = exr.run_solution("def shared_fraction(a, b):\n    return 0.5\n", ns)
    assert defined == ["shared_fraction"]
    with pytest.raises(exr.ExerciseError):
        exr.check("shared_fraction", ns["shared_fraction"])


def test_a_switched_off_solution_keeps_the_students_function():
    mine = lambda a, b: 0.0  # noqa: E731
    ns = {"solutions": False, "shared_fraction": mine}
    assert exr.run_solution("def shared_fraction(a, b):\n    return 1.0\n", ns) == []
    assert ns["shared_fraction"] is mine
    with pytest.raises(NameError, match="solutions = False"):
        exr.run_solution("x = 1", {})


def test_unknown_exercise_and_missing_context_are_clear():
    with pytest.raises(KeyError, match="no checker for exercise 'nope'"):
        exr.check("nope", _stub)
    with pytest.raises(exr.MissingContext, match="needs the model"):
        exr.check("bio_noise_sweep", lambda m, t, s: None)


# ----------------------------------------------------------- the chapters' solutions and checks
def _solutions() -> list[tuple[str, str]]:
    return [(nb.stem, _src(c)) for nb in NOTEBOOKS for c in json.loads(nb.read_text())["cells"]
            if "solution" in _tags(c)]  # fmt: skip


def _namespace() -> dict:
    """What the chapters' solution cells use from their chapter's imports."""
    import pandas as pd

    from emolab import analysis as an
    from emolab import experiments as ex
    from emolab.models import build_model, complexity_table
    from emolab.preprocess import face as fp
    from emolab.preprocess import physio
    from emolab.preprocess.physio import BANDS
    from emolab.viz import signals as vs

    return dict(np=np, pd=pd, an=an, ex=ex, fp=fp, physio=physio, vs=vs, BANDS=BANDS, seed=0,
                build_model=build_model, complexity_table=complexity_table, solutions=True)  # fmt: skip


def test_every_reference_solution_passes_its_check():
    checked = set()
    for stem, src in _solutions():
        ns = _namespace()
        for name in exr.run_solution(src.split("\n", 1)[1], ns):
            if name not in SLOW_SOLUTIONS:
                assert exr.check(name, ns[name], strict=True), (stem, name)
                checked.add(name)
    assert checked == set(exr.CHECKERS) - SLOW_SOLUTIONS


@pytest.mark.parametrize("name", sorted(set(exr.CHECKERS) - {"bio_noise_sweep"}))
def test_every_check_fails_a_wrong_answer(name):
    verdict = exr.check(name, lambda *a, **k: 0.123)
    assert verdict.status == "wrong" and verdict.problems, name


# ------------------------------------------------------------------------------ the pattern
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_follow_the_pattern(nb):
    cells = json.loads(nb.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "solutions = False" in _src(code[0]), f"{nb.name}: the parameters cell lacks `solutions = False`"
    stubs = [i for i, c in enumerate(code) if "raise NotImplementedError" in _src(c) and "solution" not in _tags(c)]
    assert stubs, f"{nb.name}: no exercise stub"
    setup = [i for i, c in enumerate(code) if "%load_ext emolab.exercises" in _src(c)]
    assert setup and setup[0] < stubs[0], f"{nb.name}: `%load_ext emolab.exercises` must come before the first stub"
    solutions = [i for i, c in enumerate(code) if "solution" in _tags(c)]
    assert len(solutions) == len(stubs), f"{nb.name}: {len(stubs)} stubs but {len(solutions)} solution cells"
    for i in stubs:
        name = re.match(r"def (\w+)\(", _src(code[i])).group(1)
        sol, chk = _src(code[i + 1]), _src(code[i + 2])
        assert "solution" in _tags(code[i + 1]) and sol.startswith("%%solution\n"), f"{nb.name}: stub {name} not followed by a %%solution cell"
        assert f"def {name}(" in sol, f"{nb.name}: the solution after stub {name} does not define it"
        m = CHECK_CALL.search(chk)
        assert m and m.groups() == (name, name), f"{nb.name}: no check({name!r}, {name}) cell after the solution of {name}"
        assert name in exr.CHECKERS, f"{nb.name}: no checker for {name} in emolab/exercises/"
        uses = [j for j, c in enumerate(code) if j < i and re.search(rf"\b{name}\(", _src(c))]
        assert not uses, f"{nb.name}: {name} is used before its exercise"


CHECK_NAME = re.compile(r'\bcheck\(\s*["\'](\w+)["\']')


def _checks_called(nb: Path) -> set[str]:
    """The exercise names the notebook's code cells pass to ``check(...)``."""
    cells = json.loads(nb.read_text())["cells"]
    return {name for c in cells if c["cell_type"] == "code" for name in CHECK_NAME.findall(_src(c))}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_chapter_module_holds_the_checks_of_its_notebook(nb):
    import importlib

    number = nb.stem[:2]
    module = importlib.import_module(f"emolab.exercises.ch{number}")
    assert exr.CHAPTERS[number] is module
    registered = {name for name, fn in exr.CHECKERS.items() if fn.__module__ == module.__name__}
    assert registered == _checks_called(nb), f"{module.__name__} registers {sorted(registered)}, {nb.name} checks {sorted(_checks_called(nb))}"


def test_every_check_lives_in_its_chapters_module():
    modules = {f"emolab.exercises.ch{nb.stem[:2]}" for nb in NOTEBOOKS}
    assert sorted(exr.CHAPTERS) == sorted(nb.stem[:2] for nb in NOTEBOOKS)
    assert {fn.__module__ for fn in exr.CHECKERS.values()} <= modules


def test_solution_bodies_are_formatted():
    """ruff leaves cells with a cell magic alone, so the bodies are checked here."""
    ruff = Path(sys.executable).with_name("ruff")
    cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    for stem, src in _solutions():
        body = src.split("\n", 1)[1] + "\n"
        proc = subprocess.run([*cmd, "format", "--line-length", "88", "-"], input=body, capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout == body, f"{stem}: solution not formatted:\n{proc.stdout or proc.stderr}"


# ---------------------------------------------------------------------------- the export
def test_student_export_strips_solutions_and_outputs(tmp_path):
    out = tmp_path / "course"
    assert main(["export", "--student", str(out), "--project", str(ROOT)]) == 0
    assert sorted(p.name for p in out.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    for nb in NOTEBOOKS:
        source = json.loads(nb.read_text())["cells"]
        exported = json.loads((out / nb.name).read_text())["cells"]
        n_solutions = sum("solution" in _tags(c) for c in source)
        assert n_solutions and len(exported) == len(source) - n_solutions, nb.name
        assert not any("solution" in _tags(c) or _src(c).startswith("%%solution") for c in exported), nb.name
        stubs = [c for c in exported if c["cell_type"] == "code" and "raise NotImplementedError" in _src(c)]
        assert len(stubs) == n_solutions, nb.name
        assert all(not c.get("outputs") for c in exported if c["cell_type"] == "code"), nb.name


def test_strip_solutions_drops_outputs():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("%%solution\n2")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1"})]
    nb.cells[0].execution_count = 1
    nb.cells[1].metadata["tags"] = ["solution"]
    assert exr.strip_solutions(nb) == 1
    assert len(nb.cells) == 1 and nb.cells[0].outputs == [] and nb.cells[0].execution_count is None


def test_student_export_refuses_to_overwrite_the_sources(capsys):
    assert main(["export", "--student", str(ROOT / "notebooks"), "--project", str(ROOT)]) == 1
    assert "is the source folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------- executed
_EXERCISE = [
    "solutions = False",
    "%load_ext emolab.exercises\nfrom emolab.exercises import check, solved",
    "def shared_fraction(groups_test, groups_train):\n    raise NotImplementedError",
    "%%solution\ndef shared_fraction(groups_test, groups_train):\n    return 0.5  # rotten",
    'check("shared_fraction", shared_fraction)',
    'if solved(shared_fraction):\n    raise RuntimeError("used before it was solved")',
]


def _write(path: Path, cells: list[str]) -> None:
    _write_notebook(path, cells, tags={3: ["solution"]})


def test_executed_exercises_fail_a_rotten_solution_and_spare_the_student(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    _write(src / "00_ex.ipynb", _EXERCISE)
    rotten = execute_notebooks(src, tmp_path / "ci", parameters={"solutions": True})
    assert rotten[0].error and "ExerciseError" in rotten[0].error, rotten[0].error
    student = execute_notebooks(src, tmp_path / "student")
    assert student[0].error is None, student[0].error
    executed = nbformat.read(tmp_path / "student" / "00_ex.ipynb", as_version=4)
    verdict = executed.cells[4].outputs[0]["data"]["text/plain"]
    assert "not attempted yet" in verdict
