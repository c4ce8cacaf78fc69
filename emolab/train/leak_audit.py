"""A leak audit: what an evaluation's test folds could have learned from outside themselves.

:func:`audit` looks at the folds of one evaluation (train and test rows of every fold) and at
what the pipeline fitted on which rows, and reports each leak it can detect:

* **shared trials** — segments of one trial on both sides of a fold (the 1 s segment k-fold of
  the papers; a within-trial split sold as "subject-dependent");
* **trial signature in the inputs** — the inputs carry something constant within a trial (a
  baseline template, per-trial gains, a recording nuisance) that a classifier can use to name
  the trial, and the protocol puts segments of one trial on both sides, so naming the trial
  answers the label.  The audit cannot see the inputs: it reads a :class:`TrialSignature`
  measured on them (:func:`emolab.analysis.signatures.input_signature`);
* **shared subjects** — expected in a subject-dependent evaluation, a leak when the evaluation
  claims to generalise to new people;
* **shared stimuli** — the same video watched in training and test (by any subject): not a leak
  of labels, but a caveat for cross-subject results, which then measure new people on known clips;
* **statistics fitted on test rows** — normalisation (or any fitted preprocessing) whose
  statistics saw the test fold;
* **model selection on the test fold** — an epoch, a hyper-parameter or a model chosen by its
  score on the test rows;
* **label threshold from test trials** — a high/low cut (e.g. a subject's median rating)
  computed over trials that include the test trials.

Each check reads only what it is given: a check whose input is missing is reported as
``"not checked"`` rather than assumed clean.  The review of DEAP studies by
:cite:`deap_review_2025` and the leakage study of :cite:`trial_leakage_2025` describe these
mistakes in the literature; chapter 09 switches each one on alone and measures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from emolab.train.protocols import Fold, get_protocol, leakage_report

__all__ = ["AUDIT_CHECKS", "FittedOn", "SignatureProbe", "TrialSignature", "audit"]

#: The checks of :func:`audit`, in the order of its rows.
AUDIT_CHECKS = (
    "shared trials",
    "trial signature in the inputs",
    "shared subjects",
    "shared stimuli",
    "statistics fitted on test rows",
    "model selection on the test fold",
    "label threshold from test trials",
)

#: What a fitted step saw, per fold: row indices (one array per fold), or a word saying no rows
#: are shared by construction (``"per-trial"``: statistics of each trial's own baseline;
#: ``"none"``: nothing fitted or selected; ``"fixed"``: a constant label threshold).
FittedOn = Sequence[np.ndarray] | str | None

@dataclass(frozen=True)
class SignatureProbe:
    """One simple classifier run on an evaluation's inputs twice per subject: with segments of
    every trial on both sides of the split, and with whole trials held out.

    ``gap``, ``gap_low``, ``gap_high``: the mean over subjects of the paired difference of
    accuracy (trial-sharing minus trial-held-out) and its interval over subjects.
    """

    name: str
    gap: float
    gap_low: float
    gap_high: float


@dataclass(frozen=True)
class TrialSignature:
    """What a measurement on an evaluation's inputs found about trial signatures.

    The measurement (:func:`emolab.analysis.signatures.input_signature`) runs simple classifiers
    (:class:`SignatureProbe`) that can each exploit one kind of signature — per-segment
    statistics (gains, offsets, spectra) and the waveform itself (a template shared by the
    segments of a trial) — and names the trial of each segment.

    Attributes
    ----------
    probes : tuple of SignatureProbe
    identifiability, chance : float
        Mean accuracy of naming a segment's trial from its statistics, and chance.  Trials can be
        told apart by what they made the subject feel, too, so this alone is no leak.
    n_subjects : int
    """

    probes: tuple[SignatureProbe, ...]
    identifiability: float
    chance: float
    n_subjects: int

    @property
    def measured(self) -> bool:
        """False when no probe has an interval (fewer than two subjects)."""
        return any(np.isfinite(p.gap_low) for p in self.probes)

    @property
    def present(self) -> bool:
        """True when some probe's interval of the gap lies above 0: the inputs reward sharing trials.

        Each probe's interval is a 95 % one, so with two probes and no signature at all the check
        calls a leak about one time in ten by chance (less where the probes agree).
        """
        return any(p.gap_low > 0 for p in self.probes)

    @property
    def strongest(self) -> SignatureProbe:
        """The probe with the highest lower end of its interval."""
        if not self.probes:
            raise ValueError("a TrialSignature needs at least one probe")
        return max(self.probes, key=lambda p: p.gap_low)

    def describe(self) -> str:
        p = self.strongest
        return (f"{p.name} scores {p.gap:+.3f} [{p.gap_low:+.3f}, {p.gap_high:+.3f}] higher when trials are "
                f"shared (paired over {self.n_subjects} subjects); the inputs name their trial at "
                f"{self.identifiability:.2f} (chance {self.chance:.2f})")  # fmt: skip


def _signature_check(signature: TrialSignature | None, shared_folds: int, n: int) -> dict:
    name = "trial signature in the inputs"
    if signature is not None and not isinstance(signature, TrialSignature):
        raise TypeError(f"signature must be a TrialSignature, got {type(signature).__name__}")
    if not shared_folds:
        return {"check": name, "status": "ok", "folds_affected": 0,
                "detail": "no trial has segments on both sides, so a trial signature cannot answer the label"}  # fmt: skip
    if signature is None:
        return {"check": name, "status": "not checked", "folds_affected": np.nan,
                "detail": "trials are shared and no measurement of the inputs was given "
                          "(analysis.signatures.input_signature)"}  # fmt: skip
    if not signature.measured:
        return {"check": name, "status": "not checked", "folds_affected": np.nan,
                "detail": f"trials are shared, but the measurement has no interval: it needs at least two "
                          f"subjects, it had {signature.n_subjects}"}  # fmt: skip
    if signature.present:
        return {"check": name, "status": "leak", "folds_affected": shared_folds,
                "detail": f"in {shared_folds} of {n} folds trials are shared, and {signature.describe()}"}  # fmt: skip
    return {"check": name, "status": "ok", "folds_affected": 0,
            "detail": f"trials are shared, but the inputs show no signature that rewards it: {signature.describe()}"}  # fmt: skip


_CLEAN_WORDS = {
    "per-trial": "statistics come from each trial's own pre-stimulus baseline",
    "none": "nothing is fitted or selected on rows",
    "fixed": "a fixed rating threshold, the same for every trial",
    "train": "fitted on the training rows of each fold only",
}


def _rows_check(name: str, folds: list[Fold], rows: FittedOn, what: str) -> dict:
    """Status of a check whose input is the rows a fitted step saw, per fold."""
    if rows is None:
        return {"check": name, "status": "not checked", "folds_affected": np.nan,
                "detail": f"no record of the rows {what} was given"}  # fmt: skip
    if isinstance(rows, str):
        if rows not in _CLEAN_WORDS:
            raise ValueError(f"unknown description {rows!r} for {name!r}; use row indices per fold "
                             f"or one of {sorted(_CLEAN_WORDS)}")  # fmt: skip
        return {"check": name, "status": "ok", "folds_affected": 0, "detail": _CLEAN_WORDS[rows]}
    if len(rows) != len(folds):
        raise ValueError(f"{name}: got {len(rows)} row sets for {len(folds)} folds; give one per fold")
    hits = [len(np.intersect1d(np.asarray(r), f.test_idx)) for r, f in zip(rows, folds)]
    n_bad = int(sum(h > 0 for h in hits))
    detail = (f"{what} saw {sum(hits)} test rows in {n_bad} of {len(folds)} folds" if n_bad
              else f"{what} saw no test row")  # fmt: skip
    return {"check": name, "status": "leak" if n_bad else "ok", "folds_affected": n_bad, "detail": detail}


def audit(
    folds: Sequence[Fold],
    metadata: pd.DataFrame,
    *,
    claim: str | None = None,
    fit_rows: FittedOn = None,
    selection_rows: FittedOn = None,
    threshold_rows: FittedOn = None,
    signature: TrialSignature | None = None,
) -> pd.DataFrame:
    """Report every leak that can be detected in one evaluation.

    Parameters
    ----------
    folds : sequence of Fold
        The evaluation's folds (:func:`~emolab.train.protocols.make_folds` or hand-made);
        their indices are positions of ``metadata`` rows.
    metadata : DataFrame
        One row per segment with ``subject`` and ``trial``; ``experiment_id`` (the stimulus)
        enables the stimulus check.
    claim : {"trial", "subject", None}
        What the evaluation says it holds out.  Default: the ``disjoint`` grouping of the folds'
        protocol when it is a known protocol name, else ``"trial"`` (a result reported as
        subject-dependent accuracy on unseen trials).  With ``"subject"`` a shared subject is a
        leak; otherwise it is expected.
    fit_rows, selection_rows, threshold_rows : per-fold row indices, a word, or None
        The rows the normalisation statistics were fitted on, the rows a model or epoch was
        chosen on, and the rows whose ratings set the label threshold (:data:`FittedOn`).
        ``None``: not recorded, reported as ``"not checked"``.
    signature : TrialSignature or None
        A measurement of trial signatures in the evaluation's inputs; ``None``: the check
        "trial signature in the inputs" is reported as ``"not checked"``.

    Returns
    -------
    DataFrame
        One row per check of :data:`AUDIT_CHECKS`: ``check``, ``status`` (``"leak"``,
        ``"caveat"``, ``"expected"``, ``"ok"`` or ``"not checked"``), ``folds_affected`` (of
        ``n_folds``), ``detail`` (a sentence), plus ``claim`` and ``n_folds``.
    """
    folds = list(folds)
    if not folds:
        raise ValueError("audit needs at least one fold")
    meta = metadata.reset_index(drop=True)
    missing = {"subject", "trial"} - set(meta.columns)
    if missing:
        raise KeyError(f"audit needs metadata columns 'subject' and 'trial'; missing {sorted(missing)}")
    if claim is None:
        try:
            claim = get_protocol(folds[0].protocol).disjoint or "trial"
        except KeyError:
            claim = "trial"
    if claim not in ("trial", "subject"):
        raise ValueError(f"claim must be 'trial' or 'subject', got {claim!r}")
    n = len(folds)
    shared = leakage_report(meta, folds)  # per fold: trials, subjects (and stimuli) on both sides

    def _count(column: str) -> tuple[int, int]:
        return int((shared[column] > 0).sum()), int(shared[column].sum())

    rows = []
    k, total = _count("shared_trials")
    rows.append({"check": "shared trials", "status": "leak" if k else "ok", "folds_affected": k,
                 "detail": (f"in {k} of {n} folds, {total} trials in all have segments in both train "
                            "and test" if k else "no trial has segments on both sides")})  # fmt: skip
    rows.append(_signature_check(signature, k, n))
    k, total = _count("shared_subjects")
    status = "ok" if not k else ("leak" if claim == "subject" else "expected")
    rows.append({"check": "shared subjects", "status": status, "folds_affected": k,
                 "detail": ("no subject is on both sides" if not k else
                            f"in {k} of {n} folds the test subjects also train"
                            + (", although the evaluation claims unseen subjects" if status == "leak"
                               else " (a subject-dependent evaluation)"))})  # fmt: skip
    if "shared_stimuli" in shared.columns:
        k, total = _count("shared_stimuli")
        rows.append({"check": "shared stimuli", "status": "caveat" if k else "ok", "folds_affected": k,
                     "detail": (f"in {k} of {n} folds, test videos ({total} in all) were also watched "
                                "in training, by any subject" if k else "every test video is new to the model")})  # fmt: skip
    else:
        rows.append({"check": "shared stimuli", "status": "not checked", "folds_affected": np.nan,
                     "detail": "the metadata has no experiment_id column"})  # fmt: skip
    rows.append(_rows_check("statistics fitted on test rows", folds, fit_rows, "the normalisation"))
    rows.append(_rows_check("model selection on the test fold", folds, selection_rows, "model selection"))
    rows.append(_rows_check("label threshold from test trials", folds, threshold_rows, "the label threshold"))
    out = pd.DataFrame(rows)
    out["claim"] = claim
    out["n_folds"] = n
    return out[["check", "status", "folds_affected", "n_folds", "claim", "detail"]]
