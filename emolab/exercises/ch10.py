"""Chapter 10's exercise checks: ``ensemble_probability`` and ``blend_weights``.

The chapter, ``notebooks/10_modality_imbalance.ipynb`` (when fusion hurts: modality imbalance
and its remedies), calls them with ``check(name, fn)`` after each exercise.  Every expected value
below is worked out by hand from the small case beside it; none is computed by a reference
solution.
"""

from __future__ import annotations

import numpy as np

from emolab.exercises.checking import checker, expect


@checker("ensemble_probability")
def _check_ensemble_probability(fn):
    return [
        expect(fn, "w=0.25: 0.25*0.8 + 0.75*0.4 = 0.5, and 0.25*0 + 0.75*1 = 0.75",
               (np.array([0.8, 0.0]), np.array([0.4, 1.0]), 0.25), np.array([0.5, 0.75])),
        expect(fn, "a missing face answer (NaN) leaves the bio model's 0.3",
               (np.array([np.nan, 0.6]), np.array([0.3, 0.2]), 0.5), np.array([0.3, 0.4])),
        expect(fn, "w=1 is the face model alone", (np.array([0.9]), np.array([0.1]), 1.0), np.array([0.9])),
    ]  # fmt: skip


@checker("blend_weights")
def _check_blend_weights(fn):
    return [
        expect(fn, "G/O**2: fused 0.2/0.1**2 = 20, face 0.1/0.1**2 = 10, bio 0.2/0.2**2 = 5; sum 35",
               ({"fused": 0.2, "face": 0.1, "bio": 0.2}, {"fused": 0.1, "face": 0.1, "bio": 0.2}),
               {"fused": 20 / 35, "face": 10 / 35, "bio": 5 / 35}),
        expect(fn, "a head whose held-out loss rose (G < 0) gets 0",
               ({"fused": 0.1, "bio": -0.05}, {"fused": 0.5, "bio": 0.1}), {"fused": 1.0, "bio": 0.0}),
    ]  # fmt: skip
