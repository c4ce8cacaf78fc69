"""What chapters 01 and 05-10 state about their numbers, recomputed from the results table and
the synthetic data, and what the synthetic generator guarantees by construction."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from emolab.analysis.baseline import feature_baseline, with_halves
from emolab.analysis.imbalance import remedy_table
from emolab.analysis.wording import (
    baseline_sentences,
    fingerprint_sentences,
    fusion_sentences,
    gap_sentences,
    pairing_sentence,
    remedy_sentences,
)
from emolab.experiments.grids import grid, grids, resolve_protocols
from emolab.experiments.profiles import ExperimentProfile, default_results_path, get_profile
from emolab.experiments.results import load_grid_results
from emolab.experiments.runner import grid_cells
from emolab.experiments.segments import prepare_segments
from emolab.experiments.summaries import fusion_gains, paired_gaps, summarize, verdicts

__all__ = ["CHAPTER_FILES", "chapter_claims", "chapter_sentences", "notebook_text"]

#: The executed chapter each sentence is printed in.
CHAPTER_FILES = {"01": "01_data.ipynb", "05": "05_unimodal_ablations.ipynb", "06": "06_fusion_concat.ipynb",
                 "07": "07_fusion_gated.ipynb", "08": "08_results.ipynb",
                 "09": "09_why_97_percent.ipynb", "10": "10_modality_imbalance.ipynb"}  # fmt: skip

#: Chapter 09's fingerprint strengths and task (its parameters' defaults).
FINGERPRINTS = (0.0, 0.5, 1.0, 2.0)
FINGERPRINT_PROTOCOLS = ("paper-segment-kfold", "trial-kfold", "loso")

_KEYS = ["model", "modalities", "task"]


def _features(dataset, g, *, profile: ExperimentProfile, seed: int, fusion=("concat", "late")) -> pd.DataFrame:
    """The feature baseline on ``g``'s modality sets, tasks and protocols (each model's paper
    protocol resolved for both models; duplicates dropped)."""
    protocols = sorted({p for m in g.models for p in resolve_protocols(m, g.protocols)})
    return feature_baseline(dataset, modalities=g.modalities, tasks=g.tasks, protocols=protocols,
                            n_splits=profile.n_splits, seed=seed, fusion=fusion,
                            val_fraction=profile.val_fraction)  # fmt: skip


def unimodal_sentences(results: pd.DataFrame, features: pd.DataFrame) -> dict[str, list[str]]:
    """Chapter 05's sentences: ``verdict`` (each leak-free row against its majority baseline),
    ``leak`` (segment k-fold against ``trial-kfold``, paired per subject) and ``yardstick``
    (each deep model against the feature baseline under ``trial-kfold``)."""
    both = pd.concat([results, features], ignore_index=True)
    words = verdicts(summarize(both))
    return {"verdict": list(words.loc[words["protocol"] == "trial-kfold", "sentence"]),
            "leak": gap_sentences(paired_gaps(both, by=_KEYS, leaky="paper-segment-kfold"), leaky="paper-segment-kfold"),
            "yardstick": baseline_sentences(results, features)}  # fmt: skip


def fusion_claims(results: pd.DataFrame, features: pd.DataFrame | None = None,
                  arms: dict[str, pd.DataFrame] | None = None) -> dict[str, list[str]]:  # fmt: skip
    """Chapters 06-07's sentences: ``fusion`` (each fused model against its better half, per
    task and protocol), ``arm`` (each fusion arm's fused rows against the same halves,
    ``trial-kfold``), ``features`` (the feature baseline's two fusions against its halves) and
    ``yardstick`` (the deep models against the feature baseline, ``trial-kfold``)."""
    out = {"fusion": fusion_sentences(fusion_gains(results))}
    halves = results[(results["modalities"] != "face+bio") & (results["protocol"] == "trial-kfold")]
    out["arm"] = []
    for name, rows in (arms or {}).items():
        out["arm"] += fusion_sentences(fusion_gains(pd.concat([halves, rows], ignore_index=True)), label=name)
    if features is not None:
        out["features"] = fusion_sentences(fusion_gains(with_halves(features)))
        out["yardstick"] = baseline_sentences(results, features)
    return out


def results_sentences(results: pd.DataFrame, features: pd.DataFrame) -> dict[str, list[str]]:
    """Chapter 08's sentences: ``loso`` (leave-one-subject-out against ``trial-kfold``, paired
    per subject) for every model × modalities × task, ``yardstick`` (each deep model against
    the feature baseline under ``loso``) and ``fusion`` (each fused model against its better
    half, per protocol)."""
    both = results[results["protocol"].isin(["loso", "trial-kfold"])]
    return {"loso": gap_sentences(paired_gaps(both, by=_KEYS, leaky="loso"), leaky="loso"),
            "yardstick": baseline_sentences(results, features, protocol="loso"),
            "fusion": fusion_sentences(fusion_gains(results))}  # fmt: skip


def balance_sentences(fusion: pd.DataFrame, arms: dict[str, pd.DataFrame],
                      features: pd.DataFrame) -> dict[str, list[str]]:  # fmt: skip
    """Chapter 10's sentences: ``phenomenon`` (each joint fusion against its better half),
    ``remedy`` (:func:`~emolab.analysis.remedy_sentences` of every arm), ``features`` (the
    feature baseline's fusions against its halves) and ``yardstick`` (every arm against the
    feature baseline's concatenation)."""
    halves = fusion[fusion["modalities"] != "face+bio"]
    return {"phenomenon": fusion_sentences(fusion_gains(fusion)),
            "remedy": remedy_sentences(remedy_table(arms, halves)),
            "features": fusion_sentences(fusion_gains(with_halves(features))),
            "yardstick": [f"[{name}] {s}" for name, rows in arms.items() for s in baseline_sentences(rows, features)]}  # fmt: skip


def pairing_claims(seed: int = 0) -> dict[str, list[str]]:
    """Chapter 01's sentence on the naive Trial <-> Experiment_id pairing, on the synthetic data
    it reads (the ``smoke`` preset's first four subjects)."""
    from emolab.data import read_deap
    from emolab.data.deap import list_deap_subjects, pairing_table
    from emolab.data.synthetic import ensure_synthetic

    root = ensure_synthetic(fmt="deap", preset="smoke", seed=seed)
    records = list(read_deap(root, subjects=list_deap_subjects(root)[:4], verbose="WARNING"))
    return {"pairing": [pairing_sentence(pairing_table(records))]}


def fingerprint_claims(*, preset: str, seed: int, n_splits: int, task: str = "arousal",
                       fingerprints=FINGERPRINTS) -> dict[str, list[str]]:  # fmt: skip
    """Chapter 09's sentences on the band-power pipeline as the trial fingerprint grows."""
    from emolab.analysis import leaks

    rows = []
    for fp in fingerprints:
        X, meta = leaks.band_power_dataset(preset=preset, seed=seed, fingerprint=fp)
        for p in FINGERPRINT_PROTOCOLS:
            ev = leaks.evaluate_features(X, meta, protocol=p, task=task, n_splits=n_splits, seed=seed)
            rows.append(ev.results.assign(fingerprint=fp, pipeline="band powers + LR"))
    return {"fingerprint": fingerprint_sentences(pd.concat(rows, ignore_index=True))}


def chapter_sentences(*, profile: str | ExperimentProfile = "smoke", seed: int = 0,
                      results_path: str | os.PathLike | None = None) -> pd.DataFrame:  # fmt: skip
    """Every sentence chapters 01 and 05-09 print about a direction or a size of a number they
    computed, recomputed with the functions the chapters call (``KeyError`` when a chapter has
    not run).  One row per sentence: ``chapter``, ``claim``, ``sentence``.  (Chapter 09's
    trial-signature sections print theirs with :func:`~emolab.analysis.describe_gaps`, tested
    on their own.)"""
    profile = get_profile(profile)
    path = default_results_path(profile) if results_path is None else results_path

    def load(dataset, g, prof=profile):
        kwargs = g.kwargs()
        return load_grid_results(path, cells=grid_cells(dataset, profile=prof, seed=seed, **kwargs))

    data = prepare_segments(None, profile=profile, seed=seed, verbose="WARNING")
    rows: list[dict] = []

    def add(chapter: str, found: dict[str, list[str]]) -> None:
        rows.extend({"chapter": chapter, "claim": k, "sentence": s} for k, ss in found.items() for s in ss)

    add("01", pairing_claims(seed))
    add("09", fingerprint_claims(preset=profile.synthetic_preset, seed=seed, n_splits=profile.n_splits))
    uni = grid("unimodal")
    add("05", unimodal_sentences(load(data, uni), _features(data, uni, profile=profile, seed=seed, fusion=())))
    control = []
    for g in grids("control"):
        cprof = g.profile(profile)
        cdata = prepare_segments(None, profile=cprof, seed=seed, verbose="WARNING", **g.synthetic[0])
        deep = load(cdata, g, cprof)
        feats = _features(cdata, g, profile=cprof, seed=seed, fusion=())
        control.append(pd.concat([deep, feats], ignore_index=True))
    both = pd.concat(control, ignore_index=True)
    add("05", {"control": gap_sentences(paired_gaps(both, by=_KEYS, leaky="paper-segment-kfold"),
                                        leaky="paper-segment-kfold")})  # fmt: skip
    concat = grid("concat")
    arms = {g.arm: load(data, g) for g in grids("concat arms")}
    add("06", fusion_claims(load(data, concat), _features(data, concat, profile=profile, seed=seed), arms))
    fusion = grid("fusion")
    arms = {g.arm: load(data, g) for g in grids("gated arms")}
    fusion_rows, fusion_features = load(data, fusion), _features(data, fusion, profile=profile, seed=seed)
    add("07", fusion_claims(fusion_rows, fusion_features, arms))
    add("10", balance_sentences(fusion_rows, {g.arm: load(data, g) for g in grids("balance")}, fusion_features))
    res = grid("results")
    results = load(data, res)
    feats = feature_baseline(data, modalities=res.modalities, tasks=res.tasks, n_splits=profile.n_splits, seed=seed,
                             protocols=sorted(set(results["protocol"])), val_fraction=profile.val_fraction)  # fmt: skip
    add("08", results_sentences(results, feats))
    return pd.DataFrame(rows)


def notebook_text(path: str | os.PathLike) -> str:
    """Everything an executed notebook printed or displayed as text (stream outputs and
    ``text/plain`` results), joined."""
    nb = json.loads(Path(path).read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append("".join(out.get("text", "")))
            elif "data" in out:
                parts.append("".join(out["data"].get("text/plain", "")))
    return "\n".join(parts)


def chapter_claims(
    *,
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    results_path: str | os.PathLike | None = None,
    chapters_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Check what chapters 01 and 05-09 state, on results they computed.

    Three kinds of rows (``kind``):

    * ``"sentence"``: every sentence of :func:`chapter_sentences`; with ``chapters_dir`` (the
      executed notebooks) ``holds`` says whether the chapter printed exactly that sentence —
      so no chapter states a direction or a size that its numbers do not give.  Without it,
      ``holds`` is None.
    * ``"construction"``: what the synthetic generator makes true whatever the seed — under
      ``trial-kfold`` the feature baseline finds the arousal the knobs put in the physiology
      (interval above the majority baseline), and every interval of chapters 05-08 lies in
      [0, 1].
    * ``"reported"``: measured, not guaranteed — the same for the valence the knobs put in the
      face, which the baseline's crop statistics (mean colour, a coarse brightness grid) need
      not resolve on six subjects.
    """
    profile = get_profile(profile)
    sentences = chapter_sentences(profile=profile, seed=seed, results_path=results_path)
    texts = {}
    if chapters_dir is not None:
        texts = {ch: notebook_text(Path(chapters_dir) / name) for ch, name in CHAPTER_FILES.items()}
    rows = [{"kind": "sentence", "chapter": r["chapter"], "claim": r["claim"], "what": r["sentence"],
             "holds": (r["sentence"] in texts[r["chapter"]]) if texts else None}
            for _, r in sentences.iterrows()]  # fmt: skip
    data = prepare_segments(None, profile=profile, seed=seed, verbose="WARNING")
    feats = feature_baseline(data, modalities=[("face",), ("bio",)], tasks=["valence", "arousal"],
                             protocols=["trial-kfold"], n_splits=profile.n_splits, seed=seed, fusion=(),
                             val_fraction=profile.val_fraction)  # fmt: skip
    s = summarize(feats).set_index(_KEYS)
    for mods, task, kind in (("bio", "arousal", "construction"), ("face", "valence", "reported")):
        r = s.loc[("features", mods, task)]
        rows.append({"kind": kind, "chapter": "05", "claim": "signal found",
                     "what": f"features {mods} {task} trial-kfold {r['accuracy']:.3f} [{r['accuracy_ci_low']:.3f}, "
                             f"{r['accuracy_ci_high']:.3f}] vs majority {r['majority_baseline']:.3f}",
                     "holds": bool(r["accuracy_ci_low"] > r["majority_baseline"])})  # fmt: skip
    path = default_results_path(profile) if results_path is None else results_path
    every = []
    for name in ("unimodal", "concat", "concat arms", "fusion", "gated arms", "results", "balance"):
        for g in grids(name):
            got = load_grid_results(path, cells=grid_cells(data, profile=profile, seed=seed, **g.kwargs()))
            every.append(summarize(got))
    every = pd.concat(every, ignore_index=True)
    inside = bool(every["accuracy_ci_low"].ge(0).all() and every["accuracy_ci_high"].le(1).all())
    rows.append({"kind": "construction", "chapter": "05-10", "claim": "bounds", "what": f"{len(every)} intervals",
                 "holds": inside})  # fmt: skip
    return pd.DataFrame(rows)
