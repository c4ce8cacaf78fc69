"""Experiments: profiles, segments, grids, the runner and the results tables of chapters 05-09.

A chapter does three things: get the segments (:func:`prepare_segments`), run a grid of
model × modalities × task × protocol cells (:func:`run_grid`, built on the resumable
:func:`emolab.train.sweep.run_sweep`), and read the results back (:func:`load_grid_results`,
:func:`summarize`, :func:`grid_histories`, :func:`grid_predictions`).  Chapter 08 sets the
results beside the papers' published figures (:func:`emolab.analysis.paper_comparison`), chapter 09 switches each
source of a trial signature on alone (:func:`emolab.analysis.signature_sources`), and every result chapter audits its
evaluations for leaks (:func:`audit_protocols`).

Every chapter of a profile appends to one results table (:func:`default_results_path`), so a cell
that two chapters need — say the Safavi bio-only model under ``trial-kfold``, which chapter 05
trains as an ablation and chapter 06 compares with the fusion model — is trained once: the second
chapter finds its ``cell_id`` in the table and skips it.  A chapter run alone on a fresh kernel
still computes everything it shows.

Profiles
--------
``"smoke"``
    Ours: the book's CI run on two CPU cores.  Six synthetic subjects of 12 short trials, every
    fold of 3-fold splits, small face crops, and one recipe per architecture (epochs,
    augmentation) for every modality set and protocol, chosen on development seeds without any
    test fold (:mod:`emolab.experiments.recipe`).
``"full"``
    The papers' settings (Safavi et al. :cite:`safavi_deep_multimodal`, GBV-Net
    :cite:`yu2025gbvnet`): the subjects with face video (DEAP: 1-22), 10 folds, Adam with
    learning rate 1e-3, batch 256; Safavi et al. per subject with faces at 5 fps, GBV-Net pooled
    with faces at 10 fps (DEAP) or 12 (MAHNOB-HCI) and its augmentations; epochs and patience are
    ours (neither paper gives them).  Meant for the real data on a GPU; ``book/own_data.md``
    gives the commands and ``benchmarks/rehearse_full.py`` rehearses it on real-sized data.

>>> profile = get_profile("smoke")                                          # doctest: +SKIP
>>> dataset = prepare_segments(None, profile=profile, seed=0)               # doctest: +SKIP
>>> results = run_grid(dataset, models=["safavi"], modalities=[("bio",)],   # doctest: +SKIP
...                    tasks=["arousal"], protocols=["trial-kfold"], profile=profile)
>>> summarize(results)                                                      # doctest: +SKIP

Modules: :mod:`~emolab.experiments.profiles` (how big an experiment is),
:mod:`~emolab.experiments.segments` (its data), :mod:`~emolab.experiments.grids` (what each
chapter trains, and each model's paper protocol), :mod:`~emolab.experiments.runner` (training a
grid into the results table), :mod:`~emolab.experiments.results` (reading it back),
:mod:`~emolab.experiments.summaries` (intervals, verdicts, gaps) and
:mod:`~emolab.experiments.audit` (the leak audit of a grid's evaluations).  Analyses that belong
to one chapter's topic live in :mod:`emolab.analysis`.
"""

from emolab.experiments.audit import audit_protocols
from emolab.experiments.grids import (
    BALANCE_ARMS,
    FUSION_ARMS,
    GRIDS,
    NO_SIGNATURE_KNOBS,
    NO_SIGNATURE_PREPROCESSING,
    PAPER_PROTOCOL,
    PAPER_PROTOCOLS,
    SIGNATURE_SOURCES,
    Grid,
    grid,
    grids,
    paper_protocol,
    resolve_protocols,
    runnable_grids,
)
from emolab.experiments.profiles import (
    NORMALIZATIONS,
    PROFILES,
    ExperimentProfile,
    available_cores,
    default_results_path,
    get_profile,
    torch_threads,
)
from emolab.experiments.recipe import choose_recipe, development_folds, recipe_table, search_recipe
from emolab.experiments.results import (
    grid_histories,
    grid_predictions,
    has_face_results,
    load_grid_results,
    synthetic_expectations,
)
from emolab.experiments.runner import grid_cells, run_grid
from emolab.experiments.segments import prepare_segments, segments_at_fps
from emolab.experiments.summaries import (
    accuracy_table,
    fusion_gains,
    paired_gap,
    paired_gaps,
    protocol_gaps,
    summarize,
    verdicts,
)
from emolab.store.dataset import (
    TrialHeads,
    face_subjects,
    open_segments,
    segment_shapes,
)

__all__ = [
    "BALANCE_ARMS", "FUSION_ARMS", "GRIDS", "NO_SIGNATURE_KNOBS", "NO_SIGNATURE_PREPROCESSING", "PAPER_PROTOCOL", "PAPER_PROTOCOLS",
    "NORMALIZATIONS", "SIGNATURE_SOURCES", "PROFILES", "ExperimentProfile", "Grid", "TrialHeads", "accuracy_table",
    "audit_protocols", "available_cores", "choose_recipe", "development_folds", "recipe_table", "search_recipe", "default_results_path", "face_subjects", "fusion_gains", "get_profile", "grid",
    "grid_cells", "grid_histories", "grid_predictions", "grids", "has_face_results", "load_grid_results",
    "open_segments", "paired_gap", "paired_gaps", "paper_protocol", "prepare_segments", "protocol_gaps", "resolve_protocols", "run_grid", "runnable_grids",
    "segment_shapes", "segments_at_fps", "summarize", "synthetic_expectations", "torch_threads", "verdicts",
]  # fmt: skip
