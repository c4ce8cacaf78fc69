"""The record type every dataset reader yields (one trial of one subject), the checks every record
passes before it reaches the segment store, and :class:`Skip`, what a reader left out and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: The self-assessment scale of DEAP and MAHNOB-HCI (SAM ratings, 1-9).
RATING_SCALE: tuple[float, float] = (1.0, 9.0)
#: Ratings that are on :data:`RATING_SCALE` (MAHNOB's ``emotion`` is a category code, not a rating).
SCALED_RATINGS: tuple[str, ...] = ("valence", "arousal", "dominance", "liking", "predictability")
#: The two emotion dimensions every task of the package classifies (high/low).
TASKS: tuple[str, ...] = ("valence", "arousal")
#: The two modalities of a recording, in the order models and stores list them: the face video
#: and the physiological ("bio") signals.
MODALITIES: tuple[str, ...] = ("face", "bio")


class RecordError(ValueError):
    """A record whose content cannot be right: non-finite samples, a rating off the 1-9 scale.

    The message names the file, the trial and the channel or rating, and says how to fix it.
    """


@dataclass(frozen=True)
class Skip:
    """Something a reader or a store build went on without, and why (logged and recorded).

    Attributes
    ----------
    path : Path
        The file (or folder) concerned.
    what : str
        What was left out, e.g. ``"face video of subject 2, trial 3"`` or ``"session 11"``.
    reason : str
        Why, in a few words, with the fix when there is one.
    """

    path: Path
    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what} skipped: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "what": self.what, "reason": self.reason}


def first_nonfinite(signals: np.ndarray) -> tuple[int, int, int] | None:
    """``(channel, sample, count)`` of the first non-finite value of a (C, N) array, or ``None``."""
    bad = ~np.isfinite(signals)
    if not bad.any():
        return None
    ch, sample = np.argwhere(bad)[0]
    return int(ch), int(sample), int(bad.sum())


def check_rating(value, *, name: str, where: str) -> float:
    """``value`` as a float on the 1-9 scale, or :class:`RecordError` naming ``where`` and ``name``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{where}: rating {name}={value!r} is not a number; fix the value "
                          "(DEAP and MAHNOB-HCI ratings are numbers on the 1-9 scale)") from None  # fmt: skip
    lo, hi = RATING_SCALE
    if not (lo <= x <= hi):  # also False for NaN
        raise RecordError(f"{where}: rating {name}={value!r} is outside the {lo:g}-{hi:g} scale; "
                          "fix the value or leave this trial out")  # fmt: skip
    return x


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
    def where(self) -> str:
        """``"<source>: subject S, trial T"`` for messages."""
        return (f"{self.source or self.dataset}: subject {self.subject}, trial {self.trial} "
                f"(experiment_id {self.experiment_id})")  # fmt: skip

    def validate(self) -> Record:
        """Check what no reader may hand on and return ``self``.

        Checked: ``signals`` is a floating-point (C, N) array with only finite values, ``N`` is
        more than ``baseline_samples``, ``sfreq`` is positive and finite, ``valence`` and
        ``arousal`` are present, and every rating of :data:`SCALED_RATINGS` is on the 1-9 scale.

        Raises
        ------
        RecordError
            Naming the file, the subject and trial, and the channel (name and index, first bad
            sample) or the rating.
        """
        if not np.issubdtype(self.signals.dtype, np.floating):
            raise RecordError(f"{self.where}: signals have dtype {self.signals.dtype}, expected floats")
        bad = first_nonfinite(self.signals)
        if bad is not None:
            ch, sample, count = bad
            raise RecordError(
                f"{self.where}: channel {self.ch_names[ch]} (index {ch}) has a non-finite value "
                f"({self.signals[ch, sample]}) at sample {sample} ({count} non-finite value(s) in "
                "this trial); copy the file again from the dataset archive, or leave this "
                "subject out"
            )
        if not (np.isfinite(self.sfreq) and self.sfreq > 0):
            raise RecordError(f"{self.where}: sampling frequency {self.sfreq} is not a positive number")
        if not 0 <= self.baseline_samples < self.n_samples:
            raise RecordError(f"{self.where}: {self.n_samples} samples, not more than the "
                              f"{self.baseline_samples} baseline samples")  # fmt: skip
        for name in ("valence", "arousal"):
            if name not in self.ratings:
                raise RecordError(f"{self.where}: no {name} rating; the reader must only yield rated trials")
        for name, value in self.ratings.items():
            if name in SCALED_RATINGS:
                check_rating(value, name=name, where=self.where)
        return self

    def input_files(self) -> list[Path]:
        """The files this record was read from: ``source``, ``video_path`` and any files the reader
        listed in ``extra["inputs"]`` (e.g. DEAP's ratings csv, MAHNOB's session.xml)."""
        paths = [self.source, self.video_path, *self.extra.get("inputs", ())]
        out: list[Path] = []
        for p in paths:
            if p is not None and Path(p) not in out:
                out.append(Path(p))
        return out

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
