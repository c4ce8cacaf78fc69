"""Trial signatures in a store's inputs (chapter 09): what makes the 1 s segments of one trial
alike, and unlike the segments of the subject's other trials.

A segment-level protocol (k-fold over shuffled 1 s segments) puts segments of the same trial on
both sides of the split; anything those segments share and other trials lack lets a model answer
"which trial is this?" instead of "what did the subject feel?" (:cite:`trial_leakage_2025`,
:cite:`deap_review_2025`).  Such a *trial signature* can come from the preprocessing itself — the
mean baseline second that DeepVANet subtracts from every segment of a trial
(:cite:`zhang2021deepvanet`) is one waveform shared by all of them, and the per-trial
normalisation gives each trial its own channel gains — or from the recording (electrode contact,
lighting, a generator's per-trial nuisances).  This module measures it in two ways, on any segment
store, synthetic or real:

* **similarity** (:func:`segment_similarity`): the Pearson correlation of two segments' waveforms
  (each channel's mean removed), averaged over pairs from the same trial (``within``) and over
  pairs from different trials of the same subject (``between``).  A template shared by every
  segment of a trial raises ``within`` above ``between``;
  :func:`baseline_shared_correlation` gives the value the baseline subtraction alone predicts.
* **identifiability** (:func:`trial_identifiability`): how well a standardised logistic regression
  on simple per-segment statistics (:func:`segment_statistics`: log-variance, mean and log band
  powers per channel; colour and a coarse brightness grid of the face crops) tells a subject's
  trials apart under cross-validation over segments, beside chance.  It catches signatures that
  change the segments' scale or spectrum rather than their waveform (per-trial gains).

:func:`trial_signatures` runs both per channel group of a store (EEG, EOG, EMG, GSR, respiration,
BVP, ECG, temperature, and the face) and summarises them over subjects with bootstrap intervals
(:func:`summarize_signature`).  :func:`template_correlation_demo` checks the baseline prediction on
white noise with the package's own :func:`~emolab.preprocess.physio.baseline_template` and
:func:`~emolab.preprocess.physio.baseline_correct`.

>>> from emolab.experiments import prepare_segments                          # doctest: +SKIP
>>> dataset = prepare_segments(None, profile="smoke", modalities=("bio",), face_subjects=0)  # doctest: +SKIP
>>> trial_signatures(dataset)                                               # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emolab._logging import logger, use_log_level
from emolab.data.channels import (
    DEAP_CH_NAMES,
    DEAP_CH_TYPES,
    MAHNOB_CH_NAMES,
    MAHNOB_CH_TYPES,
)
from emolab.preprocess.physio import (
    BANDS,
    MAHNOB_DEFAULT_CHANNELS,
    band_power,
    baseline_correct,
    baseline_template,
)
from emolab.train.metrics import bootstrap_ci
from emolab.train.leak_audit import TrialSignature

__all__ = [
    "SIGNATURE_GROUPS", "baseline_shared_correlation", "channel_groups", "input_features", "input_signature",
    "nearest_waveform_evaluation", "segment_similarity", "waveform_inputs",
    "segment_statistics", "summarize_signature", "template_correlation_demo", "trial_identifiability",
    "trial_signatures",
]  # fmt: skip

#: Channel groups of :func:`trial_signatures`, in the order of its rows: group name -> MNE
#: channel types (``"bio"`` is DEAP's plethysmograph, the blood volume pulse; ``"other"`` holds
#: MAHNOB-HCI's auxiliary channels, present only when a store keeps them).  ``"face"`` is the face
#: modality, not a channel group.
SIGNATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "EEG": ("eeg",), "EOG": ("eog",), "EMG": ("emg",), "GSR": ("gsr",), "respiration": ("resp",),
    "BVP": ("bio",), "ECG": ("ecg",), "temperature": ("temperature",), "other": ("misc",),
}  # fmt: skip

#: Positive floor of variances and powers before the logarithm (a flat channel gives this, not -inf).
_POWER_FLOOR = 1e-30

#: Whole-subject pair enumeration (``n * (n - 1) / 2`` pairs) is used up to this many pairs;
#: above it pairs are sampled.
_ENUMERATE_LIMIT = 500_000

#: Segments per chunk when the face crops are converted to float.
_FACE_CHUNK = 256

#: ITU-R BT.601 luma weights of R, G, B (the grey image of the face statistics).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# inputs


def _labels(metadata, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``subject`` and ``trial`` (n,) int64 from a DataFrame or a mapping of arrays."""
    if isinstance(metadata, pd.DataFrame):
        columns = set(metadata.columns)
        length = len(metadata)
    elif isinstance(metadata, Mapping):
        columns = set(metadata)
        length = len(np.asarray(metadata["subject"])) if "subject" in metadata else 0
    else:
        raise TypeError(f"metadata must be a DataFrame or a dict of arrays with 'subject' and 'trial', "
                         f"got {type(metadata).__name__}")  # fmt: skip
    missing = sorted({"subject", "trial"} - columns)
    if missing:
        raise ValueError(f"metadata lacks the columns {missing}; pass dataset.metadata (or dataset.arrays()) "
                         "of the same segments")  # fmt: skip
    if length != n:
        raise ValueError(f"metadata has {length} rows but there are {n} segments; pass the metadata of the "
                         "same segments, in the same order (e.g. dataset.metadata.iloc[indices])")  # fmt: skip
    subject = np.asarray(metadata["subject"]).astype(np.int64)
    trial = np.asarray(metadata["trial"]).astype(np.int64)
    return subject, trial


def _centred_unit(x: np.ndarray) -> np.ndarray:
    """Each segment with each channel's mean over time removed, flattened and scaled to unit norm.

    ``x`` is (n, C, L) (a channel's mean over its L samples is removed) or (n, F) (the segment's
    mean over its F values is removed).  Returns (n, C * L) or (n, F) float32; a flat segment
    (zero norm) is all NaN.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2:
        raise ValueError(f"x must be (n, C, L) segments or (n, F) flattened segments, got shape {x.shape}")
    if x.ndim > 3:
        raise ValueError(f"x must be (n, C, L) or (n, F), got shape {x.shape}; flatten the trailing axes of "
                         "each channel, e.g. x.reshape(n, C, -1)")  # fmt: skip
    u = x - x.mean(axis=-1, keepdims=True)  # (n, C, L) or (n, F)
    u = u.reshape(len(u), -1)  # (n, F)
    norm = np.sqrt(np.einsum("ij,ij->i", u, u, dtype=np.float64))  # (n,)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = u / np.where(norm > 0, norm, np.nan)[:, None].astype(np.float32)
    return u


# ---------------------------------------------------------------------------------------------
# similarity


def _pair_indices(trials: np.ndarray, *, same: bool, max_pairs: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Unordered pairs ``(i, j)`` of positions whose trial is the same (``same``) or differs.

    All such pairs when there are at most ``max_pairs``, else ``max_pairs`` drawn uniformly
    without replacement.  Returns two int64 arrays of equal length.
    """
    n = len(trials)
    _, inv, counts = np.unique(trials, return_inverse=True, return_counts=True)
    n_same = int((counts * (counts - 1) // 2).sum())
    n_total = n * (n - 1) // 2
    n_kind = n_same if same else n_total - n_same
    want = min(int(max_pairs), n_kind)
    empty = np.zeros(0, dtype=np.int64)
    if want <= 0:
        return empty, empty
    if n_total <= _ENUMERATE_LIMIT:
        i, j = np.triu_indices(n, k=1)
        keep = (inv[i] == inv[j]) if same else (inv[i] != inv[j])
        i, j = i[keep].astype(np.int64), j[keep].astype(np.int64)
        if len(i) > want:
            pick = np.sort(rng.choice(len(i), size=want, replace=False))
            i, j = i[pick], j[pick]
        return i, j
    # Too many to list: draw ordered pairs uniformly (a first segment weighted by its number of
    # partners, then one of its partners uniformly) and keep the first `want` distinct ones.
    order = np.argsort(inv, kind="stable")  # positions sorted by trial
    t_sorted = inv[order]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])  # first sorted position of each trial
    partners = (counts[t_sorted] - 1) if same else (n - counts[t_sorted])  # (n,)
    p = partners / partners.sum()
    keys = np.zeros(0, dtype=np.int64)
    while len(keys) < want:
        k = max(2 * (want - len(keys)), 64)
        a = rng.choice(n, size=k, p=p)  # sorted positions
        ta = t_sorted[a]
        r = np.minimum((rng.random(k) * partners[a]).astype(np.int64), partners[a] - 1)
        if same:  # the r-th other segment of a's trial
            b = start[ta] + r + (r >= a - start[ta])
        else:  # the r-th segment outside a's trial
            b = np.where(r < start[ta], r, r + counts[ta])
        new = np.minimum(a, b) * n + np.maximum(a, b)
        keys = np.concatenate([keys, new])
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]  # distinct, in the order drawn
    keys = keys[:want]
    return order[keys // n].astype(np.int64), order[keys % n].astype(np.int64)


def _pair_correlations(u: np.ndarray, i: np.ndarray, j: np.ndarray, *, chunk: int = 512) -> np.ndarray:
    """Dot products of the unit rows ``u[i]`` and ``u[j]`` (Pearson correlations), (len(i),) float64."""
    out = np.empty(len(i), dtype=np.float64)
    for s in range(0, len(i), chunk):
        out[s:s + chunk] = np.einsum("ij,ij->i", u[i[s:s + chunk]], u[j[s:s + chunk]], dtype=np.float64)
    return out


def segment_similarity(x: np.ndarray, metadata, *, max_pairs: int = 2000, seed: int = 0) -> pd.DataFrame:
    """How alike two segments of the same trial are, beside two segments of different trials.

    Each segment has each channel's mean over time removed and is flattened; the similarity of
    two segments is the Pearson correlation of those vectors.  Pairs are taken within one subject
    only: pairs of the same trial (``within``) and pairs of two different trials (``between``),
    each all of them or ``max_pairs`` drawn at random (seeded).

    Parameters
    ----------
    x : np.ndarray, shape (n, C, L) or (n, F)
        Segments (channels by samples, any unit), or segments already flattened to F values (then
        the segment's mean over its F values is removed).
    metadata : DataFrame or dict of arrays
        One row per segment, in the order of ``x``, with ``subject`` and ``trial`` (e.g.
        ``dataset.metadata`` or ``dataset.arrays()``).
    max_pairs : int
        At most this many pairs of each kind per subject.
    seed : int
        Seed of the pair sampling.

    Returns
    -------
    DataFrame
        One row per subject, in ascending order: ``subject``, ``within`` and ``between`` (mean
        correlation, in [-1, 1]; NaN without such pairs: a subject with one trial has no
        ``between``, one with one segment per trial no ``within``), ``n_within_pairs``,
        ``n_between_pairs``.  Flat segments (zero variance after the mean removal) are left out of
        the means.

    Raises
    ------
    ValueError
        When ``metadata`` does not have one row per segment or lacks ``subject`` / ``trial``, or
        ``x`` has the wrong shape.
    TypeError
        When ``metadata`` is neither a DataFrame nor a mapping.
    """
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be >= 1, got {max_pairs}")
    x = np.asarray(x)
    subject, trial = _labels(metadata, len(x))
    rng = np.random.default_rng(seed)
    rows = []
    for s in np.unique(subject):
        pos = np.flatnonzero(subject == s)
        u = _centred_unit(x[pos])  # (n_s, F)
        row: dict = {"subject": int(s)}
        for name, same in (("within", True), ("between", False)):
            i, j = _pair_indices(trial[pos], same=same, max_pairs=max_pairs, rng=rng)
            r = _pair_correlations(u, i, j)
            r = r[np.isfinite(r)]
            row[name] = float(r.mean()) if len(r) else float("nan")
            row[f"n_{name}_pairs"] = len(r)
        rows.append(row)
    return pd.DataFrame(rows, columns=["subject", "within", "between", "n_within_pairs", "n_between_pairs"])


def baseline_shared_correlation(n_windows: int) -> float:
    """The within-trial correlation that subtracting one mean baseline template alone gives:
    ``1 / (n_windows + 1)``.

    Derivation.  Let the stimulus windows ``s_i`` and the ``n`` pre-stimulus windows ``b_k`` of a
    trial be independent draws of the same zero-mean stationary noise, of variance ``σ²`` per
    sample.  The template is their mean ``b̄ = (1/n) Σ_k b_k``, of variance ``σ²/n``, and every
    corrected segment is ``x_i = s_i − b̄`` (:func:`~emolab.preprocess.physio.baseline_correct`).
    Then, per sample,

    * ``Var(x_i) = Var(s_i) + Var(b̄) = σ²(1 + 1/n)``;
    * ``Cov(x_i, x_j) = Var(b̄) = σ²/n`` for two segments ``i ≠ j`` of the same trial (they share
      ``b̄``), 0 for segments of different trials (independent templates);

    so ``ρ = (σ²/n) / (σ²(1 + 1/n)) = 1/(n + 1)`` within a trial and 0 between trials.  The
    ratio is the same at every sample, so it holds for the correlation of whole flattened
    segments too, for coloured noise whose windows are uncorrelated with each other, and after a
    per-trial scaling (:func:`~emolab.preprocess.physio.normalize`) that multiplies both segments
    alike.  DeepVANet's preprocessing averages DEAP's 3 s pre-trial period into one second
    (:cite:`zhang2021deepvanet`): ``n = 3``, ``ρ = 1/4``.

    Parameters
    ----------
    n_windows : int
        Pre-stimulus windows averaged into the template (>= 1).

    Returns
    -------
    float
        The predicted within-trial correlation, in (0, 1/2].
    """
    if int(n_windows) != n_windows or n_windows < 1:
        raise ValueError(f"n_windows must be a whole number >= 1, got {n_windows!r}")
    return 1.0 / (int(n_windows) + 1)


def template_correlation_demo(
    n_windows_list: Sequence[int] = (1, 3, 5),
    *,
    n_subjects: int = 10,
    n_trials: int = 20,
    n_segments: int = 10,
    n_channels: int = 8,
    win: int = 128,
    max_pairs: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """The within-trial correlation of baseline-corrected white noise, measured and predicted.

    For every simulated subject and trial, ``n_windows`` pre-stimulus windows and ``n_segments``
    stimulus windows of independent standard-normal noise (``n_channels`` by ``win`` samples)
    are drawn; the template is :func:`~emolab.preprocess.physio.baseline_template` of the
    pre-stimulus part and every stimulus window is corrected with
    :func:`~emolab.preprocess.physio.baseline_correct`.  :func:`segment_similarity` measures the
    correlations; :func:`baseline_shared_correlation` predicts the within-trial one.

    Parameters
    ----------
    n_windows_list : sequence of int
        Pre-stimulus windows per template (each >= 1).
    n_subjects, n_trials, n_segments : int
        Simulated subjects, trials per subject and segments per trial.
    n_channels, win : int
        Channels and samples of a segment.
    max_pairs : int
        Pairs of each kind per subject (:func:`segment_similarity`).
    seed : int
        Seed of the noise and of the pair sampling.

    Returns
    -------
    DataFrame
        One row per ``n_windows``: ``n_windows``, ``measured`` (mean over simulated subjects of
        their mean within-trial correlation), ``measured_low``, ``measured_high`` (95 % bootstrap
        interval over simulated subjects, :func:`~emolab.train.metrics.bootstrap_ci`),
        ``predicted`` (``1 / (n_windows + 1)``), ``between`` (mean between-trial correlation).
    """
    if n_subjects < 1 or n_trials < 2 or n_segments < 2:
        raise ValueError(f"need n_subjects >= 1, n_trials >= 2 and n_segments >= 2, got {n_subjects}, "
                         f"{n_trials}, {n_segments}")  # fmt: skip
    rng = np.random.default_rng(seed)
    meta = pd.DataFrame({
        "subject": np.repeat(np.arange(n_subjects), n_trials * n_segments),
        "trial": np.tile(np.repeat(np.arange(n_trials), n_segments), n_subjects),
    })  # fmt: skip
    rows = []
    for n in n_windows_list:
        predicted = baseline_shared_correlation(n)
        x = np.empty((n_subjects * n_trials, n_segments, n_channels, win), dtype=np.float64)
        for k in range(n_subjects * n_trials):
            pre = rng.standard_normal((n_channels, int(n) * win))  # (C, n * win)
            stim = rng.standard_normal((n_segments, n_channels, win))  # (n_segments, C, win)
            x[k] = baseline_correct(stim, baseline_template(pre, win=win))
        sim = segment_similarity(x.reshape(-1, n_channels, win), meta, max_pairs=max_pairs, seed=seed)
        measured, low, high = bootstrap_ci(sim["within"].to_numpy(), seed=seed)
        rows.append({"n_windows": int(n), "measured": measured, "measured_low": low, "measured_high": high,
                     "predicted": predicted, "between": float(sim["between"].mean())})  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# identifiability


def _face_statistics(x: np.ndarray) -> np.ndarray:
    """(n, T, 3, S, S) uint8 crops -> (n, 22): RGB means, RGB stds (over frames and pixels, in
    [0, 1] units) and the 4 x 4 grid of mean grey levels (row-major)."""
    if x.ndim != 5 or x.shape[2] != 3:
        raise ValueError(f"face segments must be (n, T, 3, S, S), got shape {x.shape}")
    s_h, s_w = x.shape[3], x.shape[4]
    if s_h < 4 or s_w < 4:
        raise ValueError(f"face crops of {s_h} x {s_w} pixels are too small for a 4 x 4 grid (need >= 4)")
    rows = np.array_split(np.arange(s_h), 4)
    cols = np.array_split(np.arange(s_w), 4)
    out = np.empty((len(x), 22), dtype=np.float64)
    for s in range(0, len(x), _FACE_CHUNK):
        f = np.asarray(x[s:s + _FACE_CHUNK], dtype=np.float32) / np.float32(255.0)  # (b, T, 3, S, S)
        out[s:s + len(f), 0:3] = f.mean(axis=(1, 3, 4))
        out[s:s + len(f), 3:6] = f.std(axis=(1, 3, 4))
        grey = np.einsum("btcij,c->bij", f, _LUMA) / f.shape[1]  # (b, S, S) mean over frames
        grid = [grey[:, r][:, :, c].mean(axis=(1, 2)) for r in rows for c in cols]  # 16 x (b,)
        out[s:s + len(f), 6:] = np.stack(grid, axis=1)
    return out


def segment_statistics(x: np.ndarray, *, sfreq: float | None = None, kind: str = "physio") -> np.ndarray:
    """Simple per-segment statistics that show a trial's scale, offset, spectrum or lighting.

    Parameters
    ----------
    x : np.ndarray
        ``kind="physio"``: (n, C, L) segments in any unit.  ``kind="face"``: (n, T, 3, S, S) uint8
        face crops (T frames of S x S RGB pixels, as ``dataset.arrays()["face"]``).
    sfreq : float or None
        Sampling frequency of the physiological segments in Hz.  When given and ``L >= sfreq / 2``,
        log band powers are added (:func:`~emolab.preprocess.physio.band_power`, the bands of
        :data:`~emolab.preprocess.physio.BANDS` below the Nyquist frequency).
    kind : {"physio", "face"}

    Returns
    -------
    np.ndarray, float64, shape (n, F)
        ``"physio"``: per channel, the log-variance over time (log of the squared unit), then per
        channel the mean (the unit), then per channel and band the log mean power spectral density
        (log of squared unit per Hz) — F = 2 C, or (2 + n_bands) C with bands.  ``"face"``: the
        mean and standard deviation of each RGB channel over pixels and frames (6, in [0, 1]
        units), then the mean grey level (BT.601 luma) of each cell of a 4 x 4 grid over the crop,
        averaged over frames (16, row-major) — F = 22.  Variances and powers are floored at
        1e-30 before the logarithm.
    """
    x = np.asarray(x)
    if kind == "face":
        return _face_statistics(x)
    if kind != "physio":
        raise ValueError(f"kind must be 'physio' or 'face', got {kind!r}")
    if x.ndim != 3:
        raise ValueError(f"physiological segments must be (n, C, L), got shape {x.shape}; for face crops "
                         "pass kind='face'")  # fmt: skip
    x = x.astype(np.float64, copy=False)
    n, _, length = x.shape
    feats = [np.log(np.maximum(x.var(axis=-1), _POWER_FLOOR)), x.mean(axis=-1)]  # (n, C) each
    if sfreq is not None:
        bands = {k: v for k, v in BANDS.items() if v[0] < sfreq / 2}
        if length >= sfreq / 2 and bands:
            bp = band_power(x, sfreq=float(sfreq), bands=bands)  # (n, C, n_bands)
            feats.append(np.log(np.maximum(bp, _POWER_FLOOR)).reshape(n, -1))
        else:
            logger.info(f"segment_statistics: segments of {length} samples at {sfreq} Hz are shorter than "
                        "half a second; band powers left out")  # fmt: skip
    return np.concatenate(feats, axis=1)


def trial_identifiability(
    features: np.ndarray,
    metadata,
    *,
    n_splits: int = 5,
    seed: int = 0,
    max_iter: int = 2000,
) -> pd.DataFrame:
    """How well a subject's trials can be told apart from one segment's features.

    Per subject, a pipeline of :class:`~sklearn.preprocessing.StandardScaler` and a multinomial
    :class:`~sklearn.linear_model.LogisticRegression` (L2, ``C=1``) predicts each segment's
    **trial** under :class:`~sklearn.model_selection.StratifiedKFold` over the subject's segments
    (shuffled, seeded): every segment is predicted once, by a model fitted on the others, and
    other segments of its trial are in that model's training set.  Accuracy well above chance
    means the trials carry signatures in these features.

    Parameters
    ----------
    features : np.ndarray, shape (n, F)
        Per-segment features (e.g. :func:`segment_statistics`), finite.
    metadata : DataFrame or dict of arrays
        One row per segment, in the order of ``features``, with ``subject`` and ``trial``.
    n_splits : int
        Folds (>= 2).  Reduced, per subject, to the fewest segments of any of its trials.
    seed : int
        Seed of the fold shuffling.
    max_iter : int
        Iterations of the logistic regression's solver.

    Returns
    -------
    DataFrame
        One row per subject that could be evaluated, in ascending order: ``subject``,
        ``accuracy`` (fraction of the subject's segments whose trial was predicted right),
        ``chance`` (share of the subject's largest trial: ``1 / n_trials`` when the trials are
        equally long), ``n_trials``, ``n_segments``, ``n_splits`` (the folds used).  A subject with
        one trial, or with a trial of one segment, is left out with a logged warning.

    Raises
    ------
    ValueError
        When ``metadata`` does not have one row per segment, ``features`` is not 2-D or not
        finite, or ``n_splits < 2``.
    TypeError
        When ``metadata`` is neither a DataFrame nor a mapping.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be (n, F), got shape {features.shape}; for segments call "
                         "segment_statistics first")  # fmt: skip
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    subject, trial = _labels(metadata, len(features))
    bad = ~np.isfinite(features)
    if bad.any():
        raise ValueError(f"features hold {int(bad.sum())} non-finite values (in columns "
                         f"{sorted(set(np.flatnonzero(bad.any(axis=0)).tolist()))[:10]}); drop or impute them first")  # fmt: skip
    rows, not_converged = [], 0
    for s in np.unique(subject):
        pos = np.flatnonzero(subject == s)
        y = trial[pos]
        labels, counts = np.unique(y, return_counts=True)
        if len(labels) < 2:
            logger.warning(f"trial_identifiability: subject {int(s)} has one trial; it is left out")
            continue
        k = min(int(n_splits), int(counts.min()))
        if k < 2:
            short = labels[counts < 2].tolist()
            logger.warning(f"trial_identifiability: subject {int(s)} has trials with a single segment "
                           f"({short}); it is left out (drop those trials to keep the subject)")  # fmt: skip
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        # one BLAS thread: the fits are small, and threads waiting on a busy machine cost far
        # more than they save
        with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("always", ConvergenceWarning)
            pred = cross_val_predict(model, features[pos], y, cv=folds)
        for w in caught:  # counted once below; any other warning is passed on
            if issubclass(w.category, ConvergenceWarning):
                not_converged += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        rows.append({"subject": int(s), "accuracy": float(np.mean(pred == y)), "chance": float(counts.max() / len(y)),
                     "n_trials": len(labels), "n_segments": len(y), "n_splits": k})  # fmt: skip
    if not_converged:
        logger.warning(f"trial_identifiability: the logistic regression did not converge in {max_iter} iterations "
                       f"in {not_converged} fits; raise max_iter")  # fmt: skip
    return pd.DataFrame(rows, columns=["subject", "accuracy", "chance", "n_trials", "n_segments", "n_splits"])


# ---------------------------------------------------------------------------------------------
# a whole store


def _store_channels(dataset) -> tuple[list[str], list[str]]:
    """Names and MNE types of the channels of a store's ``bio`` arrays, in order."""
    config = dataset.store.config
    source = config.get("reader", {}).get("dataset")
    if source not in ("deap", "mahnob"):
        raise ValueError(f"the store {dataset.store.path} was read from {source!r}; trial_signatures knows the "
                         "channels of 'deap' and 'mahnob' stores")  # fmt: skip
    table = dict(zip(DEAP_CH_NAMES, DEAP_CH_TYPES)) if source == "deap" else dict(zip(MAHNOB_CH_NAMES, MAHNOB_CH_TYPES))
    names = config.get("physio", {}).get("channels")
    if names is None:
        names = DEAP_CH_NAMES if source == "deap" else MAHNOB_DEFAULT_CHANNELS
    names = list(names)
    unknown = [c for c in names if c not in table]
    if unknown:
        raise ValueError(f"channels {unknown} of the store {dataset.store.path} are not {source} channels")
    return names, [table[c] for c in names]


def channel_groups(dataset) -> dict[str, list[int]]:
    """The channel groups of a store (:data:`SIGNATURE_GROUPS`) present in its ``bio`` arrays.

    Returns
    -------
    dict
        Group name -> positions on the channel axis of ``dataset.arrays()["bio"]``, in the order
        of :data:`SIGNATURE_GROUPS`; groups without channels are absent.  Empty when the dataset
        does not serve the ``bio`` modality.
    """
    if "bio" not in dataset.modalities:
        return {}
    _, types = _store_channels(dataset)
    out = {}
    for group, kinds in SIGNATURE_GROUPS.items():
        idx = [i for i, t in enumerate(types) if t in kinds]
        if idx:
            out[group] = idx
    return out


def _grey_segments(face: np.ndarray) -> np.ndarray:
    """(n, T, 3, S, S) uint8 -> (n, 1, T * S * S) float32 grey frames, one 'channel' per segment
    (so that the similarity removes the segment's mean over all its frames and pixels)."""
    out = np.empty((len(face), 1, face.shape[1] * face.shape[3] * face.shape[4]), dtype=np.float32)
    for s in range(0, len(face), _FACE_CHUNK):
        f = np.asarray(face[s:s + _FACE_CHUNK], dtype=np.float32)
        out[s:s + len(f), 0] = np.einsum("btcij,c->btij", f, _LUMA).reshape(len(f), -1)
    return out


def _subject_rows(x, meta: pd.DataFrame, *, group: str, n_channels: int, features: np.ndarray,
                  n_splits: int, seed: int, max_pairs: int) -> dict:  # fmt: skip
    sim = segment_similarity(x, meta, max_pairs=max_pairs, seed=seed).iloc[0]
    ident = trial_identifiability(features, meta, n_splits=n_splits, seed=seed)
    row = {"group": group, "subject": int(sim["subject"]), "n_channels": n_channels,
           "within": sim["within"], "between": sim["between"],
           "n_within_pairs": int(sim["n_within_pairs"]), "n_between_pairs": int(sim["n_between_pairs"]),
           "accuracy": np.nan, "chance": np.nan, "n_trials": int(meta["trial"].nunique()), "n_segments": len(meta)}  # fmt: skip
    if len(ident):
        row.update(accuracy=float(ident["accuracy"].iloc[0]), chance=float(ident["chance"].iloc[0]))
    return row


def summarize_signature(per_subject: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """One row per group of per-subject signature rows (``trial_signatures(..., per_subject=True)``).

    Parameters
    ----------
    per_subject : DataFrame
        Columns ``group``, ``subject``, ``n_channels``, ``within``, ``between``, ``accuracy``,
        ``chance``.
    seed : int
        Seed of the bootstrap intervals.

    Returns
    -------
    DataFrame
        One row per group, in the order of first appearance: ``group``, ``n_channels``,
        ``within`` (mean over subjects of their mean within-trial correlation), ``within_low``,
        ``within_high`` (95 % percentile-bootstrap interval over subjects,
        :func:`~emolab.train.metrics.bootstrap_ci`), ``between``, ``between_low``,
        ``between_high``, ``identifiability`` (mean over subjects of the trial-identification
        accuracy), ``identifiability_low``, ``identifiability_high``, ``chance`` (mean over the
        same subjects), ``n_subjects`` (subjects whose identifiability was measured).
    """
    missing = sorted({"group", "subject", "n_channels", "within", "between", "accuracy", "chance"}
                     - set(per_subject.columns))  # fmt: skip
    if missing:
        raise ValueError(f"per_subject lacks the columns {missing}; pass trial_signatures(..., per_subject=True)")
    rows = []
    for group, g in per_subject.groupby("group", sort=False):
        within = bootstrap_ci(g["within"].to_numpy(float), seed=seed)
        between = bootstrap_ci(g["between"].to_numpy(float), seed=seed)
        measured = g[np.isfinite(g["accuracy"].to_numpy(float))]
        ident = bootstrap_ci(measured["accuracy"].to_numpy(float), seed=seed)
        rows.append({"group": group, "n_channels": int(g["n_channels"].iloc[0]),
                     "within": within[0], "within_low": within[1], "within_high": within[2],
                     "between": between[0], "between_low": between[1], "between_high": between[2],
                     "identifiability": ident[0], "identifiability_low": ident[1], "identifiability_high": ident[2],
                     "chance": float(measured["chance"].mean()) if len(measured) else float("nan"),
                     "n_subjects": len(measured)})  # fmt: skip
    return pd.DataFrame(rows)


def trial_signatures(
    dataset,
    *,
    groups: Sequence[str] | None = None,
    face: bool = True,
    n_splits: int = 5,
    seed: int = 0,
    max_pairs: int = 2000,
    per_subject: bool = False,
    verbose: bool | str | None = None,
) -> pd.DataFrame:
    """Trial signatures of a segment store, per channel group and for the face.

    For every subject and every group, :func:`segment_similarity` of the group's channels and
    :func:`trial_identifiability` of their :func:`segment_statistics` (with band powers at the
    store's sampling rate).  The face (when the dataset serves it, ``face=True``, and only its
    segments with a detected face) is measured on the grey frames, each segment's mean removed,
    and on the face statistics.  One subject is read at a time.

    Parameters
    ----------
    dataset : SegmentDataset or TrialHeads
        From :func:`~emolab.store.dataset.open_segments` or
        :func:`~emolab.experiments.prepare_segments`; a DEAP or MAHNOB-HCI store (real or
        synthetic).
    groups : sequence of str or None
        Groups to measure, among :data:`SIGNATURE_GROUPS` and ``"face"`` (``None``: every group
        present).
    face : bool
        Measure the face when the dataset has it (ignored when ``groups`` names ``"face"``).
    n_splits, seed : int
        Folds of :func:`trial_identifiability` and the seed of the folds, pair sampling and
        bootstrap.
    max_pairs : int
        Pairs of each kind per subject (:func:`segment_similarity`).
    per_subject : bool
        Return the per-subject rows instead of their summary.
    verbose : bool, str or None
        Log level while it runs.

    Returns
    -------
    DataFrame
        :func:`summarize_signature` of the per-subject rows: one row per group with ``group``,
        ``n_channels``, ``within``, ``within_low``, ``within_high``, ``between`` (and its
        interval), ``identifiability``, ``identifiability_low``, ``identifiability_high``,
        ``chance``, ``n_subjects``.  With ``per_subject=True``: one row per group and subject with
        ``group``, ``subject``, ``n_channels`` (0 for the face), ``within``, ``between``,
        ``n_within_pairs``, ``n_between_pairs``, ``accuracy``, ``chance``, ``n_trials``,
        ``n_segments``.

    Raises
    ------
    ValueError
        Naming the groups available when ``groups`` asks for one the store lacks.
    """
    with use_log_level(verbose):
        present = channel_groups(dataset)
        has_face = "face" in dataset.modalities and bool(np.asarray(dataset.metadata["has_face"], bool).any())
        available = list(present) + (["face"] if has_face else [])
        if groups is None:
            chosen = list(present) + (["face"] if has_face and face else [])
        else:
            chosen = list(groups)
            unknown = [g for g in chosen if g not in available]
            if unknown:
                raise ValueError(f"groups {unknown} are not in this dataset; it has {available} "
                                 f"(known groups: {list(SIGNATURE_GROUPS) + ['face']})")  # fmt: skip
        if not chosen:
            raise ValueError(f"nothing to measure: the dataset has {available}; open it with the 'bio' or 'face' "
                             "modality")  # fmt: skip
        sfreq = float(dataset.store.config.get("physio", {}).get("sfreq", 128.0))
        meta_all = dataset.metadata.reset_index(drop=True)
        subjects = [int(s) for s in pd.unique(meta_all["subject"])]
        n_names = len(_store_channels(dataset)[0]) if present else 0
        rows = []
        bar = tqdm(subjects, desc="trial signatures", disable=len(subjects) < 4 or logger.getEffectiveLevel() > 20)
        for s in bar:
            pos = np.flatnonzero(meta_all["subject"].to_numpy() == s)
            arrays = dataset.arrays(pos)
            meta = pd.DataFrame({"subject": arrays["subject"], "trial": arrays["trial"]})
            if "bio" in arrays and arrays["bio"].shape[1] != n_names:
                raise ValueError(f"the store's segments have {arrays['bio'].shape[1]} channels but its config "
                                 f"names {n_names}; rebuild the store")  # fmt: skip
            for group in chosen:
                if group == "face":
                    keep = np.flatnonzero(arrays["has_face"])
                    if len(keep) == 0:
                        continue
                    crops = arrays["face"][keep]
                    rows.append(_subject_rows(_grey_segments(crops), meta.iloc[keep].reset_index(drop=True),
                                              group="face", n_channels=0,
                                              features=segment_statistics(crops, kind="face"),
                                              n_splits=n_splits, seed=seed, max_pairs=max_pairs))  # fmt: skip
                    continue
                x = arrays["bio"][:, present[group]]  # (n_s, C_group, L)
                rows.append(_subject_rows(x, meta, group=group, n_channels=len(present[group]),
                                          features=segment_statistics(x, sfreq=sfreq),
                                          n_splits=n_splits, seed=seed, max_pairs=max_pairs))  # fmt: skip
        table = pd.DataFrame(rows)
        if per_subject:
            return table
        return summarize_signature(table, seed=seed)


# ------------------------------------------------------------------- what the leak audit reads
def _measured_rows(dataset, modalities: Sequence[str], subject: int | None = None) -> np.ndarray:
    """Positions of the segments :func:`input_signature` measures: all (of ``subject``), or those
    with a detected face when the face is among ``modalities``."""
    meta = dataset.metadata.reset_index(drop=True)
    keep = np.ones(len(meta), bool)
    if subject is not None:
        keep &= meta["subject"].to_numpy() == subject
    if "face" in modalities:
        keep &= meta["has_face"].to_numpy(bool)
    return np.flatnonzero(keep)


def input_features(dataset, *, modalities: Sequence[str] = ("bio",), rows=None) -> tuple[np.ndarray, pd.DataFrame]:
    """:func:`segment_statistics` of the segments of ``dataset`` and their metadata.

    ``modalities`` picks the inputs: the physiological channels (log-variance, mean and log band
    powers per channel), the face crops (colour and brightness grid), or both side by side.
    ``rows`` (positions in the dataset) picks the segments; default every segment, or every
    segment with a detected face when the face is among ``modalities``.

    Returns
    -------
    X : np.ndarray, float64, shape (n_rows, F)
    metadata : DataFrame
        The rows of ``dataset.metadata`` (index reset), aligned with ``X``.
    """
    if not set(modalities) <= {"bio", "face"} or not modalities:
        raise ValueError(f"modalities must name 'bio' and/or 'face', got {modalities!r}")
    rows = _measured_rows(dataset, modalities) if rows is None else np.asarray(rows, dtype=np.int64)
    if not len(rows):
        raise ValueError("no segment to measure: the dataset has no segment with a detected face")
    arrays = dataset.arrays(rows)
    parts = []
    if "bio" in modalities:
        sfreq = float(dataset.store.config["physio"].get("sfreq", 128.0))
        parts.append(segment_statistics(arrays["bio"], sfreq=sfreq))
    if "face" in modalities:
        parts.append(segment_statistics(arrays["face"], kind="face"))
    return np.concatenate(parts, axis=1), dataset.metadata.reset_index(drop=True).iloc[rows].reset_index(drop=True)


def waveform_inputs(dataset, *, modalities: Sequence[str] = ("bio",), rows=None) -> np.ndarray:
    """Each segment's waveform, every channel standardised within the segment, flattened.

    ``"bio"``: (n, C * L), each channel's mean removed and divided by its standard deviation over
    the segment (so that every channel counts alike); ``"face"``: the grey frames, each
    segment's mean removed, divided by its standard deviation.  ``rows`` (positions in the
    dataset, default all) picks the segments.  Returns float32 (n, F).
    """
    arrays = dataset.arrays(rows)
    parts = []
    if "bio" in modalities:
        x = arrays["bio"].astype(np.float64)
        x = (x - x.mean(-1, keepdims=True)) / np.maximum(x.std(-1, keepdims=True), 1e-12)
        parts.append(x.reshape(len(x), -1).astype(np.float32))
    if "face" in modalities:
        g = _grey_segments(arrays["face"]).reshape(len(arrays["face"]), -1).astype(np.float64)
        g = (g - g.mean(1, keepdims=True)) / np.maximum(g.std(1, keepdims=True), 1e-12)
        parts.append(g.astype(np.float32))
    return np.concatenate(parts, axis=1)


def nearest_waveform_evaluation(X: np.ndarray, metadata: pd.DataFrame, *, protocol: str, task: str = "arousal",
                                n_splits: int = 3, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Cross-validate a one-nearest-neighbour classifier of waveforms (correlation distance).

    A test segment gets the label of the training segment whose waveform correlates best with
    it: the classifier that a template shared by a trial's segments rewards most.  Labels are
    the ratings at the fixed threshold (>= 5); folds are :func:`emolab.train.make_folds`'.

    Returns
    -------
    DataFrame
        One row per fold: ``protocol``, ``subject``, ``fold``, ``accuracy``,
        ``majority_baseline``, ``n_test``, ``n_pos`` (the shape of the results table).
    """
    from sklearn.neighbors import KNeighborsClassifier

    from emolab.train.protocols import make_folds

    meta = metadata.reset_index(drop=True)
    y = (meta[task].to_numpy(float) >= 5.0).astype(int)
    rows = []
    for f in make_folds(meta, protocol, task=task, n_splits=n_splits, seed=seed, labels=y):
        clf = KNeighborsClassifier(n_neighbors=1, metric="correlation").fit(X[f.train_idx], y[f.train_idx])
        y_te = y[f.test_idx]
        p = y_te.mean()
        rows.append({"protocol": protocol, "subject": f.subject, "fold": f.fold,
                     "accuracy": float((clf.predict(X[f.test_idx]) == y_te).mean()),
                     "majority_baseline": float(max(p, 1 - p)), "n_test": len(y_te), "n_pos": int(y_te.sum())})  # fmt: skip
    return pd.DataFrame(rows)


def input_signature(
    dataset,
    *,
    task: str = "arousal",
    modalities: Sequence[str] = ("bio",),
    leaky: str = "paper-segment-kfold",
    n_splits: int = 3,
    seed: int = 0,
) -> TrialSignature:
    """Measure the trial signature of an evaluation's inputs, for :func:`emolab.train.audit`.

    Two simple classifiers run on the dataset's inputs under ``leaky`` (a protocol that puts
    segments of one trial on both sides) and under ``trial-kfold``, with the same labels; each
    gives the paired per-subject difference with its Student-t interval over subjects
    (:func:`~emolab.experiments.paired_gap`)
    (:class:`~emolab.train.leak_audit.SignatureProbe`):

    * ``"statistics + logistic regression"`` — chapter 09's feature pipeline
      (:func:`emolab.analysis.leaks.evaluate_features`: standardised on the training fold,
      ``C = 1``, nothing chosen) on :func:`input_features`; it is rewarded by per-trial gains,
      offsets and spectra;
    * ``"nearest waveform"`` — :func:`nearest_waveform_evaluation` on :func:`waveform_inputs`; it
      is rewarded by a waveform shared by a trial's segments (a baseline template).

    A lower end above 0 for either means the inputs reward sharing trials, whatever makes them do
    so.  Beside them, how well the statistics name a segment's trial
    (:func:`trial_identifiability`), which what a trial made its subject feel raises too.  One
    subject's segments are in memory at a time.

    Returns
    -------
    TrialSignature
    """
    from emolab.analysis.leaks import evaluate_features
    from emolab.experiments.summaries import paired_gap
    from emolab.train.leak_audit import SignatureProbe
    from emolab.train.protocols import get_protocol

    if not (get_protocol(leaky).per_subject and get_protocol(leaky).leaky):
        raise ValueError(f"input_signature compares trial-kfold with a per-subject protocol that shares trials; "
                         f"{leaky!r} is not one (use paper-segment-kfold)")  # fmt: skip
    one = dict(task=task, n_splits=n_splits, seed=seed)
    stats, wave, ident = [], [], []
    for subject in sorted(dataset.metadata["subject"].unique()):  # one subject in memory at a time
        rows = _measured_rows(dataset, modalities, int(subject))
        if len(rows) < 2:
            continue
        X, meta = input_features(dataset, modalities=modalities, rows=rows)
        W = waveform_inputs(dataset, modalities=modalities, rows=rows)
        for p in ("trial-kfold", leaky):
            stats.append(evaluate_features(X, meta, protocol=p, **one).results)
            wave.append(nearest_waveform_evaluation(W, meta, protocol=p, **one))
        ident.append(trial_identifiability(X, meta, n_splits=n_splits, seed=seed))
    if not stats:
        raise ValueError("no subject has two segments to measure")
    probes = []
    for name, results in (("statistics + logistic regression", stats), ("nearest waveform", wave)):
        g = paired_gap(pd.concat(results, ignore_index=True), leaky=leaky)
        probes.append(SignatureProbe(name, float(g["gap"]), float(g["gap_low"]), float(g["gap_high"])))
    ident = pd.concat(ident, ignore_index=True)
    return TrialSignature(probes=tuple(probes), identifiability=float(ident["accuracy"].mean()),
                          chance=float(ident["chance"].mean()), n_subjects=int(ident["subject"].nunique()))  # fmt: skip
