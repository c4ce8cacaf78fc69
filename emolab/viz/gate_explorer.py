"""GBV-Net's learned gate, one sample at a time, next to the face crops and the signals it gated.

Chapter 07 (``notebooks/07_fusion_gated.ipynb``) trains GBV-Net :cite:p:`yu2025gbvnet`, whose
head multiplies the concatenated features ``z = [f_face, f_bio]`` by a gate
``g = sigmoid(MLP(z))``.  :func:`~emolab.analysis.gates.collect_gates` keeps ``g`` for every
segment; this explorer picks one segment and shows what went in (the face frames of that second
and some of its physiological channels) and what the gate let through (every gate value, face
part and bio part, with their means and the model's prediction).

>>> from emolab.viz.gate_explorer import gate_explorer
>>> gate_explorer(model, dataset, gates=gv)          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emolab.data.channels import DEAP_CH_NAMES
from emolab.viz.gates import MODALITY_COLORS

#: Physiological channels drawn when the input has DEAP's 40 channels.
DEAP_CHANNELS = ("Fz", "vEOG", "tEMG", "GSR", "Plet")


def _channel_picks(n_chans: int, channels: Sequence[str] | None) -> list[tuple[str, int]]:
    names = DEAP_CH_NAMES if n_chans == len(DEAP_CH_NAMES) else [f"channel {i}" for i in range(n_chans)]
    wanted = channels or (DEAP_CHANNELS if n_chans == len(DEAP_CH_NAMES) else names[: min(4, n_chans)])
    return [(n, list(names).index(n)) for n in wanted if n in names]


def plot_gate_sample(gates, dataset, sample: int = 0, *, channels: Sequence[str] | None = None):
    """One segment: its face frames, a few of its channels and its gate; returns the figure.

    Parameters
    ----------
    gates : emolab.analysis.GateValues
        :func:`~emolab.analysis.gates.collect_gates` over ``dataset`` (same order).
    dataset : Dataset
        Items with ``"face"`` ``(T, 3, S, S)`` in [0, 1] and ``"bio"`` ``(C, L)``.
    sample : int
        Position in ``dataset`` (and row of ``gates.samples``).
    channels : sequence of str, optional
        Channel names to draw (DEAP names for 40-channel input).
    """
    import matplotlib.pyplot as plt

    item, row = dataset[sample], gates.samples.iloc[sample]
    face = np.asarray(item["face"]) if "face" in item else None
    n_frames = 0 if face is None else face.shape[0]
    fig = plt.figure(figsize=(12, 6.4))
    grid = fig.add_gridspec(3, max(n_frames, 1), height_ratios=[1.0, 1.1, 1.0])
    for k in range(n_frames):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(np.clip(face[k].transpose(1, 2, 0), 0, 1))  # (3, S, S) -> (S, S, 3)
        ax.set_axis_off()
        ax.set_title(f"frame {k}", fontsize=8)
    if "has_face" in item and not item["has_face"]:
        fig.text(0.5, 0.9, "no face detected in this second: the face input is all zeros", ha="center")

    ax = fig.add_subplot(grid[1, :])
    if "bio" in item:
        bio = np.asarray(item["bio"])
        t = np.arange(bio.shape[1]) / bio.shape[1]
        for j, (name, idx) in enumerate(_channel_picks(bio.shape[0], channels)):
            x = bio[idx]
            ax.plot(t, j + 0.4 * (x - x.mean()) / (x.std() + 1e-9), lw=0.8, color=MODALITY_COLORS["bio"])
            ax.text(-0.01, j, name, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
        ax.set_xlabel("time within the one-second segment (s, each channel scaled to its own spread)")

    ax = fig.add_subplot(grid[2, :])
    g = gates.gates[sample]
    for m, sl in gates.slices.items():
        x = np.arange(sl.start, sl.stop)
        ax.bar(x, g[sl], width=1.0, color=MODALITY_COLORS.get(m, "#7f7f7f"), label=f"{m}: mean {g[sl].mean():.2f}")
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.set(xlim=(-0.5, len(g) - 0.5), ylim=(0, 1), xlabel="feature of z = [f_face, f_bio]", ylabel="gate")
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    meta = ", ".join(f"{k} {int(row[k])}" for k in ("subject", "trial", "segment") if k in row)
    fig.suptitle(f"Sample {sample} ({meta}): true class {int(row['y_true'])}, "
                 f"P(high) = {float(row['y_score']):.2f}", fontsize=11)  # fmt: skip
    fig.tight_layout()
    return fig


def gate_explorer(model=None, dataset=None, *, gates=None, task: str = "valence",
                  channels: Sequence[str] | None = None):  # fmt: skip
    """Slide through the samples of ``dataset``: face crops, signals and the learned gate.

    Parameters
    ----------
    model : MultimodalModel, optional
        A gated model; its gate is collected over ``dataset`` unless ``gates`` is given.
    dataset : Dataset
        The segments to browse (a ``Subset`` works).
    gates : GateValues, optional
        Already collected over ``dataset`` (saves a pass over the data).
    task : str
        Which label is the true class (when the gate is collected here).

    Returns an :class:`~emolab.viz.explorer.Explorer`; its default state is sample 0.
    """
    import ipywidgets as widgets

    from emolab.viz.explorer import Explorer

    if dataset is None:
        raise ValueError("gate_explorer needs the dataset whose segments the gate was collected on")
    if gates is None:
        if model is None:
            raise ValueError("pass a gated model or the GateValues collected on the dataset")
        from emolab.analysis.gates import collect_gates

        gates = collect_gates(model, dataset, task=task)
    if len(gates.samples) != len(dataset):
        raise ValueError(f"the gate has {len(gates.samples)} samples but the dataset {len(dataset)}: "
                         "collect it on this very dataset")  # fmt: skip
    controls = {"sample": widgets.IntSlider(value=0, min=0, max=len(dataset) - 1, description="sample")}

    def draw(sample):
        return plot_gate_sample(gates, dataset, sample, channels=channels)

    return Explorer("gate", controls, draw, caption="The first segment of the dataset.")
