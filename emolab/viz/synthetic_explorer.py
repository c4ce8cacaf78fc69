"""What the synthetic generator's knobs do to the face, the signals and the labels.

Chapter 01 (``notebooks/01_data.ipynb``, section 3) introduces the knobs of
:class:`~emolab.data.synthetic.SyntheticConfig`; this explorer turns five of them and redraws,
in a fraction of a second, without writing any file:

* **face** — one frame of a low- and a high-valence trial (``face_valence`` and the subject's
  ``expressiveness`` set how far the mouth moves);
* **signals** — skin conductance of a calm and an excited trial (``physio_arousal``);
* **fingerprint** — the EEG spectrum at Fz of four trials in the *same* emotional state: with
  ``fingerprint = 0`` they overlap, with more they separate, so a model can tell trials apart by
  something that has nothing to do with emotion;
* **labels** — felt (latent) valence against the rating every trial of the smoke preset gets
  (``label_noise``), and how many binary labels disagree with the felt state.

It calls the generator's own functions (:func:`~emolab.data.synthetic.signals.simulate_physio`,
:class:`~emolab.data.synthetic.face.FaceRenderer`, :func:`~emolab.data.synthetic.design`), so what
it shows is what ``ensure_synthetic`` would write with those knobs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from emolab.data.channels import EEG_CH_NAMES
from emolab.data.synthetic.config import design, make_config, subject_params
from emolab.data.synthetic.face import FaceRenderer
from emolab.data.synthetic.signals import simulate_physio, trial_fingerprint

#: The knobs the explorer turns, with (min, max) of their sliders; defaults are the smoke preset's.
KNOBS = {
    "face_valence": (0.0, 2.0),
    "physio_arousal": (0.0, 2.0),
    "fingerprint": (0.0, 2.0),
    "expressiveness": (0.0, 2.0),
    "label_noise": (0.0, 2.0),
}


def _psd_db(x: np.ndarray, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import welch

    f, p = welch(x, fs=sfreq, nperseg=int(sfreq))
    keep = (f >= 2) & (f <= 45)
    return f[keep], 10 * np.log10(p[keep])


def plot_knobs(*, face_valence: float = 1.0, physio_arousal: float = 1.0, fingerprint: float = 1.0,
               expressiveness: float = 1.0, label_noise: float = 0.5, subject: int = 1, seed: int = 0,
               sfreq: float = 128.0):  # fmt: skip
    """One figure of what the knobs do (see the module docstring); returns the figure.

    ``expressiveness`` replaces the subject's drawn expressiveness factor (1 = average face).
    """
    import matplotlib.pyplot as plt

    cfg = make_config(fmt="deap", preset="smoke", face_valence=face_valence, physio_arousal=physio_arousal,
                      fingerprint=fingerprint, label_noise=label_noise)  # fmt: skip
    sp = replace(subject_params(cfg, seed=seed, subject=subject), expressiveness=float(expressiveness))
    n_pre, n_stim = int(cfg.baseline_s * sfreq), int(8 * sfreq)
    fig = plt.figure(figsize=(12, 6.2))
    grid = fig.add_gridspec(2, 3, height_ratios=[1.1, 1.0])

    renderer = FaceRenderer(cfg, sp)
    t_face = cfg.baseline_s + 4.0  # expressions ramp in over the first 2 s of the stimulus
    for col, valence in enumerate((-0.8, 0.8)):
        fp = trial_fingerprint(cfg, seed=seed, subject=subject, experiment_id=1)
        frame = renderer.render(times_s=np.array([t_face]), valence=valence, arousal=0.0, onset_s=cfg.baseline_s,
                                offset_s=cfg.baseline_s + cfg.trial_s, blinks=np.zeros((0, 2)), fingerprint=fp,
                                experiment_id=1, seed=seed)[0]  # fmt: skip
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(frame)
        ax.set_axis_off()
        ax.set_title(f"face, felt valence {valence:+.1f}", fontsize=10)

    gt = design(cfg, seed=seed)
    ax = fig.add_subplot(grid[0, 2])
    agree = (gt["valence"] >= 0) == (gt["rating_valence"] >= 5)
    ax.scatter(gt["valence"], gt["rating_valence"], s=12, c=np.where(agree, "#4c72b0", "#c44e52"))
    ax.axhline(5, color="k", ls="--", lw=1)
    ax.axvline(0, color="k", ls=":", lw=1)
    ax.set(xlabel="felt valence (latent)", ylabel="valence rating (1-9)", ylim=(0.5, 9.5))
    ax.set_title(f"labels: {(~agree).mean():.0%} of {len(gt)} disagree with the felt state", fontsize=10)

    ax = fig.add_subplot(grid[1, :2])
    t = (np.arange(n_pre + n_stim) - n_pre) / sfreq
    for arousal, color in ((-0.8, "#4c72b0"), (0.8, "#c44e52")):
        sim = simulate_physio(cfg, sp, valence=0.0, arousal=arousal, experiment_id=2, seed=seed, sfreq=sfreq,
                              n_pre=n_pre, n_stim=n_stim)  # fmt: skip
        ax.plot(t, sim.gsr, color=color, lw=1, label=f"felt arousal {arousal:+.1f}")
    ax.axvline(0, color="k", ls=":", lw=1)
    ax.set(xlabel="time from stimulus onset (s)", ylabel="GSR (µS)")
    ax.set_title("signals: skin conductance of a calm and an excited trial", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")

    ax = fig.add_subplot(grid[1, 2])
    fz = EEG_CH_NAMES.index("Fz")
    for eid in range(1, 5):
        sim = simulate_physio(cfg, sp, valence=0.0, arousal=0.0, experiment_id=eid, seed=seed, sfreq=sfreq,
                              n_pre=0, n_stim=n_stim)  # fmt: skip
        ax.plot(*_psd_db(sim.eeg[fz], sfreq), lw=1, label=f"trial {eid}")
    ax.set(xlabel="frequency (Hz)", ylabel="Fz power (dB)")
    ax.set_title("fingerprint: 4 trials, same felt state", fontsize=10)
    ax.legend(fontsize=7)
    knobs = (f"face_valence={face_valence:g}, physio_arousal={physio_arousal:g}, fingerprint={fingerprint:g}, "
             f"expressiveness={expressiveness:g}, label_noise={label_noise:g}")  # fmt: skip
    fig.suptitle(f"Synthetic data with {knobs}", fontsize=11)
    fig.tight_layout()
    return fig


def synthetic_explorer(*, seed: int = 0, subject: int = 1):
    """Sliders for the knobs of :data:`KNOBS` over :func:`plot_knobs`; returns an
    :class:`~emolab.viz.explorer.Explorer` whose default state is the smoke preset's knobs."""
    import ipywidgets as widgets

    from emolab.viz.explorer import Explorer

    defaults = make_config(fmt="deap", preset="smoke")
    controls = {}
    for name, (lo, hi) in KNOBS.items():
        value = 1.0 if name == "expressiveness" else float(getattr(defaults, name))
        controls[name] = widgets.FloatSlider(value=value, min=lo, max=hi, step=0.1, description=name,
                                             continuous_update=False, style={"description_width": "initial"})  # fmt: skip

    def draw(**knobs):
        return plot_knobs(**knobs, subject=subject, seed=seed)

    return Explorer("synthetic knobs", controls, draw, caption="The smoke preset's knobs.")
