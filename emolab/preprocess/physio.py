"""Physiological preprocessing: from a reader :class:`~emolab.data.record.Record` to 1 s segments.

Chapter 02 (``notebooks/02_physiological_preprocessing.ipynb``) teaches every step below.  The
chain follows the two reproduced papers (:cite:`safavi_deep_multimodal`, :cite:`yu2025gbvnet`) and
DeepVANet (:cite:`zhang2021deepvanet`), whose code the first paper builds on:

1. :func:`resample` to 128 Hz (MAHNOB-HCI is recorded at 256 Hz; DEAP's preprocessed files are at
   128 Hz already, so this is a no-op there).
2. :func:`set_reference` of the EEG (DEAP's files are already common-average referenced
   :cite:`koelstra2012deap`; MAHNOB-HCI's raw BDF is re-referenced to the average by default, our
   choice so that both datasets reach the models in the same form).
3. :func:`bandpass` 4-45 Hz on EEG (and EOG, see below) — skipped, and recorded as skipped, when the
   input is DEAP's preprocessed data, which the dataset authors filtered with this band.
4. :func:`remove_eog` by regression on the EOG channels with :class:`mne.preprocessing.EOGRegression`
   (:cite:`gramfort2013mne`).  We choose regression over ICA because (a) it is deterministic and
   needs no manual or heuristic selection of components, (b) it works on one 63 s trial at a time
   (ICA needs minutes of data per fit to be stable), and (c) DEAP records a horizontal and a
   vertical EOG channel, which is exactly what regression needs.  Its known cost: a little brain
   signal that leaks into the EOG is subtracted too.  MAHNOB-HCI's BDF has no EOG channel (its
   EXG electrodes are ECG and unused leads), so there the step is skipped and recorded as such.
   DEAP's preprocessed files had their EOG removed by the dataset authors, the reason the
   band-pass is skipped there; ``PhysioConfig(eog_regression=None)`` skips the regression on them
   for the same reason (the full experiment profile does).  The default ``True`` regresses
   anyway: the synthetic DEAP-format data leaks EOG into the EEG on purpose, so that chapter 02
   can show the step.
5. :func:`select_channels`: DEAP all 40 channels (as :cite:`safavi_deep_multimodal`); MAHNOB-HCI
   the 38 of :data:`MAHNOB_DEFAULT_CHANNELS` (32 EEG + 3 ECG + GSR1 + Resp + Temp: our reading of
   GBV-Net's "38 channels", which the paper does not list).
6. :func:`cut_windows` of the stimulus part into non-overlapping 1 s windows (length and stride
   configurable).
7. :func:`baseline_correct`: DeepVANet-style — cut the pre-stimulus period into windows of the same
   length, average them into one "mean baseline second" per channel, subtract it from every window
   (``PhysioConfig(baseline="mean")`` subtracts one number per channel instead, ``False`` nothing;
   what each leaves behind is in :class:`PhysioConfig`).
8. :func:`normalize` (optional; off in :class:`PhysioConfig` by default, the papers describe none,
   but every experiment profile of :mod:`emolab.experiments` switches it on, for the reason given
   at ``ExperimentProfile.normalize``): divide each channel by its standard
   deviation over the trial's own pre-stimulus period.  Its statistics come from the trial itself,
   never from other trials or subjects, so it cannot leak test data into training; anything fitted
   across trials belongs inside the training fold (:mod:`emolab.train`).

:func:`preprocess_record` runs the whole chain and returns :class:`PhysioSegments`.

>>> from emolab.preprocess.physio import PhysioConfig, preprocess_record
>>> seg = preprocess_record(record, PhysioConfig())          # doctest: +SKIP
>>> seg.data.shape                                           # doctest: +SKIP
(60, 40, 128)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emolab._logging import logger, use_log_level
from emolab.data.channels import EEG_CH_NAMES
from emolab.data.record import Record

# MAHNOB-HCI channels kept by default (38): 32 EEG, the three ECG leads, one skin conductance,
# respiration and skin temperature.  GBV-Net reports 38 channels without naming them; this is the
# set of physiologically meaningful channels of the BDF (EXG4-8 are unused/extra electrodes, GSR2
# duplicates GSR1, Erg1/Erg2 are auxiliary inputs).
MAHNOB_DEFAULT_CHANNELS: tuple[str, ...] = EEG_CH_NAMES + (
    "EXG1", "EXG2", "EXG3", "GSR1", "Resp", "Temp",
)  # fmt: skip

#: Values of :attr:`PhysioConfig.baseline`: the mean baseline second (the papers'), each channel's
#: mean over the baseline, nothing.
BASELINES = (True, "mean", False)

# Channel types whose unit is volts inside MNE and microvolts in the datasets' files.
_VOLT_TYPES = ("eeg", "eog", "emg", "ecg")


@dataclass
class PhysioConfig:
    """Every setting of the physiological chain; defaults follow the papers unless marked "ours".

    Attributes
    ----------
    sfreq : float
        Target sampling frequency in Hz.  Paper: 128 (both papers, DeepVANet).
    l_freq, h_freq : float or None
        Band-pass edges in Hz applied to EEG (and EOG).  Paper: 4-45 (DEAP's preprocessing, which
        GBV-Net states).  ``None`` for either edge leaves that side open.
    already_filtered : bool or None
        Whether the input already went through DEAP's preprocessing (128 Hz, EOG removed, 4-45 Hz,
        average reference), in which case the band-pass is skipped and recorded as skipped.
        ``None`` (default) decides from the record: ``True`` for ``dataset == "deap"`` (the readers
        read ``data_preprocessed_python``), ``False`` otherwise.
    eeg_reference : {"keep", "average"} or None
        ``None`` (default): keep DEAP's average reference, apply an average reference to anything
        else (ours, see the module docstring).
    eog_regression : bool or None
        Remove EOG artefacts by regression on the EOG channels (paper: "remove EOG artefacts";
        the method is ours).  Skipped, and recorded as skipped, when the record has no EOG channel.
        ``None``: skipped when the input is already preprocessed (``already_filtered``, i.e.
        DEAP's files, whose EOG the dataset authors removed), run otherwise.  Default ``True``
        (ours: the synthetic data's EEG carries EOG on purpose).
    channels : tuple of str or None
        Channels to keep, in this order.  ``None``: DEAP all 40, MAHNOB-HCI
        :data:`MAHNOB_DEFAULT_CHANNELS`.
    window_s, stride_s : float
        Window length and stride in seconds.  Paper: 1 s non-overlapping (``stride_s == window_s``).
    baseline : {True, "mean", False}
        What is subtracted from every window (each option stamps a different trial signature;
        chapter 09 measures them):

        * ``True`` (paper; also ``"template"``): the mean baseline second of DeepVANet
          :cite:`zhang2021deepvanet` — the average of the pre-stimulus windows, sample by
          sample.  Removes each channel's pre-stimulus level and waveform; leaves the baseline's
          own noise, the same in every window of the trial and different in every other trial,
          so that windows of one trial correlate (about ``1 / (n + 1)`` for ``n`` windows of
          stationary noise).
        * ``"mean"`` (ours): one number per channel, the channel's mean over the pre-stimulus
          period.  Removes each channel's resting level (the tonic skin conductance or skin
          temperature of that trial); leaves one constant per channel and trial, which for the
          band-passed EEG is small and which a model can drop by removing each window's mean.
        * ``False``: nothing.  Stamps nothing; slow channels keep their absolute level, which
          differs between trials wherever the physiology does.
    baseline_s : float or None
        How much of the pre-stimulus period to use, counted back from the stimulus onset.  Paper:
        3 s (DEAP's whole pre-trial period).  ``None`` uses every whole window before the onset.
    normalize : {None, "baseline_std"}
        Optional per-trial scaling (ours; the papers do none): ``"baseline_std"`` divides each
        channel by its standard deviation over the trial's own pre-stimulus period.  Removes
        differences of scale between trials and subjects; stamps the trial's per-channel gains
        on every window of it.  A scaling that stamps nothing is fitted on a fold's training
        rows, which is the training stage's job
        (:attr:`TrainConfig.bio_standardize <emolab.train.config.TrainConfig>`).
    """

    sfreq: float = 128.0
    l_freq: float | None = 4.0
    h_freq: float | None = 45.0
    already_filtered: bool | None = None
    eeg_reference: str | None = None
    eog_regression: bool | None = True
    channels: tuple[str, ...] | None = None
    window_s: float = 1.0
    stride_s: float = 1.0
    baseline: bool | str = True
    baseline_s: float | None = 3.0
    normalize: str | None = None

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.stride_s <= 0:
            raise ValueError(f"window_s and stride_s must be > 0, got {self.window_s}, {self.stride_s}")
        if self.baseline == "template":
            self.baseline = True  # the paper's template, spelled as the default (one store key)
        if self.baseline is None:
            self.baseline = False
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be True (the paper's template), 'mean' or False, got {self.baseline!r}")
        if self.normalize not in (None, "baseline_std"):
            raise ValueError(f"normalize must be None or 'baseline_std', got {self.normalize!r}")
        if self.eeg_reference not in (None, "keep", "average"):
            raise ValueError(
                f"eeg_reference must be None, 'keep' or 'average', got {self.eeg_reference!r}"
            )
        if self.channels is not None:
            self.channels = tuple(self.channels)


@dataclass
class PhysioSegments:
    """The 1 s windows of one trial, ready for the models.

    Attributes
    ----------
    data : np.ndarray, float32, shape (n_windows, n_channels, n_times)
        Segments in the dataset's units (µV for EEG/EOG/EMG/ECG; raw units otherwise), baseline
        corrected (and normalised when configured).
    ch_names, ch_types : list of str
        Channel names and MNE types of ``data``'s second axis.
    sfreq : float
        Sampling frequency of ``data`` in Hz.
    onsets_s : np.ndarray, float64, shape (n_windows,)
        Start of each window in seconds after the stimulus onset (used to align face frames).
    baseline : np.ndarray, float32, shape (n_channels, n_times) or None
        What was subtracted from every window: the mean baseline second, or (``baseline="mean"``)
        each channel's baseline mean repeated over the window.
    steps : list of str
        What was done and what was skipped, in order (for the chapter and the store's log).
    eog_coef : np.ndarray, shape (n_eeg, n_eog) or None
        Regression weights of the EOG removal.
    """

    data: np.ndarray
    ch_names: list[str]
    ch_types: list[str]
    sfreq: float
    onsets_s: np.ndarray
    baseline: np.ndarray | None = None
    steps: list[str] = field(default_factory=list)
    eog_coef: np.ndarray | None = None

    @property
    def n_windows(self) -> int:
        return int(self.data.shape[0])


# ---------------------------------------------------------------------------------------------
# the steps, each usable on its own


def record_to_raw(record: Record, *, verbose: bool | str | None = "ERROR"):
    """Return the record as an :class:`mne.io.RawArray` in MNE's units (volts for EEG and EOG)."""
    return record.to_raw(verbose=verbose)


def raw_to_array(raw) -> np.ndarray:
    """Return ``raw``'s data back in the datasets' units (µV for EEG/EOG/EMG/ECG), float64.

    Shape (n_channels, n_samples).
    """
    types = raw.get_channel_types()
    scale = np.array([1e6 if t in _VOLT_TYPES else 1.0 for t in types])[:, None]
    return raw.get_data() * scale


def resample(raw, *, sfreq: float, verbose: bool | str | None = "ERROR") -> tuple[object, str]:
    """Resample ``raw`` in place to ``sfreq`` Hz (MNE's FFT method with its anti-alias filter).

    Returns the raw and a one-line description of what happened.
    """
    if np.isclose(raw.info["sfreq"], sfreq):
        return raw, f"resample: skipped (already {sfreq:g} Hz)"
    old = raw.info["sfreq"]
    raw.resample(sfreq, verbose=verbose)
    return raw, f"resample: {old:g} Hz -> {sfreq:g} Hz"


def set_reference(raw, *, reference: str, verbose: bool | str | None = "ERROR"):
    """Declare (``"keep"``) or apply (``"average"``) the EEG reference, in place.

    MNE's regression refuses EEG whose reference is unknown; ``"keep"`` tells it the data already
    has a proper one (DEAP's files are average-referenced), ``"average"`` re-references to the
    common average.
    """
    import mne

    if not any(t == "eeg" for t in raw.get_channel_types()):
        return raw, "reference: skipped (no EEG)"
    if reference == "keep":
        mne.set_eeg_reference(raw, ref_channels=[], copy=False, verbose=verbose)
        return raw, "reference: kept as recorded"
    mne.set_eeg_reference(raw, ref_channels="average", copy=False, verbose=verbose)
    return raw, "reference: common average"


def bandpass(
    raw,
    *,
    l_freq: float | None,
    h_freq: float | None,
    already_filtered: bool,
    verbose: bool | str | None = "ERROR",
):
    """Band-pass EEG and EOG channels in place (MNE's default zero-phase FIR).

    EOG is filtered with the same band as EEG so that the regression in :func:`remove_eog` relates
    signals of the same frequency content.  Other channels (GSR, respiration, temperature, …) are
    slow signals that a 4 Hz high-pass would erase; they are left as they are.
    """
    if already_filtered:
        return raw, "band-pass: skipped (input already band-passed by the dataset's preprocessing)"
    if l_freq is None and h_freq is None:
        return raw, "band-pass: skipped (no band configured)"
    picks = [i for i, t in enumerate(raw.get_channel_types()) if t in ("eeg", "eog")]
    if not picks:
        return raw, "band-pass: skipped (no EEG/EOG channel)"
    raw.filter(l_freq, h_freq, picks=picks, verbose=verbose)
    return raw, f"band-pass: {l_freq}-{h_freq} Hz on {len(picks)} EEG/EOG channels"


def remove_eog(raw, *, verbose: bool | str | None = "ERROR"):
    """Subtract the EOG channels' contribution from every EEG channel, in place.

    Fits one weight per (EEG, EOG) channel pair by least squares over the whole trial
    (:class:`mne.preprocessing.EOGRegression`) and subtracts ``coef @ eog`` from the EEG.

    Returns
    -------
    raw, step description, coef (n_eeg, n_eog) or None when the record has no EOG channel.
    """
    from mne.preprocessing import EOGRegression

    types = raw.get_channel_types()
    if "eog" not in types:
        return raw, "EOG regression: skipped (no EOG channel)", None
    if "eeg" not in types:
        return raw, "EOG regression: skipped (no EEG channel)", None
    model = EOGRegression(picks="eeg", picks_artifact="eog", proj=False)
    model.fit(raw)
    model.apply(raw, copy=False)
    n_eeg, n_eog = model.coef_.shape
    return raw, f"EOG regression: {n_eog} EOG channels regressed out of {n_eeg} EEG", model.coef_


def eog_correlations(raw, cleaned, coef, *, eog: str = "vEOG", channels=("Fp1", "Fp2", "AF3", "AF4", "Oz")):
    """How much of each EEG channel followed an EOG channel, before and after :func:`remove_eog`.

    Parameters
    ----------
    raw, cleaned : mne.io.Raw
        The trial before and after the regression.
    coef : np.ndarray, shape (n_eeg, n_eog)
        The regression's weights (:func:`remove_eog`'s third output), rows in the order of the
        EEG channels of ``raw``.
    eog : str
        The EOG channel to correlate with.
    channels : sequence of str
        EEG channels, one row each.

    Returns
    -------
    DataFrame
        Index ``channel``; Pearson correlation with ``eog`` over the whole trial before and after,
        and the channel's weight on each EOG channel (columns ``"<EOG> weight"``).
    """
    import pandas as pd

    if coef is None:
        raise ValueError("no regression weights: the recording has no EOG channel, so remove_eog skipped it")
    types = raw.get_channel_types()
    eeg = [n for n, t in zip(raw.ch_names, types) if t == "eeg"]
    eogs = [n for n, t in zip(raw.ch_names, types) if t == "eog"]
    ref = raw.get_data(picks=[eog])[0]
    rows = []
    for ch in channels:
        before = np.corrcoef(raw.get_data(picks=[ch])[0], ref)[0, 1]
        after = np.corrcoef(cleaned.get_data(picks=[ch])[0], ref)[0, 1]
        weights = {f"{e} weight": float(w) for e, w in zip(eogs, coef[eeg.index(ch)])}
        rows.append({"channel": ch, f"corr. with {eog} before": before, "after": after, **weights})
    return pd.DataFrame(rows).set_index("channel")


def default_channels(dataset: str, ch_names: list[str]) -> tuple[str, ...]:
    """The papers' channel set for ``dataset`` (DEAP: all 40; MAHNOB-HCI: 38, see module doc)."""
    if dataset == "mahnob":
        return MAHNOB_DEFAULT_CHANNELS
    return tuple(ch_names)


def select_channels(
    data: np.ndarray, ch_names: list[str], ch_types: list[str], *, keep: tuple[str, ...], source=None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Keep the channels ``keep`` in that order. ``data`` is (n_channels, n_samples).

    Raises
    ------
    ValueError
        Naming the missing channels and the record's file.
    """
    missing = [c for c in keep if c not in ch_names]
    if missing:
        raise ValueError(
            f"{source or 'record'}: channels {missing} are not in the recording "
            f"(it has {list(ch_names)}); set PhysioConfig(channels=...) to ones it has"
        )
    idx = [ch_names.index(c) for c in keep]
    return data[idx], [ch_names[i] for i in idx], [ch_types[i] for i in idx]


def window_starts(n_samples: int, *, win: int, stride: int) -> np.ndarray:
    """Start samples of every whole window: ``floor((n_samples - win) / stride) + 1`` of them."""
    if n_samples < win:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - win + 1, stride, dtype=np.int64)


def cut_windows(signal: np.ndarray, *, win: int, stride: int) -> np.ndarray:
    """Cut (C, N) into (n_windows, C, win); an incomplete last window is dropped."""
    starts = window_starts(signal.shape[1], win=win, stride=stride)
    idx = starts[:, None] + np.arange(win)[None, :]  # (n_windows, win)
    return signal[:, idx].transpose(1, 0, 2)  # (C, n_windows, win) -> (n_windows, C, win)


def baseline_template(pre: np.ndarray, *, win: int) -> np.ndarray:
    """The mean baseline second: average of the whole ``win``-sample windows of ``pre``.

    ``pre`` is the pre-stimulus signal (C, N_pre); windows are taken back from its end (the
    stimulus onset), so a partial window at the very start is the one left out.  Returns (C, win).
    """
    n = pre.shape[1] // win
    if n == 0:
        raise ValueError(f"the pre-stimulus period ({pre.shape[1]} samples) is shorter than one "
                         f"window ({win} samples); set PhysioConfig(baseline=False)")
    tail = pre[:, pre.shape[1] - n * win:]  # (C, n * win)
    return tail.reshape(pre.shape[0], n, win).mean(axis=1)  # (C, n, win) -> (C, win)


def baseline_correct(windows: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Subtract the (C, L) template from every window of (n_windows, C, L)."""
    return windows - template[None]


def baseline_level(pre: np.ndarray) -> np.ndarray:
    """Each channel's mean over the pre-stimulus signal (C, N_pre): shape (C,)."""
    if pre.shape[1] == 0:
        raise ValueError("there is no pre-stimulus signal to take a baseline level from; "
                         "set PhysioConfig(baseline=False)")
    return pre.mean(axis=1)


def normalize(windows: np.ndarray, pre: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Divide each channel of (n_windows, C, L) by its std over the pre-stimulus signal (C, N_pre).

    Channels that are flat during the baseline (std below ``eps``) are left unscaled.
    """
    std = pre.std(axis=1)  # (C,)
    std = np.where(std < eps, 1.0, std)
    return windows / std[None, :, None]


# ---------------------------------------------------------------------------------------------
# looking at the result (chapter 02)

# Frequency bands in Hz, upper edge excluded (the usual EEG-emotion bands; ours: gamma stops at the
# 45 Hz edge of the band-pass).
BANDS: dict[str, tuple[float, float]] = {
    "theta": (4.0, 8.0), "alpha": (8.0, 14.0), "beta": (14.0, 31.0), "gamma": (31.0, 45.0),
}  # fmt: skip


def band_power(
    data: np.ndarray, *, sfreq: float, bands: dict[str, tuple[float, float]] | None = None
) -> np.ndarray:
    """Mean power spectral density (Welch, MNE) in each band, per channel.

    ``data`` is (..., n_times), e.g. segments (n_windows, C, L); returns (..., n_bands) in the
    squared unit of ``data`` per Hz, bands in the order of ``bands`` (default :data:`BANDS`).
    """
    from mne.time_frequency import psd_array_welch

    bands = BANDS if bands is None else bands
    psd, freqs = psd_array_welch(np.asarray(data, dtype=np.float64), sfreq=sfreq,
                                 n_fft=min(data.shape[-1], int(sfreq)), verbose="ERROR")  # fmt: skip
    out = [psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) for lo, hi in bands.values()]
    return np.stack(out, axis=-1)  # (..., n_bands)


def eeg_info(ch_names: list[str], *, sfreq: float = 128.0):
    """An :class:`mne.Info` of the EEG channels among ``ch_names`` with electrode positions (for
    topomaps).  Returns ``(info, picks)``: picks index the EEG channels in ``ch_names``.

    DEAP and MAHNOB-HCI were both recorded with a 32-electrode Biosemi ActiveTwo cap
    :cite:`koelstra2012deap,soleymani2012mahnob`, so MNE's ``biosemi32`` template positions are used.
    """
    import mne

    montage = mne.channels.make_standard_montage("biosemi32")
    picks = [i for i, c in enumerate(ch_names) if c in montage.ch_names]
    info = mne.create_info([ch_names[i] for i in picks], sfreq, "eeg")
    info.set_montage(montage)
    return info, picks


# ---------------------------------------------------------------------------------------------
# the chain


def _resolve(config: PhysioConfig, record: Record) -> tuple[bool, str]:
    already = config.already_filtered
    if already is None:
        already = record.dataset == "deap"
    reference = config.eeg_reference
    if reference is None:
        reference = "keep" if record.dataset == "deap" else "average"
    return bool(already), reference


def preprocess_record(
    record: Record, config: PhysioConfig | None = None, *, verbose: bool | str | None = None
) -> PhysioSegments:
    """Run the whole physiological chain on one trial (see the module docstring for the steps).

    Parameters
    ----------
    record : Record
        One trial, ``signals`` (n_channels, n_samples) with ``baseline_samples`` of pre-stimulus
        signal at the start.
    config : PhysioConfig
        Settings; the default is the papers'.

    Returns
    -------
    PhysioSegments
        ``data`` (n_windows, n_channels, round(window_s * sfreq)) float32, where n_windows =
        floor((stimulus samples - L) / stride) + 1 at the target rate (DEAP: 60 of (40, 128)).
    """
    config = PhysioConfig() if config is None else config
    with use_log_level(verbose):
        already, reference = _resolve(config, record)
        steps: list[str] = []
        raw = record_to_raw(record)
        raw, s = resample(raw, sfreq=config.sfreq)
        steps.append(s)
        raw, s = set_reference(raw, reference=reference)
        steps.append(s)
        raw, s = bandpass(raw, l_freq=config.l_freq, h_freq=config.h_freq, already_filtered=already)
        steps.append(s)
        coef = None
        if config.eog_regression is None and already:
            s = "EOG regression: skipped (input already cleaned of EOG by the dataset's preprocessing)"
        elif config.eog_regression or config.eog_regression is None:
            raw, s, coef = remove_eog(raw)
        else:
            s = "EOG regression: skipped (disabled in PhysioConfig)"
        steps.append(s)
        sfreq = float(raw.info["sfreq"])
        data = raw_to_array(raw)  # (C_all, N) at the target rate, dataset units
        keep = config.channels or default_channels(record.dataset, list(record.ch_names))
        data, ch_names, ch_types = select_channels(
            data, list(raw.ch_names), raw.get_channel_types(), keep=tuple(keep), source=record.source
        )
        steps.append(f"channels: kept {len(ch_names)}")

        win = int(round(config.window_s * sfreq))
        stride = int(round(config.stride_s * sfreq))
        # the onset moves with the resampling: round to the nearest sample at the new rate
        onset = int(round(record.baseline_samples * sfreq / record.sfreq))
        pre, stim = data[:, :onset], data[:, onset:]
        if config.baseline_s is not None:
            pre = pre[:, max(0, onset - int(round(config.baseline_s * sfreq))):]
        windows = cut_windows(stim, win=win, stride=stride)  # (n_windows, C, win)
        steps.append(f"windows: {windows.shape[0]} x {win} samples, stride {stride}")

        template = None
        if config.baseline is True:
            template = baseline_template(pre, win=win)
            windows = baseline_correct(windows, template)
            steps.append(f"baseline: subtracted the mean of {pre.shape[1] // win} baseline windows")
        elif config.baseline == "mean":
            level = baseline_level(pre)  # (C,)
            template = np.repeat(level[:, None], win, axis=1)  # (C, win): the same value throughout
            windows = baseline_correct(windows, template)
            steps.append(f"baseline: subtracted each channel's mean over {pre.shape[1] / sfreq:g} s of baseline")
        else:
            steps.append("baseline: skipped (disabled in PhysioConfig)")
        if config.normalize == "baseline_std":
            if pre.shape[1] < 2:
                raise ValueError(f"{record.source or 'record'}: no pre-stimulus signal to take "
                                 "normalisation statistics from; set PhysioConfig(normalize=None)")
            windows = normalize(windows, pre)
            steps.append("normalise: divided by the trial's own baseline std per channel")
        logger.debug("%s s%02d t%02d: %s", record.dataset, record.subject, record.trial,
                     "; ".join(steps))
    onsets = window_starts(stim.shape[1], win=win, stride=stride) / sfreq
    return PhysioSegments(
        data=np.ascontiguousarray(windows, dtype=np.float32),
        ch_names=list(ch_names),
        ch_types=list(ch_types),
        sfreq=sfreq,
        onsets_s=onsets.astype(np.float64),
        baseline=None if template is None else template.astype(np.float32),
        steps=steps,
        eog_coef=coef,
    )
