"""Chapter 9's exercise checks: ``shared_trial_fraction`` and ``gap_by_fingerprint``.

The chapter, ``notebooks/09_why_97_percent.ipynb`` (Why 97 %: the leaks, switched on one at a
time), calls them with ``check(name, fn)`` after each exercise.  Every expected value below is
worked out by hand from the small case beside it (or is a property any right answer has); none
is computed by a reference solution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emolab.exercises.checking import checker, expect


@checker("shared_trial_fraction")
def _check_shared_trial_fraction(fn):
    from emolab.train.protocols import Fold

    meta = pd.DataFrame({"subject": [1, 1, 1, 1, 2, 2], "trial": [1, 1, 2, 2, 1, 1]})
    a = np.array
    folds = [Fold("hand-made", 1, 0, a([0, 2]), a([1, 3])),  # both test trials also train: 1.0
             Fold("hand-made", 1, 1, a([0, 1]), a([2, 3])),  # trial 2 only in test: 0.0
             Fold("hand-made", -1, 2, a([0, 1, 2]), a([3, 4, 5]))]  # (1, 2) shared; (2, 1) not: 1/3
    return [expect(fn, "three hand-made folds (subject 2's trial 1 is not subject 1's trial 1)", (folds, meta),
                   [1.0, 0.0, 1 / 3])]  # fmt: skip


@checker("gap_by_fingerprint")
def _check_gap_by_fingerprint(fn):
    rows = [("LR", 0.0, "paper-segment-kfold", 0.9), ("LR", 0.0, "trial-kfold", 0.88), ("LR", 0.0, "loso", 0.8),
            ("LR", 2.0, "paper-segment-kfold", 1.0), ("LR", 2.0, "trial-kfold", 0.55),
            ("deep", 0.0, "paper-segment-kfold", 0.8), ("deep", 0.0, "trial-kfold", 0.7),
            ("deep", 2.0, "paper-segment-kfold", 0.85), ("deep", 2.0, "trial-kfold", 0.65)]  # fmt: skip
    sweep = pd.DataFrame(rows, columns=["pipeline", "fingerprint", "protocol", "accuracy"])
    want = pd.DataFrame({"LR": [0.02, 0.45], "deep": [0.1, 0.2]}, index=[0.0, 2.0])
    return [expect(fn, "two pipelines at fingerprints 0 and 2", (sweep,), want)]
