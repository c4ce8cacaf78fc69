"""Analyses of trained models shared by the chapters.

* :mod:`emolab.analysis.gates` — the learned gate of GBV-Net's fusion per sample, subject and
  trial (chapter 07).
* :mod:`emolab.analysis.degradation` — a fusion model's accuracy when one modality is missing or
  degraded (chapter 07).
* :mod:`emolab.analysis.fusion` — what each branch of a fused model answered (chapters 06-07, 10).
* :mod:`emolab.analysis.imbalance` — modality imbalance while fused models train, and the
  remedies compared (chapter 10).
* :mod:`emolab.analysis.test_peeking` — the optimism of choosing an epoch on the test fold
  (chapter 06).
* :mod:`emolab.analysis.comparison` — our results beside the papers' figures (chapter 08).
* :mod:`emolab.analysis.claims` — what chapters 01 and 05-09 claim, checked on their results.
* :mod:`emolab.analysis.wording` — the sentences with which chapters state a direction or a size.
* :mod:`emolab.analysis.leaks`, :mod:`emolab.analysis.significance` — feature pipelines and
  paired tests (chapter 09).
* :mod:`emolab.analysis.baseline` — a simple-feature baseline on the deep cells' folds, as rows of
  the results table.
* :mod:`emolab.analysis.signature_sources` — each trial-signature source switched on alone
  (chapter 09).
* :mod:`emolab.analysis.signatures` — trial signatures in a store's inputs (chapter 09).
"""

from emolab.analysis.baseline import feature_baseline, with_halves
from emolab.analysis.wording import baseline_sentences, fingerprint_sentences, fusion_sentences, gap_sentences, pairing_sentence, relation, remedy_sentences, share_words
from emolab.analysis.imbalance import fit_speed, probe_curves, remedy_table, run_times
from emolab.analysis.claims import chapter_claims
from emolab.analysis.comparison import comparison_table, paper_comparison
from emolab.analysis.degradation import (
    DEGRADATION_KINDS,
    Degradation,
    add_noise,
    default_degradations,
    evaluate_cells_degraded,
    evaluate_degraded,
    gaussian_blur,
    occlude,
    pool_degraded,
)
from emolab.analysis.fusion import fusion_branch_verdicts, fusion_branches
from emolab.analysis.gates import (
    GateValues,
    aggregate_gates,
    collect_cell_gates,
    collect_gates,
    gate_slices,
    load_cell_model,
)
from emolab.analysis.signature_sources import (
    SignatureSources,
    describe_gaps,
    rating_flips,
    signature_sources,
    source_table,
)
from emolab.analysis.signatures import (
    SIGNATURE_GROUPS,
    baseline_shared_correlation,
    channel_groups,
    input_features,
    input_signature,
    nearest_waveform_evaluation,
    segment_similarity,
    segment_statistics,
    summarize_signature,
    template_correlation_demo,
    trial_identifiability,
    trial_signatures,
    waveform_inputs,
)
from emolab.analysis.test_peeking import epoch_selection_bias, peek_test_epochs

__all__ = [
    "baseline_sentences", "chapter_claims", "fit_speed", "probe_curves", "remedy_sentences", "remedy_table",
    "run_times", "fingerprint_sentences", "comparison_table", "fusion_sentences", "gap_sentences", "pairing_sentence", "relation", "share_words", "with_halves", "epoch_selection_bias", "feature_baseline", "fusion_branch_verdicts",
    "fusion_branches", "paper_comparison", "peek_test_epochs",
    "DEGRADATION_KINDS", "Degradation", "GateValues", "add_noise", "aggregate_gates", "collect_cell_gates",
    "collect_gates", "default_degradations", "evaluate_cells_degraded", "evaluate_degraded", "gate_slices",
    "gaussian_blur", "load_cell_model", "occlude", "pool_degraded",
    "SIGNATURE_GROUPS", "baseline_shared_correlation", "channel_groups", "segment_similarity", "segment_statistics",
    "summarize_signature", "template_correlation_demo", "trial_identifiability", "trial_signatures",
    "SignatureSources", "describe_gaps", "rating_flips", "source_table", "input_features", "input_signature", "nearest_waveform_evaluation", "signature_sources",
    "waveform_inputs",
]
