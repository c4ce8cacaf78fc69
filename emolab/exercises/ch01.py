"""Chapter 1's exercise checks: ``alpha_asymmetry`` and ``label_balance``.

The chapter, ``notebooks/01_data.ipynb`` (The data: DEAP, MAHNOB-HCI and a synthetic stand-in
you can control), calls them with ``check(name, fn)`` after each exercise.  Every expected
value below is worked out by hand from the small case beside it (or is a property any right
answer has); none is computed by a reference solution.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from emolab.exercises.cases import make_record
from emolab.exercises.checking import checker, expect


@checker("alpha_asymmetry")
def _check_alpha_asymmetry(fn):
    x = np.random.default_rng(0).normal(0, 10, 128 * 21)  # 1 s baseline + 20 s stimulus, µV
    eeg = {"F3": "eeg", "F4": "eeg"}
    loud = x.copy()
    loud[:128] *= 10  # only the baseline differs
    db4 = 10 * math.log10(4)  # F4 = 2 x F3: four times the power at every frequency
    return [
        expect(fn, "F4 = 2 x F3 (answer +6.02 dB)", (make_record({"F3": x, "F4": 2 * x}, eeg),), db4),
        expect(fn, "F4 = F3 / 2 (answer -6.02 dB)", (make_record({"F3": x, "F4": x / 2}, eeg),), -db4),
        expect(fn, "F4 = F3 but 10 x louder in the baseline (answer 0: only the stimulus counts)",
               (make_record({"F3": x, "F4": loud}, eeg),), 0.0),
    ]  # fmt: skip


@checker("label_balance")
def _check_label_balance(fn):
    ratings = pd.DataFrame({"subject": [1, 1, 2, 2, 2, 2],
                            "valence": [5.0, 4.9, 1.0, 2.0, 3.0, 8.0],
                            "arousal": [9.0, 1.0, 5.0, 5.0, 5.0, 1.0]})  # fmt: skip
    want = pd.DataFrame({"valence": [0.5, 0.25], "arousal": [0.5, 0.75]}, index=[1, 2])
    return [expect(fn, "subjects 1 and 2 (a rating of exactly 5 is high)", (ratings,), want)]
