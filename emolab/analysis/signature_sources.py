"""Trial-signature sources switched on one at a time (chapter 09).

Every source of a trial signature that the book's own data and pipeline make is a knob
(:data:`emolab.experiments.SIGNATURE_SOURCES`): the generator's trial fingerprint
(``fingerprint``), its per-trial recording nuisances (``trial_nuisance``), self-assessment noise
in the ratings (``label_noise``), the papers' mean baseline second (``PhysioConfig.baseline``) and
the per-trial normalisation (``normalize="baseline_std"``).  The control has every one off — the
generator's knobs at 0 and a preprocessing that stamps nothing (no baseline subtracted, each
channel standardised on the training fold) — and each other source is the control with that one
source on; ``"all"`` is the book's own data and preprocessing.

:func:`signature_sources` measures, for each source, on bio-only synthetic stores (no video is
rendered, so each builds in seconds):

* the signature itself: within- and between-trial similarity and trial identifiability per channel
  group (:func:`~emolab.analysis.signatures.trial_signatures`);
* what it does to a feature baseline: the simple classifiers of
  :func:`~emolab.analysis.signatures.input_signature`, each a paired per-subject gap (segment
  k-fold minus ``trial-kfold``);
* what it does to one deep model: the registry's ``"signatures"`` grids (GBV-Net's physiological
  branch, arousal), the same paired gap (:func:`~emolab.experiments.paired_gap`);
* the share of the ``"all"`` gap that each source alone reaches (gaps need not add up: sources
  can mask or reinforce one another).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from emolab.analysis.signatures import input_signature, trial_signatures
from emolab.experiments.audit import audit_protocols
from emolab.experiments.grids import SIGNATURE_SOURCES, grids
from emolab.experiments.profiles import ExperimentProfile, default_results_path, get_profile
from emolab.experiments.results import load_grid_results
from emolab.experiments.runner import grid_cells, run_grid
from emolab.experiments.segments import prepare_segments
from emolab.experiments.summaries import paired_gap

__all__ = ["SignatureSources", "describe_gaps", "rating_flips", "signature_sources", "source_table"]

#: The leaky protocol the sources are measured under (Safavi et al.'s, per subject).
LEAKY = "paper-segment-kfold"


@dataclass
class SignatureSources:
    """What :func:`signature_sources` measured.

    Attributes
    ----------
    signatures : DataFrame
        :func:`~emolab.analysis.signatures.trial_signatures` per source: ``source`` + its columns
        (one row per channel group).
    gaps : DataFrame
        One row per source and pipeline: ``source``, ``pipeline`` (a feature baseline's probe or
        the deep model), ``gap``, ``gap_low``, ``gap_high`` (segment k-fold minus ``trial-kfold``,
        paired per subject), ``share`` (``gap`` over the same pipeline's gap with every source
        on), ``leaky_accuracy``, ``honest_accuracy`` (deep model only), ``n_subjects``.
    results : DataFrame
        The deep model's rows of the results table, with a ``source`` column.
    audits : DataFrame
        :func:`~emolab.experiments.audit_protocols` of each source's evaluations with the
        measured :class:`~emolab.train.leak_audit.TrialSignature`: ``source``, ``protocol`` and
        the audit's columns (every check).
    inputs : dict
        ``{source: TrialSignature}``.
    """

    signatures: pd.DataFrame
    gaps: pd.DataFrame
    results: pd.DataFrame
    audits: pd.DataFrame
    inputs: dict


def _source_grid(name: str):
    names = list(SIGNATURE_SOURCES)
    found = grids("signatures")
    if len(found) != len(names):
        raise RuntimeError("the registry's 'signatures' grids and SIGNATURE_SOURCES differ in length")
    return found[names.index(name)]


def signature_sources(
    *,
    sources: Sequence[str] | None = None,
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    device: str = "auto",
    results_path: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    train: bool = True,
    deep: bool = True,
    verbose: bool | str | None = "ERROR",
    **extra_knobs,
) -> SignatureSources:
    """Each trial-signature source alone: its signature, and the gap it opens (see the module doc).

    Parameters
    ----------
    sources : sequence of str or None
        Names of :data:`~emolab.experiments.SIGNATURE_SOURCES` (``None``: all, in its order;
        the share needs ``"all"``).
    profile, seed, device, results_path, n_jobs :
        As for :func:`~emolab.experiments.run_grid`; each source's grid runs with the profile's
        preprocessing changed as the source says (:meth:`Grid.profile
        <emolab.experiments.Grid.profile>`).
    train : bool
        ``False``: read the deep model's cells from the results table only (``KeyError`` naming
        the first missing one).
    deep : bool
        ``False``: the feature baselines only (seconds per source).
    **extra_knobs
        Knobs of :class:`~emolab.data.synthetic.SyntheticConfig` set on top of every source's,
        e.g. ``physio_arousal=0, physio_valence=0`` to take the emotion out of the signals.
    """
    names = list(SIGNATURE_SOURCES) if sources is None else list(sources)
    unknown = [n for n in names if n not in SIGNATURE_SOURCES]
    if unknown:
        raise KeyError(f"unknown signature sources {unknown}; known: {list(SIGNATURE_SOURCES)}")
    base = get_profile(profile)
    path = Path(results_path) if results_path is not None else default_results_path(base)
    sig_frames, gap_rows, result_frames, audit_frames, inputs = [], [], [], [], {}
    for name in names:
        spec = _source_grid(name)
        knobs = {**spec.synthetic[0], **extra_knobs}
        prof = spec.profile(base)
        # "all" is chapters 05-08's store (face and bio), whose bio-only cells chapter 05 trained
        modalities = ("bio",) if knobs.get("face_subjects") == 0 else ("face", "bio")
        data = prepare_segments(None, profile=prof, seed=seed, modalities=modalities, verbose=verbose, **knobs)
        task = spec.tasks[0]
        sig_frames.append(trial_signatures(data, face=False, seed=seed, verbose=verbose).assign(source=name))
        measured = input_signature(data, task=task, leaky=LEAKY, n_splits=prof.n_splits, seed=seed)
        inputs[name] = measured
        audit_frames.append(audit_protocols(data, protocols=spec.protocols, task=task, profile=prof, seed=seed,
                                            signature=measured).assign(source=name))  # fmt: skip
        for p in measured.probes:
            gap_rows.append({"source": name, "pipeline": p.name, "gap": p.gap, "gap_low": p.gap_low,
                             "gap_high": p.gap_high, "n_subjects": measured.n_subjects})  # fmt: skip
        if deep:
            if train:
                rows = run_grid(data, **spec.kwargs(), profile=prof, seed=seed, device=device, results_path=path,
                                n_jobs=n_jobs, verbose=verbose)  # fmt: skip
            else:
                rows = load_grid_results(path, cells=grid_cells(data, **spec.kwargs(), profile=prof, seed=seed,
                                                                device=device))  # fmt: skip
            result_frames.append(rows.assign(source=name))
            gap = paired_gap(rows, leaky=LEAKY)
            gap_rows.append({"source": name, "pipeline": "GBV-Net bio (deep)", **gap})
    gaps = pd.DataFrame(gap_rows)
    if "all" in names:
        total = gaps[gaps["source"] == "all"].set_index("pipeline")["gap"]
        gaps["share"] = gaps["gap"] / gaps["pipeline"].map(total)
    else:
        gaps["share"] = float("nan")
    signatures = pd.concat(sig_frames, ignore_index=True)
    signatures = signatures[["source", *[c for c in signatures.columns if c != "source"]]]
    results = pd.concat(result_frames, ignore_index=True) if result_frames else pd.DataFrame()
    audits = pd.concat(audit_frames, ignore_index=True)
    audits = audits[["source", *[c for c in audits.columns if c != "source"]]]
    return SignatureSources(signatures=signatures, gaps=gaps, results=results, audits=audits, inputs=inputs)


def describe_gaps(gaps: pd.DataFrame, *, pipeline: str | None = None) -> list[str]:
    """One sentence per row of :attr:`SignatureSources.gaps` (of one ``pipeline``, or all): the
    two accuracies where known, the paired gap with its interval, whether that contains 0, and
    the share of the gap with every source on."""
    rows = gaps if pipeline is None else gaps[gaps["pipeline"] == pipeline]
    out = []
    for _, r in rows.iterrows():
        inside = "contains 0" if r["gap_low"] <= 0 <= r["gap_high"] else "excludes 0"
        acc = ""
        if pd.notna(r.get("leaky_accuracy")):
            acc = f"segment k-fold {r['leaky_accuracy']:.3f} vs trial-kfold {r['honest_accuracy']:.3f}, "
        share = f"; {r['share']:.0%} of the gap with every source on" if pd.notna(r.get("share")) else ""
        out.append(f"{r['source']}, {r['pipeline']}: {acc}gap {r['gap']:+.3f} "
                   f"[{r['gap_low']:+.3f}, {r['gap_high']:+.3f}] ({inside}){share}")  # fmt: skip
    return out


def source_table(profile: str | ExperimentProfile = "smoke") -> pd.DataFrame:
    """The registry's trial-signature sources (:data:`~emolab.experiments.SIGNATURE_SOURCES`):
    one row per source with the generator knobs and the preprocessing it runs with (those it
    does not set are the ``profile``'s and the generator's defaults)."""
    from emolab.data.synthetic import make_config

    base = get_profile(profile)
    rows = {}
    for g, name in zip(grids("signatures"), SIGNATURE_SOURCES):
        cfg = make_config(preset=base.synthetic_preset, **{**base.synthetic_knobs, **g.synthetic[0]})
        prof = g.profile(base)
        rows[name] = {"fingerprint": cfg.fingerprint, "trial_nuisance": cfg.trial_nuisance,
                      "label_noise": cfg.label_noise, "baseline": prof.baseline, "normalize": prof.normalize}  # fmt: skip
    return pd.DataFrame(rows).T


def rating_flips(*, profile: str | ExperimentProfile = "smoke", seed: int = 0, task: str = "arousal",
                 label_noise: float | None = None) -> pd.DataFrame:  # fmt: skip
    """How many trials the self-assessment noise moves across the high/low threshold (rating >= 5).

    Compares the generator's ratings with ``label_noise`` (``None``: the value of the
    ``"rating noise"`` source) against the same trials rated without noise, from the ground truth
    of the design (:func:`emolab.data.synthetic.design`; nothing is written).  Only a flipped
    trial can reward a model for copying its label.

    Returns
    -------
    DataFrame
        One row per subject: ``subject``, ``flipped`` (trials), ``trials``.
    """
    from emolab.data.synthetic import design, make_config

    base = get_profile(profile)
    if label_noise is None:
        label_noise = float(SIGNATURE_SOURCES["rating noise"][0]["label_noise"])
    knobs = dict(base.synthetic_knobs)
    noisy = design(make_config(preset=base.synthetic_preset, **{**knobs, "label_noise": label_noise}), seed=seed)
    clean = design(make_config(preset=base.synthetic_preset, **{**knobs, "label_noise": 0.0}), seed=seed)
    col = f"rating_{task}"
    flipped = (noisy[col] >= 5.0) != (clean[col] >= 5.0)
    out = pd.DataFrame({"subject": noisy["subject"], "flipped": flipped})
    return out.groupby("subject").agg(flipped=("flipped", "sum"), trials=("flipped", "size")).reset_index()
