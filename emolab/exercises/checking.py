"""Checking an exercise: the checker registry, :func:`check`, its :class:`Verdict`, :func:`solved`.

A checker is a function ``(fn, **context)`` returning one list of problems per case or property
(empty when it passed); :func:`checker` registers it under the exercise's name, and each
chapter's module (:mod:`emolab.exercises.ch00` ... ``ch09``) registers its own.
:func:`expect` calls a student's function on one case and :func:`compare` says what differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emolab._logging import logger
from emolab.exercises.solutions import is_solution, solutions_switched_on

__all__ = ["CHECKERS", "ExerciseError", "MissingContext", "Verdict", "check", "checker", "compare", "expect",
           "solved"]  # fmt: skip


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
#: name -> (function, verdict) of the latest check, for :func:`solved`.
_LAST: dict[str, tuple[Any, Verdict]] = {}


def checker(name: str) -> Callable:
    """Register a checker for the exercise whose function is called ``name``."""

    def register(fn: Callable[..., list[list[str]]]) -> Callable[..., list[list[str]]]:
        if name in CHECKERS:
            raise ValueError(f"two checkers for exercise {name!r} in emolab.exercises "
                             f"(one in {CHECKERS[name].__module__}, one in {fn.__module__})")
        CHECKERS[name] = fn
        return fn

    return register


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
                       "(add one with @checker in its chapter's emolab/exercises/chNN.py)")  # fmt: skip
    if not callable(fn):
        raise TypeError(f"check({name!r}, ...) needs the function itself, got {type(fn).__name__}")
    if strict is None:
        strict = is_solution(name, fn) or solutions_switched_on()
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
