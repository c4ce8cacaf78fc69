"""What chapters 05-07 claim, checked on the results they computed."""

from __future__ import annotations

import os

import pandas as pd

from emolab.experiments.grids import grid, grids
from emolab.experiments.profiles import (
    ExperimentProfile,
    default_results_path,
    get_profile,
)
from emolab.experiments.results import load_grid_results
from emolab.experiments.runner import grid_cells
from emolab.experiments.segments import prepare_segments
from emolab.experiments.summaries import fusion_gains, paired_gap, protocol_gaps, summarize


def chapter_claims(
    *,
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    results_path: str | os.PathLike | None = None,
    margin: float = 0.10,
    fusion_tolerance: float = 0.02,
) -> pd.DataFrame:
    """Check, on results already computed by chapters 05-07, what their text claims.

    Reads the cells of the registry's grids (:data:`~emolab.experiments.GRIDS`) ``unimodal``,
    ``fusion`` and ``control`` for the synthetic data of ``profile`` and ``seed`` from the
    results table (``KeyError`` when a chapter has not run) and returns one row per
    claim with the measured value and ``holds``:

    * ``baseline``: under ``trial-kfold``, face-only valence and bio-only arousal beat their
      majority baseline by at least ``margin``, with the interval's lower end above it (each
      model);
    * ``leak``: the paper protocol scores above ``trial-kfold`` for every model x modalities x
      task;
    * ``control``: with every trial signature off (the registry's control: data and
      preprocessing), the paired per-subject gap between the two protocols has an interval that
      contains 0 (:func:`~emolab.experiments.paired_gap`).  Not guaranteed: the emotion stays
      in the signals and is constant within a trial (chapter 09, section 3.4);
    * ``fusion``: under ``trial-kfold`` fusion scores at least the better single modality minus
      ``fusion_tolerance`` (each model and task);
    * ``bounds``: every interval lies in [0, 1].
    """
    profile = get_profile(profile)
    path = default_results_path(profile) if results_path is None else results_path

    def load(dataset, g):
        cells = grid_cells(dataset, profile=profile, seed=seed, **g.kwargs())
        return load_grid_results(path, cells=cells)

    data = prepare_segments(None, profile=profile, seed=seed, verbose="WARNING")
    control_grid = grids("control")[0]  # every trial signature of the data and preprocessing off
    control_profile = control_grid.profile(profile)
    control = prepare_segments(None, profile=control_profile, seed=seed, verbose="WARNING",
                               **control_grid.synthetic[0])  # fmt: skip
    uni = load(data, grid("unimodal"))
    fusion = load(data, grid("fusion"))
    fused = fusion[fusion["modalities"] == "face+bio"]
    ctrl = pd.concat([load_grid_results(path, cells=grid_cells(control, profile=control_profile, seed=seed,
                                                               **g.kwargs()))
                      for g in grids("control")], ignore_index=True)  # fmt: skip
    rows = []
    s = summarize(uni)
    honest = s[s["protocol"] == "trial-kfold"].set_index(["model", "modalities", "task"])
    for model in grid("unimodal").models:
        for mod, task in (("face", "valence"), ("bio", "arousal")):
            r = honest.loc[(model, mod, task)]
            ok = r["accuracy"] - r["majority_baseline"] >= margin and r["accuracy_ci_low"] > r["majority_baseline"]
            rows.append({"claim": "baseline", "what": f"{model} {mod} {task} trial-kfold",
                         "measured": f"{r['accuracy']:.3f} [{r['accuracy_ci_low']:.3f}, {r['accuracy_ci_high']:.3f}]"
                                     f" vs majority {r['majority_baseline']:.3f}", "holds": bool(ok)})  # fmt: skip
    for _, g in protocol_gaps(s, leaky="paper-segment-kfold").iterrows():
        rows.append({"claim": "leak", "what": f"{g['model']} {g['modalities']} {g['task']}",
                     "measured": f"gap {g['gap']:+.3f}", "holds": bool(g["gap"] > 0)})  # fmt: skip
    for (model, mods, task), part in ctrl.groupby(["model", "modalities", "task"]):
        g = paired_gap(part, leaky="paper-segment-kfold")
        rows.append({"claim": "control", "what": f"{model} {mods} {task} without trial signatures",
                     "measured": f"paired gap {g['gap']:+.3f} [{g['gap_low']:+.3f}, {g['gap_high']:+.3f}]",
                     "holds": bool(g["gap_low"] <= 0 <= g["gap_high"])})  # fmt: skip
    both = pd.concat([uni[uni["protocol"] == "trial-kfold"], fused], ignore_index=True)
    for _, g in fusion_gains(both).iterrows():
        rows.append({"claim": "fusion", "what": f"{g['model']} {g['task']} trial-kfold",
                     "measured": f"fusion {g['fused']:.3f} vs {g['best_single']} {g['best_single_accuracy']:.3f}",
                     "holds": bool(g["fused"] >= g["best_single_accuracy"] - fusion_tolerance)})  # fmt: skip
    every = pd.concat([summarize(uni), summarize(fused), summarize(ctrl)], ignore_index=True)
    inside = every["accuracy_ci_low"].ge(0).all() and every["accuracy_ci_high"].le(1).all()
    rows.append({"claim": "bounds", "what": f"{len(every)} intervals", "measured": "all in [0, 1]" if inside
                 else "some outside [0, 1]", "holds": bool(inside)})  # fmt: skip
    return pd.DataFrame(rows)


