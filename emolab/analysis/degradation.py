"""A trained fusion model's accuracy when one modality is missing or degraded (chapter 07).

Works for any :class:`~emolab.models.MultimodalModel` (concatenation, gated, late …):

* :class:`Degradation` — one way of damaging a modality at test time: missing (all zeros, as
  the segment store hands a fusion model a window without a detected face), Gaussian noise at a
  given signal-to-noise ratio, Gaussian blur (:func:`emolab.train.augment.gaussian_blur`, the
  blur of the training augmentations with a kernel of ``2 * ceil(3 * sigma) + 1`` taps) or an
  occluding patch for faces; :func:`default_degradations` lists chapter 07's conditions.
* :func:`evaluate_degraded` scores a model condition by condition (and, for a gated model, the
  mean gate of each modality, :func:`emolab.analysis.gates.gate_slices`);
  :func:`evaluate_cells_degraded` does it for every cell of a sweep on its own test fold, and
  :func:`pool_degraded` pools those rows over cells.

Batches are fed to the model as the trainer feeds them
(:func:`~emolab.train.trainer.model_inputs`); the model runs in evaluation mode, without
gradients, on the device it is on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from emolab._logging import logger, use_log_level
from emolab.analysis.gates import _loader, _meta_columns, _model_device, _targets, gate_slices, load_cell_model
from emolab.models.fusion import GatedFusion
from emolab.train.augment import gaussian_blur
from emolab.train.metrics import binary_metrics
from emolab.train.trainer import model_inputs

#: Degradation kinds and the modalities each applies to.
DEGRADATION_KINDS = {
    "clean": ("face", "bio", "none"),
    "missing": ("face", "bio"),
    "noise": ("face", "bio"),
    "blur": ("face",),
    "occlusion": ("face",),
}


@dataclass(frozen=True)
class Degradation:
    """One way of damaging a modality at test time.

    Attributes
    ----------
    modality : {"face", "bio", "none"}
        What is damaged (``"none"`` only with ``kind="clean"``).
    kind : {"clean", "missing", "noise", "blur", "occlusion"}
        ``"clean"``: nothing changes (the reference); ``"missing"``: the modality is replaced by
        zeros (how the segment store presents a window without a detected face); ``"noise"``:
        additive Gaussian noise at ``level`` dB signal-to-noise ratio, the signal power being
        the variance of each channel of each segment (bio) or of each colour plane of each frame
        (face; pixels are clipped back to [0, 1]); ``"blur"`` (face): Gaussian blur with
        standard deviation ``level`` pixels; ``"occlusion"`` (face): a square patch covering the
        fraction ``level`` of the crop, at a random place drawn once per clip, set to mid-grey.
    level : float
        SNR in dB (lower = noisier), blur sigma in pixels, or occluded area fraction in (0, 1];
        unused for ``"clean"`` and ``"missing"``.
    """

    modality: str = "none"
    kind: str = "clean"
    level: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DEGRADATION_KINDS:
            raise ValueError(f"unknown degradation kind {self.kind!r}; use one of {sorted(DEGRADATION_KINDS)}")
        if self.modality not in DEGRADATION_KINDS[self.kind]:
            raise ValueError(
                f"degradation {self.kind!r} applies to {DEGRADATION_KINDS[self.kind]}, not {self.modality!r}"
            )
        if self.kind == "blur" and self.level <= 0:
            raise ValueError(f"blur needs a positive sigma in pixels, got level={self.level}")
        if self.kind == "occlusion" and not 0 < self.level <= 1:
            raise ValueError(f"occlusion needs an area fraction in (0, 1], got level={self.level}")

    @property
    def name(self) -> str:
        """Short label: ``"clean"``, ``"bio missing"``, ``"face noise 0 dB"``, ``"face blur 2 px"`` …"""
        if self.kind == "clean":
            return "clean"
        if self.kind == "missing":
            return f"{self.modality} missing"
        unit = {"noise": " dB", "blur": " px", "occlusion": ""}[self.kind]
        level = f"{self.level:g}" if self.kind != "occlusion" else f"{100 * self.level:g} %"
        return f"{self.modality} {self.kind} {level}{unit}"

    def apply(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return a damaged copy of a batch of this modality (the input is not modified).

        ``x`` is ``(B, T, 3, S, S)`` in [0, 1] for faces, ``(B, C, L)`` for bio signals.
        """
        if self.kind == "clean":
            return x
        if self.kind == "missing":
            return torch.zeros_like(x)
        if self.kind == "noise":
            return add_noise(x, snr_db=self.level, generator=generator, clip=self.modality == "face")
        if self.kind == "blur":
            return gaussian_blur(x, sigma=self.level)
        return occlude(x, fraction=self.level, generator=generator)


def default_degradations(modalities: Iterable[str] = ("face", "bio")) -> list[Degradation]:
    """The conditions chapter 07 tests (ours): clean; each modality missing; noise at 10, 0 and
    -10 dB for each modality; face blur of 1, 2 and 4 px; face occlusion of 25 % and 50 %."""
    mods = tuple(modalities)
    out = [Degradation()]
    for m in mods:
        out.append(Degradation(m, "missing"))
        out += [Degradation(m, "noise", snr) for snr in (10.0, 0.0, -10.0)]
    if "face" in mods:
        out += [Degradation("face", "blur", s) for s in (1.0, 2.0, 4.0)]
        out += [Degradation("face", "occlusion", a) for a in (0.25, 0.5)]
    return out


def add_noise(
    x: torch.Tensor, *, snr_db: float, generator: torch.Generator | None = None, clip: bool = False
) -> torch.Tensor:
    """Add white Gaussian noise at ``snr_db`` decibels signal-to-noise ratio.

    The signal power is the variance over the last axis (bio ``(B, C, L)``: per channel and
    segment) or the last two axes (face ``(B, T, 3, S, S)``: per colour plane of each frame);
    the noise standard deviation is ``std * 10 ** (-snr_db / 20)``.  A flat (zero-variance)
    signal receives no noise.  ``clip`` clamps the result to [0, 1] (pixels).
    """
    dims = (-2, -1) if x.ndim == 5 else (-1,)
    std = x.float().std(dim=dims, keepdim=True)  # (B, C, 1) or (B, T, 3, 1, 1)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32)
    out = x.float() + noise * std * 10.0 ** (-snr_db / 20.0)
    return out.clamp(0.0, 1.0) if clip else out


def occlude(face: torch.Tensor, *, fraction: float, generator: torch.Generator | None = None,
            value: float = 0.5) -> torch.Tensor:  # fmt: skip
    """Cover a square of ``fraction`` of each clip's area with ``value`` (mid-grey).

    One position per clip, drawn uniformly from ``generator``, the same in all its frames (a
    hand or an object in front of the face, not flicker).  ``face``: ``(B, T, 3, S, S)``.
    """
    if face.ndim != 5:
        raise ValueError(f"face must be (B, T, 3, S, S), got {tuple(face.shape)}")
    B, _, _, H, W = face.shape
    side_h = max(1, min(H, round(H * math.sqrt(fraction))))
    side_w = max(1, min(W, round(W * math.sqrt(fraction))))
    top = torch.randint(0, H - side_h + 1, (B,), generator=generator).tolist()
    left = torch.randint(0, W - side_w + 1, (B,), generator=generator).tolist()
    out = face.float().clone()
    for b in range(B):
        out[b, :, :, top[b]:top[b] + side_h, left[b]:left[b] + side_w] = value
    return out


@torch.no_grad()
def evaluate_degraded(
    model: torch.nn.Module,
    dataset: Dataset,
    degradations: Sequence[Degradation] | None = None,
    *,
    task: str = "valence",
    by: str | None = None,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    verbose: bool | str | None = None,
) -> pd.DataFrame:
    """Test a trained model with one modality missing or degraded, condition by condition.

    Works for any :class:`~emolab.models.MultimodalModel` (concatenation, gated, late …); for a
    gated model the mean gate of each modality under each condition is reported as well, which
    shows whether the gate closes on a damaged modality.  Conditions on a modality the model does
    not read are skipped with a log message.

    Parameters
    ----------
    model : MultimodalModel
        A trained model (evaluated in eval mode on its own device).
    dataset : Dataset
        Test items as the segment store yields them (see :func:`collect_gates`).
    degradations : sequence of Degradation, optional
        Default :func:`default_degradations` for the model's modalities.
    task : {"valence", "arousal"}
        Which label is scored (ignored when the items carry a ``"target"``).
    by : str, optional
        A metadata column (``"subject"``): one row per condition and group instead of one per
        condition.
    seed : int
        Seeds the noise and occlusion draws; condition ``k`` uses ``seed + k`` so each condition
        is reproducible on its own.

    Returns
    -------
    DataFrame
        One row per condition (and group): ``condition``, ``modality``, ``kind``, ``level``,
        [``by``], the metrics of :func:`~emolab.train.metrics.binary_metrics` (``accuracy``,
        ``balanced_accuracy``, ``f1``, ``roc_auc``, ``majority_baseline``, ``n``, ``n_pos``),
        ``accuracy_drop`` (clean accuracy of the same group minus this one; NaN without a clean
        condition) and, for a gated model, ``gate_<m>`` per modality.
    """
    mods = tuple(getattr(model, "modalities", ("face", "bio")))
    if degradations is None:
        degradations = default_degradations(mods)
    head = getattr(model, "fusion", None)
    slices = gate_slices(model) if isinstance(head, GatedFusion) else {}
    device = _model_device(model)
    model.eval()
    rows = []
    with use_log_level(verbose):
        conditions = [d for d in degradations if d.modality in (*mods, "none")]
        for skipped in set(degradations) - set(conditions):
            logger.info("skipping %r: the model does not read %s", skipped.name, skipped.modality)
        for k, deg in enumerate(tqdm(conditions, desc="conditions", disable=not progress)):
            gen = torch.Generator().manual_seed(int(seed) + k)
            parts = []
            for batch in _loader(dataset, batch_size):
                inputs = model_inputs(batch, mods, torch.device("cpu"))
                if deg.modality in mods:
                    inputs[deg.modality] = deg.apply(inputs[deg.modality], generator=gen)
                inputs = {m: None if v is None else v.to(device) for m, v in inputs.items()}
                logits = model(**inputs)  # (B, n_outputs)
                cols = _meta_columns(batch)
                cols["y_true"] = _targets(batch, task).numpy().astype(np.int64)
                cols["y_score"] = torch.sigmoid(logits[:, 0].float()).cpu().numpy()
                if slices:
                    for m, sl in slices.items():
                        cols[f"gate_{m}"] = head.last_gate[:, sl].float().mean(dim=1).cpu().numpy()
                parts.append(pd.DataFrame(cols))
            if not parts:
                raise ValueError("cannot evaluate on an empty dataset")
            pred = pd.concat(parts, ignore_index=True)
            groups = [((None,), pred)] if by is None else list(pred.groupby([by], sort=True))
            for key, g in groups:
                row = {"condition": deg.name, **asdict(deg)}
                if by is not None:
                    row[by] = key[0]
                row.update(binary_metrics(g["y_true"], g["y_score"]))
                for m in slices:
                    row[f"gate_{m}"] = float(g[f"gate_{m}"].mean())
                rows.append(row)
            logger.debug("%s: accuracy %.3f", deg.name, binary_metrics(pred["y_true"], pred["y_score"])["accuracy"])
    out = pd.DataFrame(rows)
    keys = [] if by is None else [by]
    clean = out[out["kind"] == "clean"]
    if len(clean):
        ref = clean.set_index(keys)["accuracy"] if keys else float(clean["accuracy"].iloc[0])
        if keys:
            out["accuracy_drop"] = out[by].map(ref).to_numpy() - out["accuracy"].to_numpy()
        else:
            out["accuracy_drop"] = ref - out["accuracy"]
    else:
        out["accuracy_drop"] = np.nan
    first = ["condition", "modality", "kind", "level", *keys]
    return out[first + [c for c in out.columns if c not in first]]


def evaluate_cells_degraded(cells: Sequence, dataset: Dataset, results_path: str | os.PathLike,
                            degradations: Sequence[Degradation] | None = None, *, seed: int = 0,
                            retrain: bool = True) -> pd.DataFrame:  # fmt: skip
    """:func:`evaluate_degraded` of every cell's model on its own test fold, rows stacked with
    the cell's ``task``, ``protocol`` and ``subject``."""
    from emolab.train.sweep import cell_fold

    meta = dataset.metadata.reset_index(drop=True)
    rows = []
    for c in cells:
        test = torch.utils.data.Subset(dataset, cell_fold(c, meta).test_idx.tolist())
        model = load_cell_model(c, results_path, retrain=retrain)
        res = evaluate_degraded(model, test, degradations, task=c.task, seed=seed)
        rows.append(res.assign(task=c.task, protocol=c.protocol, subject=c.subject))
    return pd.concat(rows, ignore_index=True)


def pool_degraded(degraded: pd.DataFrame, by: Sequence[str] = ("protocol",)) -> pd.DataFrame:
    """Pool :func:`evaluate_cells_degraded` rows over cells: accuracy over all their test
    segments per ``by`` × condition, mean majority baseline and mean gate values."""
    keys = [*by, "condition", "modality", "kind", "level"]
    g = degraded.assign(correct=degraded["accuracy"] * degraded["n"]).groupby(keys, sort=False)
    agg = {"n": ("n", "sum"), "correct": ("correct", "sum"), "majority_baseline": ("majority_baseline", "mean")}
    agg |= {c: (c, "mean") for c in degraded.columns if c.startswith("gate_")}
    out = g.agg(**agg).reset_index()
    out["accuracy"] = out["correct"] / out["n"]
    return out
