"""The known-truth case of chapter 09's trial signatures, for one deep model and the feature baseline.

With every source of a trial signature off and the emotion taken out of the signals
(``physio_arousal = physio_valence = 0``), nothing in a segment predicts its label.  What holds
by construction is then that the honest protocol, ``trial-kfold``, cannot beat chance, and that
switching the trial fingerprint on alone (strength 1, everything else as in the control) opens a
gap between segment k-fold and ``trial-kfold`` for both pipelines: a model can name the trial,
hence copy its label, under segment k-fold only.  The audit's check "trial signature in the
inputs" must flag the fingerprint and, for the two signatures the preprocessing stamps (the
baseline template, the per-trial normalisation), the segment protocol only.

What does *not* hold by construction is a zero gap on the control itself.  Two mechanisms can
open one without any signature: the slow course of physiology over a few seconds (neighbouring
segments of a trial look alike), and the negative bias of holding out whole trials when a subject
has few: the held-out trials' labels are those the training fold has fewer of, so a model that
leans towards its training majority scores below chance under ``trial-kfold``.  On seed 1 the deep
model's control gap was +0.081 [+0.002, +0.160] with ``trial-kfold`` at 0.444 accuracy, so only
the feature baseline's control gap is asserted to contain 0 (it did on every seed measured), and
the deep model's is printed.

The criteria were set on the development seeds :data:`DEV_SEEDS` and are run unchanged on the
seeds the book reports, :data:`REPORTED_SEEDS`; ``EMOLAB_DEV_SEEDS=1`` runs the development seeds
instead.  Each seed trains GBV-Net's physiological branch on two bio-only stores (about half a
minute per store on two cores), into the profile's shared results table, where chapter 09 has
already trained the book's seed.
"""

from __future__ import annotations

import os

import pytest

from emolab import analysis as an
from emolab import experiments as ex

#: Seeds the criteria were developed on (never reported by the book).
DEV_SEEDS = (100, 101, 102)
#: Seeds the book and the tests report.
REPORTED_SEEDS = (0, 1)
SEEDS = DEV_SEEDS if os.environ.get("EMOLAB_DEV_SEEDS") else REPORTED_SEEDS

#: The emotion taken out of the physiological signals.
NO_EMOTION = {"physio_arousal": 0.0, "physio_valence": 0.0}


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def truth(request):
    # the profile's shared results table: chapter 09 runs the same cells for the book's seed
    return an.signature_sources(sources=["none", "fingerprint"], profile="smoke", seed=request.param,
                                **NO_EMOTION)  # fmt: skip


def _gap(truth, source, pipeline):
    g = truth.gaps.set_index(["source", "pipeline"]).loc[(source, pipeline)]
    return float(g["gap"]), float(g["gap_low"]), float(g["gap_high"])


PIPELINES = ("GBV-Net bio (deep)", "statistics + logistic regression")


@pytest.mark.slow
def test_without_any_signature_the_feature_baseline_gains_nothing_from_shared_trials(truth):
    for pipeline in PIPELINES:
        gap, low, high = _gap(truth, "none", pipeline)
        print(f"{pipeline}: control gap {gap:+.3f} [{low:+.3f}, {high:+.3f}]")
    gap, low, high = _gap(truth, "none", "statistics + logistic regression")
    assert low <= 0.0 <= high


@pytest.mark.slow
def test_without_the_emotion_the_honest_protocol_does_not_beat_chance(truth):
    """By construction: no input carries the label, so trial-kfold's balanced accuracy over
    subjects has an interval that reaches down to chance (0.5) or below, with or without the
    fingerprint (which identifies trials, not emotions)."""
    from emolab.train.metrics import mean_ci, pool_folds

    rows = truth.results[truth.results["protocol"] == "trial-kfold"]
    for source, part in rows.groupby("source"):
        m, low, high = mean_ci(pool_folds(part, [], "subject")["balanced_accuracy"].to_numpy())
        print(f"{source}: trial-kfold balanced accuracy {m:.3f} [{low:.3f}, {high:.3f}]")
        assert low <= 0.5


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_fingerprint_alone_opens_the_gap(truth, pipeline):
    gap, low, high = _gap(truth, "fingerprint", pipeline)
    print(f"{pipeline}: fingerprint gap {gap:+.3f} [{low:+.3f}, {high:+.3f}]")
    assert low > 0.0


@pytest.mark.slow
def test_the_audit_is_silent_on_the_control_and_flags_the_fingerprint(truth):
    status = truth.audits[truth.audits["check"] == "trial signature in the inputs"]
    status = status.set_index(["source", "protocol"])["status"]
    print(status.to_string())
    assert status[("none", "paper-segment-kfold")] == "ok"
    assert status[("fingerprint", "paper-segment-kfold")] == "leak"
    assert status[("fingerprint", "trial-kfold")] == "ok" and status[("none", "trial-kfold")] == "ok"


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def stamped(request):
    """The two signatures the preprocessing stamps, each alone, without the emotion (features only)."""
    found = an.signature_sources(sources=["baseline template", "per-trial normalisation"], profile="smoke",
                                 seed=request.param, deep=False, **NO_EMOTION)  # fmt: skip
    return request.param, found


@pytest.mark.slow
@pytest.mark.parametrize("source", ["baseline template", "per-trial normalisation"])
def test_the_audit_flags_what_the_preprocessing_stamps(stamped, source):
    """A segment k-fold evaluation of a template or a per-trial-normalised store is flagged; the
    same store under trial-kfold and loso is not (no trial is on both sides)."""
    seed, found = stamped
    spec = ex.grids("signatures")[list(ex.SIGNATURE_SOURCES).index(source)]
    data = ex.prepare_segments(None, profile=spec.profile("smoke"), seed=seed, modalities=("bio",),
                               **{**spec.synthetic[0], **NO_EMOTION})  # fmt: skip
    table = ex.audit_protocols(data, protocols=["paper-segment-kfold", "trial-kfold", "loso"], task="arousal",
                               profile=spec.profile("smoke"), seed=seed, signature=found.inputs[source])  # fmt: skip
    status = table[table["check"] == "trial signature in the inputs"].set_index("protocol")["status"]
    print(source, found.inputs[source].describe())
    assert status.to_dict() == {"paper-segment-kfold": "leak", "trial-kfold": "ok", "loso": "ok"}
