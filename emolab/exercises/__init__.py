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

The package: :mod:`~emolab.exercises.checking` (the checker registry, :func:`check`,
:func:`solved`), :mod:`~emolab.exercises.solutions` (the ``%%solution`` magic, the student
export), and one module per chapter, :mod:`~emolab.exercises.ch00` ... ``ch10``, holding the
checks of that chapter's exercises and no others (importing this package registers them all).

Adding an exercise to a chapter (08, 09, ...):

1. Register a checker in the chapter's module ``emolab/exercises/chNN.py``: a function
   ``(fn, **context)`` returning one list of problems per case or property (empty when it
   passed).  Call ``fn`` on small cases whose answers are worked
   out by hand, never by the solution's own code, or test properties every right answer has;
   :func:`expect` calls ``fn`` and names the case, :func:`compare` says what differs::

       @checker("shared_fraction")
       def _check_shared_fraction(fn):
           return [expect(fn, "test [1, 1, 2, 3], train [2, 5]", (a, b), 0.25), ...]

   What the checker needs from the chapter (a trained model, a test set) comes as keyword
   arguments of the check cell: ``check("name", name, model=model)``.
2. Add the cells above to the chapter (the ``solutions`` parameter and the set-up cell once).
3. ``tests/test_exercises.py`` then checks the pattern and that each chapter's module holds
   exactly the checks its notebook calls, runs every cheap solution through its checker and a
   wrong answer too (list a solution that needs the chapter's data in its
   ``SLOW_SOLUTIONS``); ``tests/test_executed_outputs.py`` requires every check cell of the
   built book to say "correct".
"""

from __future__ import annotations

from emolab.book import SOLUTION_TAG, SOLUTIONS_PARAMETER
from emolab.exercises.checking import (CHECKERS, ExerciseError, MissingContext, Verdict, check, checker, compare,
                                       expect, solved)  # fmt: skip
from emolab.exercises.solutions import export_student, load_ipython_extension, run_solution, strip_solutions

# Each chapter's module registers its checks (``@checker``) when it is imported.
from emolab.exercises import ch00, ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10  # noqa: E402, I001

__all__ = ["CHAPTERS", "CHECKERS", "SOLUTION_TAG", "SOLUTIONS_PARAMETER", "ExerciseError", "MissingContext",
           "Verdict", "check", "checker", "compare", "expect", "export_student", "load_ipython_extension",
           "run_solution", "solved", "strip_solutions"]  # fmt: skip

#: The chapters' modules, by chapter number (``"00"`` ... ``"10"``, as in the notebooks' names).
CHAPTERS = {m.__name__.rsplit(".ch", 1)[1]: m for m in (ch00, ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09,
                                                         ch10)}
