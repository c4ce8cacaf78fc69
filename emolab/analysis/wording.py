"""Sentences that read their numbers: every direction or size a chapter states comes from here.

A chapter never types "above", "below", "vanishes" or "about half" next to a number it computed;
it prints what these functions say about the number.  :func:`~emolab.analysis.chapter_claims`
recomputes the same sentences from the results table and ``tests/test_findings.py`` checks that
the executed chapters printed exactly them.

The direction of a paired difference is read from its interval (:func:`relation`): "above" when
the whole interval lies above 0, "below" when it lies below, and otherwise "neither above nor
below", because an interval that contains 0 supports neither direction (which is not evidence
that the two are equal: a wide interval says the data cannot tell).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["baseline_sentences", "fingerprint_sentences", "fusion_sentences", "gap_sentences", "pairing_sentence",
           "relation", "remedy_sentences", "share_words"]  # fmt: skip


def relation(low: float, high: float, *, above: str = "above", below: str = "below",
             neither: str = "neither above nor below") -> str:  # fmt: skip
    """The word a difference's interval ``[low, high]`` supports (``neither`` when it contains 0
    or is undefined)."""
    if np.isfinite(low) and low > 0:
        return above
    if np.isfinite(high) and high < 0:
        return below
    return neither


def share_words(k: int, n: int) -> str:
    """``k`` of ``n`` in words with the count: "none of the 12", "all 12", "5 of 12 (42 %)"."""
    if n <= 0:
        raise ValueError(f"share_words needs n > 0, got {n}")
    if k == 0:
        return f"none of the {n}"
    if k == n:
        return f"all {n}"
    return f"{k} of {n} ({100 * k / n:.0f} %)"


def _interval(row: pd.Series, low: str, high: str) -> str:
    return f"[{row[low]:+.3f}, {row[high]:+.3f}]"


def gap_sentences(gaps: pd.DataFrame, *, leaky: str, honest: str = "trial-kfold",
                  keys: Sequence[str] = ("model", "modalities", "task")) -> list[str]:  # fmt: skip
    """One sentence per row of :func:`~emolab.experiments.paired_gaps`: both accuracies, the
    paired per-subject difference with its interval, and what the interval supports."""
    out = []
    for _, r in gaps.iterrows():
        what = " ".join(str(r[k]) for k in keys if k in r)
        word = relation(r["gap_low"], r["gap_high"])
        out.append(f"{what}: {leaky} {r['leaky_accuracy']:.3f}, {honest} {r['honest_accuracy']:.3f}; paired over "
                   f"{int(r['n_subjects'])} subjects {r['gap']:+.3f} {_interval(r, 'gap_low', 'gap_high')}: "
                   f"{leaky} is {word} {honest}.")  # fmt: skip
    return out


def fusion_sentences(gains: pd.DataFrame, *, label: str | None = None) -> list[str]:
    """One sentence per row of :func:`~emolab.experiments.fusion_gains` (``label`` names the
    arm, e.g. "auxiliary heads")."""
    out = []
    for _, g in gains.iterrows():
        head = " ".join(str(g[k]) for k in ("model", "task", "protocol") if k in g)
        if label:
            head += f" ({label})"
        word = relation(g["gain_ci_low"], g["gain_ci_high"])
        out.append(f"{head}: fused {g['fused']:.3f}, better half {g['best_single']} "
                   f"{g['best_single_accuracy']:.3f}; paired over {int(g['n_units'])} subjects "
                   f"{g['gain']:+.3f} {_interval(g, 'gain_ci_low', 'gain_ci_high')}: the fused model is {word} "
                   f"its better half.")  # fmt: skip
    return out


def baseline_sentences(deep: pd.DataFrame, features: pd.DataFrame, *, protocol: str = "trial-kfold",
                       confidence: float = 0.95) -> list[str]:  # fmt: skip
    """The deep models against the feature baseline (:func:`~emolab.analysis.feature_baseline`)
    of the same modalities, task, protocol and subjects: one sentence per deep model ×
    modalities × task, with the paired per-subject difference (Student-t interval).

    A fused deep model is compared with the feature baseline's concatenation
    (``"features (concat)"``), a unimodal one with ``"features"``."""
    from emolab.experiments.summaries import paired_gap

    deep = deep[deep["protocol"] == protocol]
    features = features[features["protocol"] == protocol]
    out = []
    for (model, mods, task), rows in deep.groupby(["model", "modalities", "task"], sort=True):
        name = "features (concat)" if "+" in mods else "features"
        base = features[(features["model"] == name) & (features["modalities"] == mods) & (features["task"] == task)]
        if base.empty:
            continue
        pair = pd.concat([rows.assign(protocol="deep"), base.assign(protocol="features")], ignore_index=True)
        g = paired_gap(pair, leaky="deep", honest="features", confidence=confidence)
        word = relation(g["gap_low"], g["gap_high"])
        out.append(f"{model} {mods} {task} ({protocol}): deep {g['leaky_accuracy']:.3f}, {name} "
                   f"{g['honest_accuracy']:.3f}; paired over {g['n_subjects']} subjects {g['gap']:+.3f} "
                   f"[{g['gap_low']:+.3f}, {g['gap_high']:+.3f}]: the deep model is {word} the feature baseline.")  # fmt: skip
    return out


def fingerprint_sentences(features: pd.DataFrame, *, confidence: float = 0.95) -> list[str]:
    """How each protocol's accuracy moved from the weakest to the strongest trial fingerprint.

    ``features`` holds per-subject (or per-fold) rows with ``protocol``, ``fingerprint``,
    ``subject``, ``accuracy``, ``n_test`` (e.g. :attr:`~emolab.analysis.leaks.FeatureEvaluation.results`
    of each strength, with a ``fingerprint`` column).  The change is paired per subject with a
    Student-t interval (:func:`~emolab.experiments.paired_gap`)."""
    from emolab.experiments.summaries import paired_gap

    lo, hi = features["fingerprint"].min(), features["fingerprint"].max()
    out = []
    for protocol, rows in features.groupby("protocol", sort=False):
        both = rows[rows["fingerprint"].isin([lo, hi])]
        both = both.assign(protocol=np.where(both["fingerprint"] == hi, "strong", "weak"))
        g = paired_gap(both, leaky="strong", honest="weak", confidence=confidence)
        word = relation(g["gap_low"], g["gap_high"], above="rises", below="falls",
                        neither="does not move beyond its interval")  # fmt: skip
        out.append(f"{protocol}: {g['honest_accuracy']:.3f} at fingerprint {lo:g}, {g['leaky_accuracy']:.3f} at "
                   f"{hi:g}; paired over {g['n_subjects']} subjects {g['gap']:+.3f} [{g['gap_low']:+.3f}, "
                   f"{g['gap_high']:+.3f}]: it {word}.")  # fmt: skip
    return out


def pairing_sentence(pairing: pd.DataFrame) -> str:
    """What the naive Trial <-> Experiment_id pairing does, in words, from
    :func:`~emolab.data.deap.pairing_table`: how many face videos it attaches to another trial,
    and how many to a wrong high/low valence label (rating >= 5)."""
    n = len(pairing)
    other = int((pairing["trial"] != pairing["experiment_id"]).sum())
    wrong = int(((pairing["valence"] >= 5) != (pairing["valence_of_naive_video"] >= 5)).sum())
    return (f"naive pairing: {share_words(other, n)} face videos go to another trial, and "
            f"{share_words(wrong, n)} to a wrong valence label.")


def remedy_sentences(table: pd.DataFrame, *, reference: str = "joint") -> list[str]:
    """One sentence per remedy row of :func:`~emolab.analysis.remedy_table` (the reference arm
    itself gets one against the better half only), then one per model × task saying how many
    remedies were above joint training."""
    out = []
    for _, r in table.iterrows():
        head = f"{r['model']} {r['task']} {r['protocol']} ({r['arm']}): {r['accuracy']:.3f}"
        parts = []
        if r["arm"] != reference:
            word = relation(r["vs_joint_low"], r["vs_joint_high"])
            parts.append(f"against {reference} training {r['vs_joint']:+.3f} "
                         f"{_interval(r, 'vs_joint_low', 'vs_joint_high')}, {word} it")  # fmt: skip
        if r.get("matched", reference) not in (reference, r["arm"]):
            word = relation(r["vs_matched_low"], r["vs_matched_high"])
            parts.append(f"against {r['matched']} (the same heads, unweighted) {r['vs_matched']:+.3f} "
                         f"{_interval(r, 'vs_matched_low', 'vs_matched_high')}, {word} it")  # fmt: skip
        if isinstance(r["best_single"], str):
            word = relation(r["vs_best_low"], r["vs_best_high"])
            parts.append(f"against the better half ({r['best_single']} {r['best_single_accuracy']:.3f}) "
                         f"{r['vs_best']:+.3f} {_interval(r, 'vs_best_low', 'vs_best_high')}, {word} it")  # fmt: skip
        out.append(f"{head}; paired over {int(r['n_subjects'])} subjects " + "; ".join(parts) + ".")
    remedies = table[table["arm"] != reference]
    for (model, task), g in remedies.groupby(["model", "task"], sort=False):
        k = int(sum(relation(lo, hi) == "above" for lo, hi in zip(g["vs_joint_low"], g["vs_joint_high"])))
        out.append(f"{model} {task}: {share_words(k, len(g))} remedies are above {reference} training.")
    return out
