"""Chapter 6's exercise checks: ``per_trial_accuracy`` and ``optimism_after``.

The chapter, ``notebooks/06_fusion_concat.ipynb`` (Concatenation fusion (Safavi et al.)), calls
them with ``check(name, fn)`` after each exercise.  Every expected value below is worked out by
hand from the small case beside it (or is a property any right answer has); none is computed by
a reference solution.
"""

from __future__ import annotations

import pandas as pd

from emolab.exercises.checking import checker, expect


@checker("per_trial_accuracy")
def _check_per_trial_accuracy(fn):
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
def _check_optimism_after(fn):
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
