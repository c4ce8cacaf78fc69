"""Chapter 8's exercise checks: ``min_correct_trials`` and ``leak_gaps``.

The chapter, ``notebooks/08_results.ipynb`` (Results: the papers beside us, under every
protocol), calls them with ``check(name, fn)`` after each exercise.  Every expected value below
is worked out by hand from the small case beside it (or is a property any right answer has);
none is computed by a reference solution.
"""

from __future__ import annotations

import pandas as pd

from emolab.exercises.checking import checker, expect


@checker("min_correct_trials")
def _check_min_correct_trials(fn):
    return [
        expect(fn, "10 trials, baseline 0.5: P(>= 9) = 11/1024 < 0.05 but P(>= 8) = 56/1024 > 0.05",
               (10, 0.5), 9, alpha=0.05),
        expect(fn, "20 trials, baseline 0.5 (P(>= 15) = 0.021, P(>= 14) = 0.058)", (20, 0.5), 15, alpha=0.05),
        expect(fn, "1 trial, baseline 0.01: one correct trial has p = 0.01", (1, 0.01), 1, alpha=0.05),
        expect(fn, "5 trials, baseline 0.9: even 5 of 5 has p = 0.59, so no k (None)", (5, 0.9), None,
               alpha=0.05),
    ]  # fmt: skip


@checker("leak_gaps")
def _check_leak_gaps(fn):
    rows = [("gbvnet", "face", "valence", "paper's protocol", 0.95), ("gbvnet", "face", "valence", "trial-kfold", 0.7),
            ("gbvnet", "face", "valence", "loso", 0.6), ("safavi", "bio", "arousal", "paper's protocol", 0.9),
            ("safavi", "bio", "arousal", "trial-kfold", 0.4)]  # fmt: skip
    comparison = pd.DataFrame(rows, columns=["model", "modalities", "task", "evaluation", "accuracy"])
    index = pd.MultiIndex.from_tuples([("safavi", "bio", "arousal"), ("gbvnet", "face", "valence")],
                                      names=["model", "modalities", "task"])  # fmt: skip
    want = pd.Series([0.5, 0.25], index=index)
    return [expect(fn, "two rows, gaps 0.25 and 0.5 (largest first; loso is not part of it)", (comparison,), want)]
