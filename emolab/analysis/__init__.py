"""Analyses of trained models shared by the chapters.

* :mod:`emolab.analysis.gates` — the learned gate of GBV-Net's fusion per sample, subject and
  trial, and a model's accuracy when one modality is missing or degraded (chapter 07).
"""

from emolab.analysis.gates import (
    DEGRADATION_KINDS,
    Degradation,
    GateValues,
    add_noise,
    aggregate_gates,
    collect_cell_gates,
    collect_gates,
    default_degradations,
    evaluate_cells_degraded,
    evaluate_degraded,
    gate_slices,
    gaussian_blur,
    load_cell_model,
    occlude,
    pool_degraded,
)

__all__ = [
    "DEGRADATION_KINDS", "Degradation", "GateValues", "add_noise", "aggregate_gates", "collect_cell_gates",
    "collect_gates", "default_degradations", "evaluate_cells_degraded", "evaluate_degraded", "gate_slices",
    "gaussian_blur", "load_cell_model", "occlude", "pool_degraded",
]
