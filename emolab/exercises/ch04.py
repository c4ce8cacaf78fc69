"""Chapter 4's exercise checks: ``bio_share`` and ``four_stage_costs``.

The chapter, ``notebooks/04_models.ipynb`` (Models: four encoders, four fusion heads, one
wrapper), calls them with ``check(name, fn)`` after each exercise.  Every expected value below
is worked out by hand from the small case beside it (or is a property any right answer has);
none is computed by a reference solution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emolab.exercises.checking import checker, expect


@checker("bio_share")
def _check_bio_share(fn):
    gate = np.array([[0.2, 0.2, 0.6, 0.6], [0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 0.0, 0.0]])
    # one face feature at 1, three bio features at 1, 1, 0.5: bio mean 5/6, share (5/6) / (11/6)
    odd = np.array([[1.0, 1.0, 1.0, 0.5]])
    return [
        expect(fn, "3 samples, 2 face + 2 bio features", (gate, 2), np.array([0.75, 0.5, 0.0])),
        expect(fn, "1 face + 3 bio features (means, not sums)", (odd, 1), np.array([5 / 11])),
    ]  # fmt: skip


@checker("four_stage_costs")
def _check_four_stage_costs(fn):
    from emolab.models import build_model

    table = fn()
    if not isinstance(table, pd.DataFrame) or not {"3 stages", "4 stages"} <= set(table.index):
        return [[f"expected complexity_table rows '3 stages' and '4 stages', got {table!r}"]]
    default = sum(p.numel() for p in build_model("gbvnet").parameters())
    params, flops = table["total params"], table["MFLOPs/sample (inference)"]
    return [
        [] if params["3 stages"] == default else
        [f"'3 stages' should be the default GBV-Net ({default} parameters), got {params['3 stages']}"],
        [] if params["4 stages"] > params["3 stages"] else
        ["the four-stage model should have more parameters than the default"],
        [] if params["4 stages"] / params["3 stages"] > flops["4 stages"] / flops["3 stages"] else
        ["a fourth stage on a 2 x 2 map should add relatively more parameters than FLOPs"],
    ]  # fmt: skip
