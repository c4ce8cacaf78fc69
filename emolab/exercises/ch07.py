"""Chapter 7's exercise checks: ``face_preferred_fraction`` and ``bio_noise_sweep``.

The chapter, ``notebooks/07_fusion_gated.ipynb`` (GBV-Net: gated fusion, and what the gate
trusts), calls them with ``check(name, fn)`` after each exercise.  Every expected value below
is worked out by hand from the small case beside it (or is a property any right answer has);
none is computed by a reference solution.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from emolab.exercises.checking import MissingContext, checker, expect


@checker("face_preferred_fraction")
def _check_face_preferred_fraction(fn):
    samples = pd.DataFrame({"subject": [1, 1, 1, 2, 2],
                            "gate_face": [0.6, 0.5, 0.2, 0.7, 0.8],
                            "gate_bio": [0.4, 0.5, 0.9, 0.1, 0.2]})  # fmt: skip
    want = pd.Series([1 / 3, 1.0], index=[1, 2])
    return [expect(fn, "subject 1: one of three (a tie is not 'more open'), subject 2: both",
                   (samples,), want)]  # fmt: skip


@checker("bio_noise_sweep")
def _check_bio_noise_sweep(fn, model=None, test_set=None):
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
