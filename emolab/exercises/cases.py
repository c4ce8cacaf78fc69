"""Hand-made inputs that several chapters' checks feed to a student's function."""

from __future__ import annotations

import numpy as np

__all__ = ["make_record"]


def make_record(signals: dict[str, np.ndarray], types: dict[str, str], *, baseline_s: float = 1.0):
    """A hand-made :class:`~emolab.data.record.Record` at 128 Hz with these channels (µV)."""
    from emolab.data.record import Record

    names = list(signals)
    return Record(dataset="deap", subject=1, trial=1, experiment_id=1,
                  signals=np.stack([signals[n] for n in names]).astype(np.float32), sfreq=128.0,
                  ch_names=names, ch_types=[types[n] for n in names],
                  baseline_samples=int(baseline_s * 128), ratings={"valence": 5.0, "arousal": 5.0})  # fmt: skip
