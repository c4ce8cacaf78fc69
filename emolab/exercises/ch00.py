"""Chapter 0's exercise checks: ``shared_fraction``.

The chapter, ``notebooks/00_introduction.ipynb`` (Introduction: emotions from faces and bodies,
measured honestly), calls it with ``check(name, fn)`` after its exercise.  Every expected value
below is worked out by hand from the small case beside it (or is a property any right answer
has); none is computed by a reference solution.
"""

from __future__ import annotations

import numpy as np

from emolab.exercises.checking import checker, expect


@checker("shared_fraction")
def _check_shared_fraction(fn):
    a = np.array
    return [
        expect(fn, "test groups [1, 1, 2, 3], train [2, 5]", (a([1, 1, 2, 3]), a([2, 5])), 0.25),
        expect(fn, "test groups [4, 4], train [1, 2]", (a([4, 4]), a([1, 2])), 0.0),
        expect(fn, "test ['a', 'b'], train ['b', 'a', 'a']", (a(["a", "b"]), a(["b", "a", "a"])), 1.0),
    ]  # fmt: skip
