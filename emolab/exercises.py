"""Exercises that check themselves: a stub, a hidden solution, a check cell.

Every chapter ends with exercises in one pattern (after Neuromatch Academy's)::

    [markdown]  **Exercise 1.** What to write, and why.
    [code]      def shared_fraction(groups_test, groups_train):      # the stub
                    ...  # your code here
                    raise NotImplementedError("exercise 1")
    [code, tag "solution"]
                %%solution
                def shared_fraction(groups_test, groups_train):      # the reference
                    return float(np.isin(groups_test, groups_train).mean())
    [code]      check("shared_fraction", shared_fraction)            # the check cell
    [code]      if solved(shared_fraction):                          # optional: use it
                    ...

Before the first stub, one set-up cell loads the ``%%solution`` cell magic and the two
functions::

    %load_ext emolab.exercises
    from emolab.exercises import check, solved

and the chapter's ``parameters`` cell holds ``solutions = False``.

* **Run all in JupyterLab** (``solutions = False``): the ``%%solution`` cell only says that it was
  skipped, so the student's function is never overwritten; the check cell prints ``correct``,
  ``not attempted yet`` (the stub still raises :class:`NotImplementedError`) or what is wrong
  (which case, expected what, got what) and never stops the run; ``solved(f)`` is true only
  when ``f`` itself passed its check, so the cells that use it wait for a right answer.
* **CI** (``emolab book`` and the tests inject ``solutions=True`` with papermill): the solution
  cell runs, and its function goes through the *same* check cell, which now raises
  :class:`ExerciseError` when it is wrong, so a solution that rots fails the build.
* **The book** folds every ``solution`` cell behind a toggle (:func:`emolab.book.fold_solutions`);
  ``emolab export --student OUT`` writes the notebooks without them (:func:`export_student`).

Adding an exercise to a chapter (08, 09, ...):

1. Register a checker here: a function ``(fn, **context)`` returning one list of problems per
   case or property (empty when it passed).  Call ``fn`` on small cases whose answers are worked
   out by hand, never by the solution's own code, or test properties every right answer has;
   :func:`expect` calls ``fn`` and names the case, :func:`compare` says what differs::

       @checker("shared_fraction")
       def _check_shared_fraction(fn):
           return [expect(fn, "test [1, 1, 2, 3], train [2, 5]", (a, b), 0.25), ...]

   What the checker needs from the chapter (a trained model, a test set) comes as keyword
   arguments of the check cell: ``check("name", name, model=model)``.
2. Add the cells above to the chapter (the ``solutions`` parameter and the set-up cell once).
3. ``tests/test_exercises.py`` then checks the pattern, runs every cheap solution through its
   checker and a wrong answer too (list a solution that needs the chapter's data in its
   ``SLOW_SOLUTIONS``); ``tests/test_executed_outputs.py`` requires every check cell of the
   built book to say "correct".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emolab._logging import logger
from emolab.book import SOLUTION_TAG, SOLUTIONS_PARAMETER

__all__ = ["SOLUTION_TAG", "SOLUTIONS_PARAMETER", "ExerciseError", "MissingContext", "Verdict", "check",
           "checker", "compare", "expect", "export_student", "run_solution", "solved",
           "strip_solutions"]  # fmt: skip


class ExerciseError(AssertionError):
    """A reference solution failed its own check (raised only when solutions are checked)."""


class MissingContext(TypeError):
    """A check cell did not pass what its checker needs from the chapter (a model, a test set)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check`; shown as text in the check cell, true when correct.

    ``status`` is ``"correct"``, ``"not attempted"`` or ``"wrong"``; ``problems`` lists what is
    wrong, one line per failed case or property.
    """

    name: str
    status: str
    problems: tuple[str, ...] = ()
    n_checks: int = 0

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        if self.status == "correct":
            return f"{self.name}: correct ({self.n_checks} check{'s' * (self.n_checks != 1)} passed)"
        if self.status == "not attempted":
            return (f"{self.name}: not attempted yet (the stub still raises "
                    "NotImplementedError); write your answer in the cell above and run it")  # fmt: skip
        lines = [f"{self.name}: not right yet, {len(self.problems)} problem(s):"]
        return "\n".join(lines + [f"  - {p}" for p in self.problems])

    __repr__ = __str__


# ------------------------------------------------------------------------------- comparing
def compare(expected: Any, got: Any, *, atol: float = 1e-6) -> str | None:
    """``None`` when ``got`` matches ``expected``, else what differs, in words.

    Numbers are compared within ``atol``; arrays by shape, then values; pandas objects by index
    (and columns), then values; tuples element by element; anything else with ``==``.
    """
    if isinstance(expected, pd.DataFrame | pd.Series):
        return _compare_pandas(expected, got, atol)
    if isinstance(expected, np.ndarray):
        if not hasattr(got, "shape"):
            return f"expected an array of shape {expected.shape}, got {type(got).__name__} {got!r}"
        got = np.asarray(got)
        if got.shape != expected.shape:
            return f"wrong shape: expected {expected.shape}, got {got.shape}"
        if not np.allclose(got.astype(float), expected.astype(float), atol=atol, equal_nan=True):
            return f"expected {np.round(expected, 4).tolist()}, got {np.round(got, 4).tolist()}"
        return None
    if isinstance(expected, tuple):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values {expected!r}, got {got!r}"
        for i, (e, g) in enumerate(zip(expected, got)):
            why = compare(e, g, atol=atol)
            if why:
                return f"element {i}: {why}"
        return None
    if isinstance(expected, bool | str) or expected is None:
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    if isinstance(expected, int | float | np.number):
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"expected the number {expected}, got {type(got).__name__} {got!r}"
        if not math.isclose(value, float(expected), abs_tol=atol):
            return f"expected {expected:.6g}, got {value:.6g}"
        return None
    return None if got == expected else f"expected {expected!r}, got {got!r}"


def _compare_pandas(expected, got, atol: float) -> str | None:
    kind = type(expected).__name__
    if not isinstance(got, type(expected)):
        return f"expected a {kind}, got {type(got).__name__}"
    if list(got.index) != list(expected.index):
        return f"wrong rows: expected index {list(expected.index)}, got {list(got.index)}"
    if isinstance(expected, pd.DataFrame):
        missing = [c for c in expected.columns if c not in got.columns]
        if missing:
            return f"missing columns {missing} (got {list(got.columns)})"
        for col in expected.columns:
            why = compare(expected[col].to_numpy(float), got[col].to_numpy(float), atol=atol)
            if why:
                return f"column {col!r}: {why}"
        return None
    return compare(expected.to_numpy(float), got.to_numpy(float), atol=atol)


def expect(fn: Callable, label: str, args: Sequence, expected: Any, **kwargs) -> list[str]:
    """Call ``fn(*args, **kwargs)`` and return ``[]`` or one problem naming the case ``label``.

    :class:`NotImplementedError` is not caught: :func:`check` reads it as "not attempted".
    """
    try:
        got = fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:  # a student's bug: report it as the problem of this case
        return [f"{label}: raised {type(exc).__name__}: {exc}"]
    why = compare(expected, got)
    return [f"{label}: {why}"] if why else []


# ------------------------------------------------------------------------------ the checks
#: name -> checker ``(fn, **context) -> [problems of case 1, problems of case 2, ...]`` (each a
#: list of strings, empty when that case passed); filled by :func:`checker`.
CHECKERS: dict[str, Callable[..., list[list[str]]]] = {}
#: Functions defined by ``%%solution`` cells (checked strictly), by name.
_SOLUTIONS: dict[str, Any] = {}
#: name -> (function, verdict) of the latest check, for :func:`solved`.
_LAST: dict[str, tuple[Any, Verdict]] = {}


def checker(name: str) -> Callable:
    """Register a checker for the exercise whose function is called ``name``."""

    def register(fn: Callable[..., list[list[str]]]) -> Callable[..., list[list[str]]]:
        if name in CHECKERS:
            raise ValueError(f"two checkers for exercise {name!r} in emolab.exercises")
        CHECKERS[name] = fn
        return fn

    return register


def _solutions_switched_on() -> bool:
    ip = _ipython()
    return bool(ip is not None and ip.user_ns.get(SOLUTIONS_PARAMETER, False))


def check(name: str, fn: Callable, *, strict: bool | None = None, **context) -> Verdict:
    """Check the function of exercise ``name`` and return a :class:`Verdict` (shown in the cell).

    Parameters
    ----------
    name : str
        The exercise, i.e. the function's name (a key of :data:`CHECKERS`).
    fn : callable
        The student's function, or the reference solution when solutions are switched on.
    strict : bool, optional
        Raise :class:`ExerciseError` unless the verdict is "correct".  Default: true for a
        function defined by a ``%%solution`` cell, and whenever the notebook's ``solutions``
        parameter is on (then a check that still sees the stub means the solution cell did not
        define the function); false otherwise, so "Run all" goes on past an unsolved exercise.
    **context
        What the checker needs from the chapter (a model, a test set), passed on to it.
    """
    if name not in CHECKERS:
        raise KeyError(f"no checker for exercise {name!r}; known: {sorted(CHECKERS)} "
                       "(add one with @checker in emolab/exercises.py)")  # fmt: skip
    if not callable(fn):
        raise TypeError(f"check({name!r}, ...) needs the function itself, got {type(fn).__name__}")
    if strict is None:
        strict = _SOLUTIONS.get(name) is fn or _solutions_switched_on()
    try:
        results = CHECKERS[name](fn, **context)  # one list of problems per case or property
        problems = tuple(p for found in results for p in found)
        verdict = Verdict(name, "wrong" if problems else "correct", problems, len(results))
    except NotImplementedError:
        verdict = Verdict(name, "not attempted")
    except MissingContext:
        raise
    except Exception as exc:  # the answer broke a checker that calls it directly
        verdict = Verdict(name, "wrong", (f"raised {type(exc).__name__}: {exc}",), 1)
    _LAST[name] = (fn, verdict)
    logger.debug("exercise %s: %s", name, verdict.status)
    if strict and not verdict:
        raise ExerciseError(f"the solution of exercise {name!r} fails its check:\n{verdict}")
    return verdict


def solved(fn_or_name: Callable | str) -> bool:
    """True when this very function (or the exercise of that name) passed its latest check."""
    name = fn_or_name if isinstance(fn_or_name, str) else getattr(fn_or_name, "__name__", "")
    if name not in _LAST:
        return False
    fn, verdict = _LAST[name]
    return bool(verdict) and (isinstance(fn_or_name, str) or fn is fn_or_name)


# --------------------------------------------------------------------- the %%solution magic
def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with jupyter
        return None
    return get_ipython()


def run_solution(cell: str, user_ns: dict) -> list[str]:
    """Execute a solution cell's code in ``user_ns`` if its ``solutions`` parameter is on.

    Returns the names of the functions the cell (re)defined, which :func:`check` then checks
    strictly; ``[]`` and a note when the solutions are off.  Raises :class:`NameError` when the
    notebook has no ``solutions`` parameter.
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


# ===================================================================== the chapters' checkers
# Every expected value below is worked out by hand from the small case beside it (or is a
# property any right answer has); none is computed by a reference solution.


def _record(signals: dict[str, np.ndarray], types: dict[str, str], *, baseline_s: float = 1.0):
    """A hand-made :class:`~emolab.data.record.Record` at 128 Hz with these channels (µV)."""
    from emolab.data.record import Record

    names = list(signals)
    return Record(dataset="deap", subject=1, trial=1, experiment_id=1,
                  signals=np.stack([signals[n] for n in names]).astype(np.float32), sfreq=128.0,
                  ch_names=names, ch_types=[types[n] for n in names],
                  baseline_samples=int(baseline_s * 128), ratings={"valence": 5.0, "arousal": 5.0})  # fmt: skip


@checker("shared_fraction")
def _check_shared_fraction(fn):  # chapter 00
    a = np.array
    return [
        expect(fn, "test groups [1, 1, 2, 3], train [2, 5]", (a([1, 1, 2, 3]), a([2, 5])), 0.25),
        expect(fn, "test groups [4, 4], train [1, 2]", (a([4, 4]), a([1, 2])), 0.0),
        expect(fn, "test ['a', 'b'], train ['b', 'a', 'a']", (a(["a", "b"]), a(["b", "a", "a"])), 1.0),
    ]  # fmt: skip


@checker("alpha_asymmetry")
def _check_alpha_asymmetry(fn):  # chapter 01
    x = np.random.default_rng(0).normal(0, 10, 128 * 21)  # 1 s baseline + 20 s stimulus, µV
    eeg = {"F3": "eeg", "F4": "eeg"}
    loud = x.copy()
    loud[:128] *= 10  # only the baseline differs
    db4 = 10 * math.log10(4)  # F4 = 2 x F3: four times the power at every frequency
    return [
        expect(fn, "F4 = 2 x F3 (answer +6.02 dB)", (_record({"F3": x, "F4": 2 * x}, eeg),), db4),
        expect(fn, "F4 = F3 / 2 (answer -6.02 dB)", (_record({"F3": x, "F4": x / 2}, eeg),), -db4),
        expect(fn, "F4 = F3 but 10 x louder in the baseline (answer 0: only the stimulus counts)",
               (_record({"F3": x, "F4": loud}, eeg),), 0.0),
    ]  # fmt: skip


@checker("label_balance")
def _check_label_balance(fn):  # chapter 01
    ratings = pd.DataFrame({"subject": [1, 1, 2, 2, 2, 2],
                            "valence": [5.0, 4.9, 1.0, 2.0, 3.0, 8.0],
                            "arousal": [9.0, 1.0, 5.0, 5.0, 5.0, 1.0]})  # fmt: skip
    want = pd.DataFrame({"valence": [0.5, 0.25], "arousal": [0.5, 0.75]}, index=[1, 2])
    return [expect(fn, "subjects 1 and 2 (a rating of exactly 5 is high)", (ratings,), want)]


@checker("n_windows")
def _check_n_windows(fn, record=None, config=None):  # chapter 02
    problems = [
        expect(fn, "60 s, 1 s windows, 1 s stride", (60, 1.0, 1.0), 60),
        expect(fn, "10 s, 2 s windows, 0.5 s stride: (10 - 2) / 0.5 + 1", (10, 2.0, 0.5), 17),
        expect(fn, "3 s, 1 s windows, 0.5 s stride", (3, 1.0, 0.5), 5),
        expect(fn, "1.5 s, 2 s windows (too short: no window)", (1.5, 2.0, 1.0), 0),
        expect(fn, "60 s at 256 Hz, 1 s windows", (60, 1.0, 1.0), 60, sfreq=256.0),
    ]  # fmt: skip
    if record is not None and config is not None:
        from dataclasses import replace

        from emolab.preprocess.physio import preprocess_record

        found = preprocess_record(record, replace(config, window_s=2.0, stride_s=0.5)).n_windows
        problems.append(expect(fn, f"the chapter's record ({record.duration_s:g} s) against "
                               "preprocess_record, 2 s windows, 0.5 s stride",
                               (record.duration_s, 2.0, 0.5), found))  # fmt: skip
    return problems


@checker("blink_correlations")
def _check_blink_correlations(fn):  # chapter 02
    rng = np.random.default_rng(0)
    n = 128 * 21
    veog = np.convolve(rng.normal(0, 40, n), np.ones(16) / 4, mode="same")  # slow "blinks", µV
    brain = rng.normal(0, 10, n)
    fp1 = brain + 0.5 * veog  # Fp1 picks up half of the vertical EOG
    types = {"Fp1": "eeg", "Fz": "eeg", "hEOG": "eog", "vEOG": "eog"}
    rec = _record({"Fp1": fp1, "Fz": rng.normal(0, 10, n), "hEOG": rng.normal(0, 20, n),
                   "vEOG": veog}, types)  # fmt: skip
    before = float(np.corrcoef(fp1, veog)[0, 1])  # the definition, on the data made above
    try:
        got = fn(rec)
    except NotImplementedError:
        raise
    except Exception as exc:
        return [[f"Fp1 = brain + 0.5 vEOG: raised {type(exc).__name__}: {exc}"]]
    if not isinstance(got, tuple | list) or len(got) != 2:
        return [[f"expected a pair (before, after), got {got!r}"]]
    b, a = float(got[0]), float(got[1])
    return [
        [] if math.isclose(b, before, abs_tol=1e-3) else
        [f"Fp1 = brain + 0.5 vEOG: 'before' should be corr(Fp1, vEOG) = {before:.3f}, got {b:.3f}"],
        [] if abs(a) < 0.05 else
        [f"Fp1 = brain + 0.5 vEOG: after the regression Fp1 should no longer follow vEOG "
         f"(|corr| < 0.05), got {a:.3f}; did you correlate the cleaned Fp1?"],
    ]  # fmt: skip


@checker("window_detection_rate")
def _check_window_detection_rate(fn):  # chapter 03
    from types import SimpleNamespace

    three = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    one = np.array([[1, 0, 0]], dtype=bool)
    return [
        expect(fn, "3 windows of 4 frames", (SimpleNamespace(detected=three),), np.array([0.5, 1.0, 0.0])),
        expect(fn, "1 window of 3 frames", (SimpleNamespace(detected=one),), np.array([1 / 3])),
    ]  # fmt: skip


@checker("decoded_fraction")
def _check_decoded_fraction(fn):  # chapter 03
    return [
        expect(fn, "50 fps video, 5 fps, 60 s", (50, 5), (300, 0.1)),
        expect(fn, "50 fps video, 10 fps, 60 s", (50, 10), (600, 0.2)),
        expect(fn, "60 fps video, 12 fps, 2 s", (60, 12), (24, 0.2), n_windows=2),
        expect(fn, "25 fps video, every frame, 3 s", (25, 25), (75, 1.0), n_windows=3),
    ]  # fmt: skip


@checker("bio_share")
def _check_bio_share(fn):  # chapter 04
    gate = np.array([[0.2, 0.2, 0.6, 0.6], [0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 0.0, 0.0]])
    # one face feature at 1, three bio features at 1, 1, 0.5: bio mean 5/6, share (5/6) / (11/6)
    odd = np.array([[1.0, 1.0, 1.0, 0.5]])
    return [
        expect(fn, "3 samples, 2 face + 2 bio features", (gate, 2), np.array([0.75, 0.5, 0.0])),
        expect(fn, "1 face + 3 bio features (means, not sums)", (odd, 1), np.array([5 / 11])),
    ]  # fmt: skip


@checker("four_stage_costs")
def _check_four_stage_costs(fn):  # chapter 04
    from emolab.models import build_model

    table = fn()
    if not isinstance(table, pd.DataFrame) or not {"3 stages", "4 stages"} <= set(table.index):
        return [[f"expected complexity_table rows '3 stages' and '4 stages', got {table!r}"]]
    default = sum(p.numel() for p in build_model("gbvnet").parameters())
    params, flops = table["total params"], table["MFLOPs/sample (inference)"]
    return [
        [] if params["3 stages"] == default else
        [f"'3 stages' should be the default GBV-Net ({default} parameters), got {params['3 stages']}"],
        [] if params["4 stages"] > params["3 stages"] else
        ["the four-stage model should have more parameters than the default"],
        [] if params["4 stages"] / params["3 stages"] > flops["4 stages"] / flops["3 stages"] else
        ["a fourth stage on a 2 x 2 map should add relatively more parameters than FLOPs"],
    ]  # fmt: skip


@checker("balanced_accuracy")
def _check_balanced_accuracy(fn):  # chapter 05
    a = np.array
    high8 = a([1] * 8 + [0] * 2)
    return [
        expect(fn, "true [1, 1, 1, 0], predicted [1, 1, 0, 0]: recalls 2/3 and 1",
               (a([1, 1, 1, 0]), a([1, 1, 0, 0])), (2 / 3 + 1) / 2),
        expect(fn, "80 % high labels, always answering high", (high8, np.ones(10, int)), 0.5),
        expect(fn, "every answer wrong", (a([0, 1]), a([1, 0])), 0.0),
        expect(fn, "every answer right", (a([0, 0, 1, 1]), a([0, 0, 1, 1])), 1.0),
    ]  # fmt: skip


@checker("per_subject_gap")
def _check_per_subject_gap(fn):  # chapter 05
    rows = [("face", "paper-segment-kfold", 1, 0.9), ("face", "paper-segment-kfold", 1, 0.7),
            ("face", "trial-kfold", 1, 0.6), ("face", "paper-segment-kfold", 2, 0.5),
            ("face", "trial-kfold", 2, 0.55), ("bio", "paper-segment-kfold", 1, 0.99),
            ("bio", "trial-kfold", 1, 0.1)]  # fmt: skip
    results = pd.DataFrame(rows, columns=["modalities", "protocol", "subject", "accuracy"])
    want = pd.DataFrame({"paper-segment-kfold": [0.8, 0.5], "trial-kfold": [0.6, 0.55],
                         "leak_gap": [0.2, -0.05]}, index=[1, 2])  # fmt: skip
    return [expect(fn, "2 subjects, face rows (bio rows must be left out)", (results,), want)]


@checker("per_trial_accuracy")
def _check_per_trial_accuracy(fn):  # chapter 06
    rows = [("trial-kfold", 1, 3, 1, s) for s in (0.9, 0.5, 0.2, 0.7)]  # 3 of 4 right
    rows += [("trial-kfold", 1, 5, 0, s) for s in (0.1, 0.6)]  # 1 of 2
    rows += [("trial-kfold", 2, 1, 0, s) for s in (0.4, 0.3, 0.49)]  # all right
    rows += [("paper-segment-kfold", 1, 3, 1, 0.0)]  # another protocol: left out
    p = pd.DataFrame(rows, columns=["protocol", "subject", "trial", "y_true", "y_score"])
    p.insert(0, "task", "valence")
    index = pd.MultiIndex.from_tuples([("valence", 1, 3), ("valence", 1, 5), ("valence", 2, 1)])
    want = pd.DataFrame({"accuracy": [0.75, 0.5, 1.0]}, index=index)
    return [expect(fn, "3 trials, a score of 0.5 counts as high", (p,), want)]


@checker("optimism_after")
def _check_optimism_after(fn):  # chapter 06
    # fold A: validation picks epoch 2 (test 0.5), the best test epoch is 3 (0.9);
    # fold B: validation picks the best test epoch each time, so its optimism is 0.
    curves = pd.DataFrame({"subject": [1] * 6, "fold": [0, 0, 0, 1, 1, 1],
                           "epoch": [1, 2, 3, 1, 2, 3],
                           "val_loss": [0.5, 0.4, 0.6, 0.3, 0.2, 0.1],
                           "test_accuracy": [0.6, 0.5, 0.9, 0.7, 0.7, 0.8]})  # fmt: skip
    return [
        expect(fn, "k = 1 (one epoch: nothing to choose)", (curves, 1), 0.0),
        expect(fn, "k = 2 (fold A: 0.6 - 0.5, fold B: 0)", (curves, 2), 0.05),
        expect(fn, "k = 3 (fold A: 0.9 - 0.5, fold B: 0)", (curves, 3), 0.2),
    ]  # fmt: skip


@checker("face_preferred_fraction")
def _check_face_preferred_fraction(fn):  # chapter 07
    samples = pd.DataFrame({"subject": [1, 1, 1, 2, 2],
                            "gate_face": [0.6, 0.5, 0.2, 0.7, 0.8],
                            "gate_bio": [0.4, 0.5, 0.9, 0.1, 0.2]})  # fmt: skip
    want = pd.Series([1 / 3, 1.0], index=[1, 2])
    return [expect(fn, "subject 1: one of three (a tie is not 'more open'), subject 2: both",
                   (samples,), want)]  # fmt: skip


@checker("min_correct_trials")
def _check_min_correct_trials(fn):  # chapter 08
    return [
        expect(fn, "10 trials, baseline 0.5: P(>= 9) = 11/1024 < 0.05 but P(>= 8) = 56/1024 > 0.05",
               (10, 0.5), 9, alpha=0.05),
        expect(fn, "20 trials, baseline 0.5 (P(>= 15) = 0.021, P(>= 14) = 0.058)", (20, 0.5), 15, alpha=0.05),
        expect(fn, "1 trial, baseline 0.01: one correct trial has p = 0.01", (1, 0.01), 1, alpha=0.05),
        expect(fn, "5 trials, baseline 0.9: even 5 of 5 has p = 0.59, so no k (None)", (5, 0.9), None,
               alpha=0.05),
    ]  # fmt: skip


@checker("leak_gaps")
def _check_leak_gaps(fn):  # chapter 08
    rows = [("gbvnet", "face", "valence", "paper's protocol", 0.95), ("gbvnet", "face", "valence", "trial-kfold", 0.7),
            ("gbvnet", "face", "valence", "loso", 0.6), ("safavi", "bio", "arousal", "paper's protocol", 0.9),
            ("safavi", "bio", "arousal", "trial-kfold", 0.4)]  # fmt: skip
    comparison = pd.DataFrame(rows, columns=["model", "modalities", "task", "evaluation", "accuracy"])
    index = pd.MultiIndex.from_tuples([("safavi", "bio", "arousal"), ("gbvnet", "face", "valence")],
                                      names=["model", "modalities", "task"])  # fmt: skip
    want = pd.Series([0.5, 0.25], index=index)
    return [expect(fn, "two rows, gaps 0.25 and 0.5 (largest first; loso is not part of it)", (comparison,), want)]


@checker("shared_trial_fraction")
def _check_shared_trial_fraction(fn):  # chapter 09
    from emolab.train.protocols import Fold

    meta = pd.DataFrame({"subject": [1, 1, 1, 1, 2, 2], "trial": [1, 1, 2, 2, 1, 1]})
    a = np.array
    folds = [Fold("hand-made", 1, 0, a([0, 2]), a([1, 3])),  # both test trials also train: 1.0
             Fold("hand-made", 1, 1, a([0, 1]), a([2, 3])),  # trial 2 only in test: 0.0
             Fold("hand-made", -1, 2, a([0, 1, 2]), a([3, 4, 5]))]  # (1, 2) shared; (2, 1) not: 1/3
    return [expect(fn, "three hand-made folds (subject 2's trial 1 is not subject 1's trial 1)", (folds, meta),
                   [1.0, 0.0, 1 / 3])]  # fmt: skip


@checker("gap_by_fingerprint")
def _check_gap_by_fingerprint(fn):  # chapter 09
    rows = [("LR", 0.0, "paper-segment-kfold", 0.9), ("LR", 0.0, "trial-kfold", 0.88), ("LR", 0.0, "loso", 0.8),
            ("LR", 2.0, "paper-segment-kfold", 1.0), ("LR", 2.0, "trial-kfold", 0.55),
            ("deep", 0.0, "paper-segment-kfold", 0.8), ("deep", 0.0, "trial-kfold", 0.7),
            ("deep", 2.0, "paper-segment-kfold", 0.85), ("deep", 2.0, "trial-kfold", 0.65)]  # fmt: skip
    sweep = pd.DataFrame(rows, columns=["pipeline", "fingerprint", "protocol", "accuracy"])
    want = pd.DataFrame({"LR": [0.02, 0.45], "deep": [0.1, 0.2]}, index=[0.0, 2.0])
    return [expect(fn, "two pipelines at fingerprints 0 and 2", (sweep,), want)]


@checker("bio_noise_sweep")
def _check_bio_noise_sweep(fn, model=None, test_set=None):  # chapter 07
    if model is None or test_set is None:
        raise MissingContext("check('bio_noise_sweep', fn, model=..., test_set=...) needs the model "
                             "and test set of the chapter")  # fmt: skip
    snrs = (30.0, -30.0)
    res = fn(model, test_set, snrs)
    need = {"condition", "accuracy", "accuracy_drop"}
    if not isinstance(res, pd.DataFrame) or not need <= set(res.columns):
        return [[f"expected a DataFrame with columns {sorted(need)}, got {res!r}"]]
    drop_ok = np.allclose(res["accuracy_drop"], res["accuracy"].iloc[0] - res["accuracy"])
    return [
        [] if len(res) == 2 + len(snrs) else
        [f"snrs={snrs}: expected 4 rows (clean, face missing, one per SNR), got {len(res)}"],
        [] if math.isclose(float(res["accuracy_drop"].iloc[0]), 0.0, abs_tol=1e-9) else
        ["the first row should be the clean condition (accuracy_drop 0)"],
        [] if drop_ok else ["accuracy_drop should be the clean accuracy minus each row's"],
    ]  # fmt: skip
