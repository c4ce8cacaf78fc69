"""Plots and an explorer for raw recordings (chapter 01, ``notebooks/01_data.ipynb``).

All functions take :class:`emolab.data.Record` objects (any reader's output) and return the
matplotlib figure, so a chapter can add to it or save it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emolab.data.deap import pairing_table  # noqa: F401  (chapter 01 calls it from here)
from emolab.data.record import Record

# Channel groups shown by the figures and the browser; names absent from a record are skipped, so
# the same groups serve DEAP (Plet, GSR) and MAHNOB-HCI (EXG1-3 = ECG, GSR1).
CHANNEL_GROUPS: dict[str, tuple[str, ...]] = {
    "EEG frontal": ("Fp1", "AF3", "F3", "F4", "AF4", "Fp2"),
    "EEG posterior": ("P3", "Pz", "P4", "O1", "Oz", "O2"),
    "EOG": ("vEOG", "hEOG", "EXG5", "EXG4"),
    "EMG": ("zEMG", "tEMG", "EXG6", "EXG7"),
    "GSR": ("GSR", "GSR1"),
    "Respiration": ("Resp",),
    "Heart": ("Plet", "EXG1"),
    "Temperature": ("Temp",),
}
UNITS = {"eeg": "µV", "eog": "µV", "emg": "µV", "ecg": "µV", "misc": "µV", "gsr": "µS",
         "resp": "a.u.", "bio": "a.u.", "temperature": "°C"}  # fmt: skip


def group_channels(record: Record, group: str) -> list[str]:
    """The channels of ``group`` (a key of :data:`CHANNEL_GROUPS`) present in ``record``."""
    if group not in CHANNEL_GROUPS:
        raise KeyError(f"unknown channel group {group!r}; use one of {list(CHANNEL_GROUPS)}")
    return [c for c in CHANNEL_GROUPS[group] if c in record.ch_names]


def long_signals(record: Record, channels: Sequence[str], *, label: str = "", max_points: int = 2000) -> pd.DataFrame:
    """Tidy table (time_s, channel, value, trial) of some channels, decimated to ``max_points``.

    Time 0 is the stimulus onset (the baseline has negative times).
    """
    step = max(1, record.n_samples // max_points)
    t = (np.arange(0, record.n_samples, step) - record.baseline_samples) / record.sfreq
    rows = []
    for ch in channels:
        x = record.signals[record.ch_names.index(ch), ::step]
        rows.append(pd.DataFrame({"time_s": t, "channel": ch, "value": x, "trial": label}))
    return pd.concat(rows, ignore_index=True)


def plot_channel_groups(records: dict[str, Record], *, groups: Sequence[str] | None = None, max_points: int = 1500):
    """One panel per channel group (first channel of the group), one line per record.

    ``records`` maps a legend label (e.g. ``"low arousal"``) to a :class:`Record`; all records
    should come from the same dataset. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    first = next(iter(records.values()))
    groups = [g for g in (groups or CHANNEL_GROUPS) if group_channels(first, g)]
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 1.7 * len(groups)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, group in zip(axes, groups):
        ch = group_channels(first, group)[0]
        data = pd.concat([long_signals(r, [ch], label=k, max_points=max_points) for k, r in records.items()])
        sns.lineplot(data=data, x="time_s", y="value", hue="trial", ax=ax, linewidth=0.7, legend=ax is axes[0])
        unit = UNITS.get(first.ch_types[first.ch_names.index(ch)], "")
        ax.set_ylabel(f"{ch}\n[{unit}]")
        ax.axvline(0.0, color="k", linestyle=":", linewidth=1)
    axes[-1].set_xlabel("time from stimulus onset (s)")
    if axes[0].get_legend() is not None:
        sns.move_legend(axes[0], "upper left", bbox_to_anchor=(1.0, 1.0), title=None)
    fig.tight_layout()
    return fig


def psd_table(record: Record, channels: Sequence[str], *, fmin: float = 1.0, fmax: float = 45.0) -> pd.DataFrame:
    """Welch power spectral density (MNE) of some channels after the baseline, in dB re µV²/Hz.

    Returns a tidy table (freq_hz, channel, power_db).
    """
    from mne.time_frequency import psd_array_welch

    picks = [record.ch_names.index(c) for c in channels]
    x = record.signals[picks, record.baseline_samples :].astype(np.float64)  # (C, n) in µV
    psd, freqs = psd_array_welch(x, sfreq=record.sfreq, fmin=fmin, fmax=fmax,
                                 n_fft=int(2 * record.sfreq), verbose="ERROR")  # fmt: skip
    return pd.DataFrame(
        {"freq_hz": np.tile(freqs, len(channels)), "channel": np.repeat(list(channels), len(freqs)),
         "power_db": 10 * np.log10(psd.ravel())}
    )  # fmt: skip


def plot_psd(record: Record, channels: Sequence[str] = ("O1", "Oz", "O2", "F3", "F4"), *, band=(8.0, 13.0)):
    """PSD of some EEG channels with the alpha band shaded; returns (figure, peak frequency in Hz).

    The peak is the frequency of maximum mean power inside ``band``.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = psd_table(record, channels)
    mean = table.groupby("freq_hz")["power_db"].mean()
    in_band = mean[(mean.index >= band[0]) & (mean.index <= band[1])]
    peak = float(in_band.idxmax())
    fig, ax = plt.subplots(figsize=(7, 3.5))
    sns.lineplot(data=table, x="freq_hz", y="power_db", hue="channel", ax=ax, linewidth=1)
    ax.axvspan(*band, color="tab:orange", alpha=0.15, label="alpha band")
    ax.axvline(peak, color="tab:orange", linestyle="--", linewidth=1)
    ax.set(xlabel="frequency (Hz)", ylabel="power (dB re µV²/Hz)", title=f"alpha peak at {peak:.1f} Hz")
    fig.tight_layout()
    return fig, peak


def plot_rating_distributions(ratings: pd.DataFrame, *, threshold: float = 5.0):
    """Histograms of valence and arousal ratings (1-9) and their joint scatter.

    ``ratings`` needs ``valence`` and ``arousal`` columns (one row per trial); the dashed lines mark
    the high/low threshold (ratings >= ``threshold`` are "high").
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, col in zip(axes, ("valence", "arousal")):
        sns.histplot(ratings[col], bins=np.arange(1, 9.5, 0.5), ax=ax)
        ax.axvline(threshold, color="k", linestyle="--")
        high = (ratings[col] >= threshold).mean()
        ax.set_title(f"{col}: {high:.0%} high")
    sns.scatterplot(data=ratings, x="valence", y="arousal", ax=axes[2], s=20)
    axes[2].axvline(threshold, color="k", linestyle="--")
    axes[2].axhline(threshold, color="k", linestyle="--")
    axes[2].set(xlim=(0.5, 9.5), ylim=(0.5, 9.5), title="the valence-arousal plane")
    fig.tight_layout()
    return fig


def read_frames(path: str | Path, times_s: Sequence[float]) -> np.ndarray:
    """Frames of a video at some times (s from its start), (n, H, W, 3) uint8 RGB."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: OpenCV cannot open this video; check the file exists and is an AVI")
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        frames = []
        for t in times_s:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(round(t * fps)))
            ok, bgr = cap.read()
            if not ok:
                raise OSError(f"{path}: no frame at {t:.2f} s (the video is {cap.get(cv2.CAP_PROP_FRAME_COUNT) / fps:.1f} s)")
            frames.append(bgr[..., ::-1])
    finally:
        cap.release()
    return np.stack(frames)


def plot_frame_strip(rows: dict[str, np.ndarray], *, times_s: Sequence[float] | None = None):
    """Rows of video frames (``label -> (n, H, W, 3) uint8``), one row per label."""
    import matplotlib.pyplot as plt

    n = max(len(f) for f in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.9 * n, 1.6 * len(rows)), squeeze=False)
    for r, (label, frames) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(frames):
                ax.imshow(frames[c])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
            if times_s is not None and r == len(rows) - 1:
                ax.set_xlabel(f"{times_s[c]:.0f} s", fontsize=8)
    fig.tight_layout()
    return fig


def record_browser(records: Sequence[Record], *, max_points: int = 1500):
    """An ipywidgets explorer: pick subject, trial and channel group; the plot follows.

    Returns the widget box; ``box.update()`` redraws with the current selection, so the explorer
    also executes headless (papermill, CI), where nobody moves the sliders.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    by_key = {(r.subject, r.trial): r for r in records}
    subjects = sorted({r.subject for r in records})
    subject = widgets.Dropdown(options=subjects, value=subjects[0], description="subject")
    trial = widgets.Dropdown(description="trial")
    group = widgets.Dropdown(options=list(CHANNEL_GROUPS), value="EEG frontal", description="channels")
    out = widgets.Output()

    def _trials(*_):
        options = sorted(t for s, t in by_key if s == subject.value)
        keep = trial.value if trial.value in options else options[0]
        trial.options = options
        trial.value = keep  # ipywidgets leaves the value unset when the options change

    def update(*_):
        rec = by_key.get((subject.value, trial.value))
        out.clear_output(wait=True)
        with out:
            if rec is None:
                return
            if not group_channels(rec, group.value):
                print(f"no {group.value} channels in this recording")
                return
            fig = plot_record(rec, group.value, max_points=max_points)
            display(fig)
            plt.close(fig)

    subject.observe(_trials, names="value")
    for w in (subject, trial, group):
        w.observe(update, names="value")
    _trials()
    box = widgets.VBox([widgets.HBox([subject, trial, group]), out])
    box.update = update  # headless use: draw once without a front end
    box.selection = lambda: (subject.value, trial.value, group.value)
    box.controls = {"subject": subject, "trial": trial, "group": group}
    update()
    return box


def folder_tree(root: str | Path, *, max_entries: int = 4, max_depth: int = 3) -> str:
    """A text drawing of a dataset folder, listing at most ``max_entries`` items per folder."""
    root = Path(root)
    lines = [f"{root.name}/"]

    def walk(folder: Path, prefix: str, depth: int) -> None:
        items = sorted(folder.iterdir(), key=lambda p: (p.is_file(), len(p.name), p.name))
        items = [p for p in items if not p.name.startswith(".")]
        for i, p in enumerate(items[:max_entries]):
            last = i == len(items) - 1 or i == max_entries - 1 and len(items) <= max_entries
            lines.append(f"{prefix}{'└── ' if last else '├── '}{p.name}{'/' if p.is_dir() else ''}")
            if p.is_dir() and depth < max_depth:
                walk(p, prefix + ("    " if last else "│   "), depth + 1)
        if len(items) > max_entries:
            lines.append(f"{prefix}└── … {len(items) - max_entries} more")

    walk(root, "", 1)
    return "\n".join(lines)


def plot_pairing(records: Sequence[Record], pairing: pd.DataFrame, *, n_frames: int = 5):
    """Frames of a high-valence row's correct video (top) and of the video the naive pairing
    attaches to it (bottom), choosing a row where the two labels disagree when there is one.

    Chapter 01, section 2; ``pairing`` is :func:`pairing_table`.  Returns the figure, or
    ``None`` when the records have no face videos.
    """
    by_trial = {(r.subject, r.trial): r for r in records}
    cand = pairing[pairing["has_video"]]
    if cand.empty:
        return None
    mismatch = cand[(cand.valence >= 5) & (cand.valence_of_naive_video < 5)]
    pick = mismatch.sort_values("valence_of_naive_video").iloc[0] if len(mismatch) else cand.iloc[0]
    right = by_trial[(int(pick.subject), int(pick.trial))]
    wrong = by_trial[(int(pick.subject), int(pick.experiment_id))]
    times = np.linspace(2, right.duration_s - 2, n_frames)
    rows = {
        f"paired by Trial\n(valence {right.ratings['valence']:.1f})": read_frames(right.video_path, times),
        f"paired by row\n(video of valence {wrong.ratings['valence']:.1f})": read_frames(wrong.video_path, times),
    }
    return plot_frame_strip(rows, times_s=times)


def plot_trial_frames(records: dict[str, Record], times_s: Sequence[float]):
    """A frame strip with one row per labelled record (``label -> Record`` with a video)."""
    rows = {label: read_frames(r.video_path, times_s) for label, r in records.items()}
    return plot_frame_strip(rows, times_s=times_s)


def plot_record(record: Record, group: str = "EEG frontal", *, max_points: int = 1500):
    """The channels of one group of one record over time (the record explorer's figure)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(10, 3))
    chans = group_channels(record, group)
    if not chans:
        ax.text(0.5, 0.5, f"no {group} channels in this recording", ha="center", transform=ax.transAxes)
        return fig
    data = long_signals(record, chans, max_points=max_points)
    sns.lineplot(data=data, x="time_s", y="value", hue="channel", ax=ax, linewidth=0.7)
    ax.axvline(0.0, color="k", linestyle=":")
    ax.set(xlabel="time from stimulus onset (s)",
           title=f"subject {record.subject}, trial {record.trial} (video {record.experiment_id}): "
                 f"valence {record.ratings['valence']:.1f}, arousal {record.ratings['arousal']:.1f}")  # fmt: skip
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def record_explorer(records: Sequence[Record], *, max_points: int = 1500):
    """Pick a subject, a trial and a channel group (chapter 01, section 8).

    Like :func:`record_browser`, as an :class:`~emolab.viz.explorer.Explorer`: live in
    JupyterLab, and a static figure of its first selection in the built book.
    """
    import ipywidgets as widgets

    from emolab.viz.explorer import Explorer

    by_key = {(r.subject, r.trial): r for r in records}
    subjects = sorted({r.subject for r in records})
    trials = sorted({t for _, t in by_key})
    controls = {
        "subject": widgets.Dropdown(options=subjects, value=subjects[0], description="subject"),
        "trial": widgets.Dropdown(options=trials, value=trials[0], description="trial"),
        "group": widgets.Dropdown(options=list(CHANNEL_GROUPS), value="EEG frontal", description="channels"),
    }

    def draw(subject, trial, group):
        import matplotlib.pyplot as plt

        rec = by_key.get((subject, trial))
        if rec is None:
            fig, ax = plt.subplots(figsize=(10, 1))
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"subject {subject} has no trial {trial}", ha="center")
            return fig
        return plot_record(rec, group, max_points=max_points)

    return Explorer("record", controls, draw, caption="The first trial of the first subject.")


def plot_blink(raw, cleaned, *, eog: str = "vEOG", channels: Sequence[str] = ("Fp1", "Fp2"), half_window_s: float = 1.5):
    """The largest blink of a trial on the EOG channel and on EEG channels, before and after EOG regression.

    Parameters
    ----------
    raw, cleaned : mne.io.Raw
        The trial as read (volts) and after :func:`emolab.preprocess.physio.remove_eog`.
    eog : str
        The channel whose largest value marks the blink (DEAP: ``"vEOG"``).
    channels : sequence of str
        EEG channels to show beside it.
    half_window_s : float
        Seconds shown on each side of the blink's peak.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per channel, in µV against the time from the blink's peak (s).
    """
    import matplotlib.pyplot as plt

    if eog not in raw.ch_names:
        raise ValueError(f"the recording has no {eog!r} channel (it has {raw.ch_names}); MAHNOB-HCI records no EOG")
    sfreq = raw.info["sfreq"]
    peak = int(np.argmax(raw.get_data(picks=[eog])[0]))
    half = int(half_window_s * sfreq)
    span = slice(max(0, peak - half), peak + half)
    t = (np.arange(raw.n_times)[span] - peak) / sfreq
    fig, axes = plt.subplots(1, 1 + len(channels), figsize=(3.7 * (1 + len(channels)), 3), sharex=True)
    for ax, ch in zip(axes, [eog, *channels]):
        ax.plot(t, raw.get_data(picks=[ch])[0, span] * 1e6, label="before")
        if ch != eog:
            ax.plot(t, cleaned.get_data(picks=[ch])[0, span] * 1e6, label="after")
        ax.set(title=ch, xlabel="time from blink peak (s)", ylabel="µV")
    axes[1 if len(axes) > 1 else 0].legend()
    return fig
