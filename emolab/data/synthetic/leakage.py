"""How much a segment-level protocol overestimates accuracy on synthetic data: the fingerprint gap.

The synthetic generator gives every trial a constant *fingerprint* (spectral tilt, channel
offsets, a lighting tint) that says nothing about the emotion.  A classifier evaluated with k-fold
over 1 s segments sees segments of the same trial in training and test, so it can answer "which
trial is this?" instead of "how aroused is this person?".  :func:`fingerprint_gap` measures that
with the simplest possible pipeline (log band powers of the EEG + logistic regression, both
scikit-learn), once with segment-level k-fold and once with trial-grouped k-fold.

:func:`simulated_band_powers` is that pipeline's feature step over a whole configuration; chapter
09's leaks (:func:`emolab.analysis.leaks.band_power_dataset`) use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emolab.data.synthetic.config import SyntheticConfig, design
from emolab.data.synthetic.writers import simulate_trial

__all__ = ["FingerprintGap", "eeg_band_features", "fingerprint_gap", "simulated_band_powers"]

#: EEG bands of the features, in Hz (ours: the classic theta/alpha/beta/gamma split within DEAP's 4-45 Hz).
FEATURE_BANDS: tuple[tuple[float, float], ...] = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 45.0))


@dataclass(frozen=True)
class FingerprintGap:
    """Cross-validated accuracies of one synthetic configuration (fractions, 0-1)."""

    segment_kfold: float  # folds over shuffled 1 s segments (the papers' protocol)
    trial_kfold: float  # folds over whole trials (leak-free)

    @property
    def gap(self) -> float:
        """``segment_kfold - trial_kfold``: how much the leaky protocol flatters the classifier."""
        return self.segment_kfold - self.trial_kfold


def eeg_band_features(eeg: np.ndarray, *, sfreq: float = 128.0, window: int = 128) -> np.ndarray:
    """Log band powers of 1 s EEG segments.

    Parameters
    ----------
    eeg : np.ndarray, shape (n_channels, n_samples)
        EEG after the stimulus onset; cut into non-overlapping windows of ``window`` samples
        (a trailing remainder is dropped).
    Returns
    -------
    np.ndarray, shape (n_segments, n_channels * len(FEATURE_BANDS))
    """
    n_ch, n = eeg.shape
    n_seg = n // window
    seg = eeg[:, : n_seg * window].reshape(n_ch, n_seg, window).transpose(1, 0, 2)  # (S, C, L)
    freqs = np.fft.rfftfreq(window, 1.0 / sfreq)
    power = np.abs(np.fft.rfft(seg, axis=-1)) ** 2  # (S, C, F)
    bands = [power[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in FEATURE_BANDS]
    return np.log(np.stack(bands, axis=-1)).reshape(n_seg, -1)  # (S, C * n_bands)


def simulated_band_powers(
    cfg: SyntheticConfig, *, seed: int = 0, sfreq: float = 128.0
) -> tuple[np.ndarray, pd.DataFrame]:
    """Log band powers (:func:`eeg_band_features`) of every 1 s segment of ``cfg``'s trials.

    The trials are simulated in memory with the functions the dataset writer uses (no files,
    no video), each from its stimulus onset, and cut into windows of ``int(sfreq)`` samples.

    Returns
    -------
    X : np.ndarray, float, shape (n_segments, n_eeg_channels * len(FEATURE_BANDS))
        Log powers of the theta, alpha, beta and gamma bands (µV², natural log).
    metadata : DataFrame
        One row per segment: ``subject``, ``trial``, ``experiment_id``, ``segment`` and the
        ratings ``valence``, ``arousal`` (1-9).
    """
    X, rows = [], []
    for row in design(cfg, seed=seed).itertuples():
        sim = simulate_trial(cfg, row, seed=seed, sfreq=sfreq)
        feats = eeg_band_features(sim.eeg[:, sim.onset_sample :], sfreq=sfreq, window=int(sfreq))
        X.append(feats)
        rows += [{"subject": int(row.subject), "trial": int(row.trial), "experiment_id": int(row.experiment_id),
                  "segment": k, "valence": float(row.rating_valence), "arousal": float(row.rating_arousal)}
                 for k in range(len(feats))]  # fmt: skip
    return np.concatenate(X), pd.DataFrame(rows)


def fingerprint_gap(
    cfg: SyntheticConfig, *, seed: int = 0, task: str = "arousal", n_splits: int = 5
) -> FingerprintGap:
    """Segment-level vs trial-grouped k-fold accuracy of a linear classifier on ``cfg``'s EEG.

    The trials are simulated in memory with the same functions the dataset writer uses (no files,
    no video).  Labels: rating >= 5 on ``task`` (``"valence"`` or ``"arousal"``).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task not in ("valence", "arousal"):
        raise ValueError(f"task must be 'valence' or 'arousal', got {task!r}")
    X, meta = simulated_band_powers(cfg, seed=seed)
    y = (meta[task] >= 5).to_numpy()
    groups = (meta["subject"] * 1000 + meta["experiment_id"]).to_numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    seg = cross_val_score(clf, X, y, cv=KFold(n_splits, shuffle=True, random_state=seed)).mean()
    trial = cross_val_score(clf, X, y, cv=GroupKFold(n_splits), groups=groups).mean()
    return FingerprintGap(segment_kfold=float(seg), trial_kfold=float(trial))
