"""Chapter 5's exercise checks: ``balanced_accuracy`` and ``per_subject_gap``.

The chapter, ``notebooks/05_unimodal_ablations.ipynb`` (Unimodal ablations: what the face and
the body each know), calls them with ``check(name, fn)`` after each exercise.  Every expected
value below is worked out by hand from the small case beside it (or is a property any right
answer has); none is computed by a reference solution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emolab.exercises.checking import checker, expect


@checker("balanced_accuracy")
def _check_balanced_accuracy(fn):
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
def _check_per_subject_gap(fn):
    rows = [("face", "paper-segment-kfold", 1, 0.9), ("face", "paper-segment-kfold", 1, 0.7),
            ("face", "trial-kfold", 1, 0.6), ("face", "paper-segment-kfold", 2, 0.5),
            ("face", "trial-kfold", 2, 0.55), ("bio", "paper-segment-kfold", 1, 0.99),
            ("bio", "trial-kfold", 1, 0.1)]  # fmt: skip
    results = pd.DataFrame(rows, columns=["modalities", "protocol", "subject", "accuracy"])
    want = pd.DataFrame({"paper-segment-kfold": [0.8, 0.5], "trial-kfold": [0.6, 0.55],
                         "leak_gap": [0.2, -0.05]}, index=[1, 2])  # fmt: skip
    return [expect(fn, "2 subjects, face rows (bio rows must be left out)", (results,), want)]
