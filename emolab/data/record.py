"""The record type every dataset reader yields: one trial of one subject."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Record:
    """One trial of one subject, as read from disk (nothing filtered, nothing cut).

    Attributes
    ----------
    dataset : str
        ``"deap"`` or ``"mahnob"``.
    subject : int
        Participant number as the dataset numbers it (DEAP: 1-32).
    trial : int
        Presentation order of the trial for this subject, 1-based (DEAP's ``Trial`` column; for
        MAHNOB the order of the subject's sessions).
    experiment_id : int
        DEAP: the video id (``Experiment_id``, row + 1 of the ``.dat`` arrays).
        MAHNOB: the session id (the folder name under ``Sessions/``).
    signals : np.ndarray, float32, shape (n_channels, n_samples)
        The recording, in the dataset's units, including ``baseline_samples`` of pre-stimulus
        signal at the start.
    sfreq : float
        Sampling frequency in Hz.
    ch_names, ch_types : list of str
        Channel names and MNE channel types (``"eeg"``, ``"eog"``, ``"emg"``, ``"gsr"``, …).
    baseline_samples : int
        Number of leading samples recorded before the stimulus (DEAP: 384 = 3 s at 128 Hz).
    ratings : dict of str to float
        Self-assessment ratings on the 1-9 scale; at least ``"valence"`` and ``"arousal"``.
    video_path : Path or None
        The face video of this trial, or ``None`` when the dataset has none for it.
    source : Path or None
        The file the signals were read from (used in error messages).
    video_offset_s : float
        Time of the stimulus onset inside the video, in seconds (DEAP: 0, the videos start at the
        stimulus; MAHNOB: where the session video reaches the stimulus).
    """

    dataset: str
    subject: int
    trial: int
    experiment_id: int
    signals: np.ndarray
    sfreq: float
    ch_names: list[str]
    ch_types: list[str]
    baseline_samples: int
    ratings: dict[str, float]
    video_path: Path | None = None
    source: Path | None = None
    video_offset_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.signals.ndim != 2 or self.signals.shape[0] != len(self.ch_names):
            raise ValueError(
                f"{self.source or self.dataset}: signals must be (n_channels={len(self.ch_names)}, "
                f"n_samples), got shape {self.signals.shape}"
            )
        if len(self.ch_types) != len(self.ch_names):
            raise ValueError("ch_types and ch_names must have the same length")

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[1])

    @property
    def duration_s(self) -> float:
        """Length of the stimulus part (baseline excluded), in seconds."""
        return (self.n_samples - self.baseline_samples) / self.sfreq

    def to_raw(self, verbose: bool | str | None = "ERROR"):
        """Return the signals as an :class:`mne.io.RawArray` with the channel types set.

        DEAP and MAHNOB store EEG in microvolts; MNE expects volts, so EEG/EOG/EMG/ECG channels are
        scaled by 1e-6 here (and back by :func:`emolab.preprocess.physio` when it returns arrays).
        """
        import mne

        info = mne.create_info(list(self.ch_names), self.sfreq, list(self.ch_types), verbose=verbose)
        scale = np.array(
            [1e-6 if t in ("eeg", "eog", "emg", "ecg") else 1.0 for t in self.ch_types]
        )[:, None]
        return mne.io.RawArray(self.signals.astype(np.float64) * scale, info, verbose=verbose)
