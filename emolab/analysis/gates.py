"""What a trained fusion model relies on: its learned gate, and its accuracy when a modality fails.

Chapter 07 (``notebooks/07_fusion_gated.ipynb``) uses this module to open up GBV-Net's gated
fusion :cite:p:`yu2025gbvnet`.  The gated head computes ``z = [f_face, f_bio]`` and a gate
``g = sigmoid(MLP(z))`` of the same width, then classifies ``z * g``
(:class:`emolab.models.GatedFusion`).  The first ``D_face`` gate values act on the face features,
the remaining ``D_bio`` on the physiological ones, so the mean of each part says how much of
that modality the model lets through for one sample.

* :func:`collect_gates` runs a model over a dataset and keeps, per sample, the gate
  ``(N, D_face + D_bio)``, its face and bio means, the share of the fused vector that comes
  from each modality, and the prediction — a tidy table with the sample's subject, trial,
  experiment and segment.
* :func:`aggregate_gates` averages those per subject, per trial, or any other grouping.
* :func:`load_cell_model` rebuilds the trained model of a finished sweep cell from the
  checkpoint :func:`~emolab.train.sweep.run_sweep` kept (``keep_checkpoints=True``).
* :class:`Degradation` and :func:`evaluate_degraded` measure a trained model (any fusion head,
  not only the gated one) when one modality is missing (all zeros, as the segment store hands a
  fusion model a window without a detected face) or degraded: Gaussian noise at a given
  signal-to-noise ratio, Gaussian blur or an occluding patch for faces.

All functions leave the model in evaluation mode, run without gradients on the device the model
is on, and read items shaped as the segment store's (:class:`emolab.store.SegmentDataset`).
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from emolab._logging import logger, use_log_level
from emolab.models.fusion import GatedFusion
from emolab.train.config import TASK_INDEX
from emolab.train.metrics import binary_metrics

#: Integer metadata copied from the items into the per-sample tables.
META_KEYS = ("subject", "trial", "experiment_id", "segment")
#: Degradation kinds and the modalities each applies to.
DEGRADATION_KINDS = {
    "clean": ("face", "bio", "none"),
    "missing": ("face", "bio"),
    "noise": ("face", "bio"),
    "blur": ("face",),
    "occlusion": ("face",),
}


# ------------------------------------------------------------------------------------ helpers
def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:  # a model without parameters (only in tests)
        return torch.device("cpu")


def _gated_head(model: torch.nn.Module) -> GatedFusion:
    head = getattr(model, "fusion", None)
    if not isinstance(head, GatedFusion):
        raise TypeError(
            f"the model's fusion head is {type(head).__name__}, not GatedFusion: only a gated model "
            "has a gate to collect; build it with build_model('gbvnet') or fusion='gated'"
        )
    return head


def gate_slices(model: torch.nn.Module) -> dict[str, slice]:
    """Which gate columns act on which modality: ``{"face": slice(0, D_face), "bio": ...}``.

    The wrapper concatenates the features in :attr:`MultimodalModel.modalities` order (face
    first), so the gate, of the same width as the concatenation, splits the same way.  The
    widths are the encoders' ``n_features``; a unimodal gated model has a single entry.
    """
    head = _gated_head(model)
    modalities = tuple(getattr(model, "modalities", ()))
    if len(modalities) != len(head.in_features):
        raise ValueError(
            f"the model lists modalities {modalities} but its gated head has "
            f"{len(head.in_features)} inputs {head.in_features}"
        )
    out, start = {}, 0
    for m, width in zip(modalities, head.in_features):
        out[m] = slice(start, start + width)
        start += width
    return out


def _loader(dataset: Dataset, batch_size: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)


def _targets(batch: dict, task: str) -> torch.Tensor:
    if "target" in batch:  # emolab.train.WithTargets: labels from another rule
        return batch["target"].float()
    if "labels" not in batch:
        raise KeyError("dataset items need a 'labels' (2,) or a 'target' entry to be scored")
    return batch["labels"][:, TASK_INDEX[task]].float()


def _inputs(model: torch.nn.Module, batch: dict, device: torch.device) -> dict[str, torch.Tensor | None]:
    inputs: dict[str, torch.Tensor | None] = {"face": None, "bio": None}
    for m in getattr(model, "modalities", ("face", "bio")):
        if m not in batch:
            raise KeyError(f"the model reads {m!r} but the dataset items have no {m!r} entry")
        inputs[m] = batch[m].to(device).float()
    return inputs


def _meta_columns(batch: dict) -> dict[str, np.ndarray]:
    cols = {k: np.asarray(batch[k]) for k in META_KEYS if k in batch}
    if "has_face" in batch:
        cols["has_face"] = np.asarray(batch["has_face"]).astype(bool)
    return cols


def load_cell_model(cell, results_path: str | os.PathLike, *, retrain: bool = False,
                    map_location: str = "cpu") -> torch.nn.Module:  # fmt: skip
    """The trained model of a finished sweep cell, in eval mode, for analysis.

    :func:`~emolab.train.sweep.run_sweep` with ``keep_checkpoints=True`` leaves each cell's last
    checkpoint in ``cell_dir(results_path, cell) / "checkpoint" / "last.pt"``; this rebuilds
    the model from the cell's factory and arguments and loads the weights the trainer selected
    on the validation split (the last epoch's when there was no validation split) — the weights
    that were scored on the test fold.

    Parameters
    ----------
    cell : emolab.train.sweep.Cell
    results_path : path
        The results CSV the sweep wrote.
    retrain : bool
        When the checkpoint is missing (the cell ran in a sweep that did not keep it), train the
        cell again with :func:`~emolab.train.sweep.run_cell` into its folder — on the CPU training
        is deterministic, so this gives the weights that produced the cell's results row — and
        load that.  Off by default: it costs the cell's training time, and it is logged.
    """
    from emolab.train.sweep import cell_dir, run_cell

    path = cell_dir(results_path, cell) / "checkpoint" / "last.pt"
    if not path.is_file() and retrain:
        logger.info("no kept checkpoint for %s: training the cell again to recover its weights", cell.cell_id)
        run_cell(cell, cell_dir(results_path, cell))
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the sweep did not keep the checkpoint of cell {cell.cell_id}; "
            "run the sweep with keep_checkpoints=True, or pass retrain=True to train the cell again "
            f"(its row in {Path(results_path)} stays as it is)"
        )
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not state.get("done", False):
        raise RuntimeError(f"{path} holds an unfinished run of cell {cell.cell_id}; run the sweep to the end first")
    module, name = cell.model_factory.split(":", 1)
    factory = getattr(importlib.import_module(module), name)
    model = factory(cell.model, modalities=cell.modalities, **cell.model_kwargs)
    model.load_state_dict(state["best_state"] if state.get("best_state") is not None else state["model"])
    return model.eval()


# ------------------------------------------------------------------------------------- gates
@dataclass
class GateValues:
    """The gate of a gated model over a dataset (what :func:`collect_gates` returns).

    Attributes
    ----------
    gates : np.ndarray, float32, shape (N, D)
        The gate of every sample, ``D = D_face + D_bio``, each value in (0, 1).
    slices : dict
        Gate columns of each modality (:func:`gate_slices`).
    samples : pandas.DataFrame
        One row per sample, in dataset order: the metadata present in the items (``subject``,
        ``trial``, ``experiment_id``, ``segment``, ``has_face``), ``y_true``, ``y_score``
        (probability of class 1) and, per modality ``m``, ``gate_<m>`` (mean gate over that
        modality's columns) and ``share_<m>`` (that modality's part of the fused vector's L1
        norm, ``sum |z_m * g_m| / sum |z * g|``: unlike the gate alone it accounts for how large
        the features are).
    """

    gates: np.ndarray
    slices: dict[str, slice]
    samples: pd.DataFrame

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.slices)

    def of(self, modality: str) -> np.ndarray:
        """The gate columns of one modality, ``(N, D_modality)``."""
        if modality not in self.slices:
            raise KeyError(f"no {modality!r} part in this gate; it has {self.modalities}")
        return self.gates[:, self.slices[modality]]

    def long(self) -> pd.DataFrame:
        """Tidy form for seaborn: one row per sample x modality with columns ``modality``,
        ``gate`` and ``share`` besides the metadata."""
        keep = [c for c in self.samples.columns if not c.startswith(("gate_", "share_"))]
        parts = []
        for m in self.modalities:
            part = self.samples[keep].copy()
            part["modality"] = m
            part["gate"] = self.samples[f"gate_{m}"].to_numpy()
            part["share"] = self.samples[f"share_{m}"].to_numpy()
            parts.append(part)
        return pd.concat(parts, ignore_index=True)


@torch.no_grad()
def collect_gates(
    model: torch.nn.Module,
    dataset: Dataset,
    *,
    task: str = "valence",
    batch_size: int = 256,
    progress: bool = False,
    verbose: bool | str | None = None,
) -> GateValues:
    """Run a gated fusion model over ``dataset`` and keep its gate for every sample.

    Parameters
    ----------
    model : MultimodalModel
        With a :class:`~emolab.models.GatedFusion` head (GBV-Net's; any model built with
        ``fusion="gated"``).  Runs in eval mode (no dropout) on the device it is on.
    dataset : Dataset
        Items as the segment store yields them (``"face"`` (T, 3, 64, 64), ``"bio"`` (C, L),
        ``"labels"`` (2,) or ``"target"``, integer metadata); a ``Subset`` (e.g. a test fold)
        works too.
    task : {"valence", "arousal"}
        Which label is ``y_true`` (ignored when the items carry a ``"target"``).
    batch_size : int
        Samples per forward pass.
    progress : bool
        A tqdm bar over batches.

    Returns
    -------
    GateValues
    """
    head = _gated_head(model)
    slices = gate_slices(model)
    device = _model_device(model)
    model.eval()
    gates, z_all, rows = [], [], []
    with use_log_level(verbose):
        for batch in tqdm(_loader(dataset, batch_size), desc="gates", disable=not progress):
            features = model.encode(**_inputs(model, batch, device))  # {m: (B, D_m)}
            z = torch.cat([features[m] for m in slices], dim=-1)  # (B, D)
            logits = head([features[m] for m in slices])  # (B, n_outputs)
            g = head.last_gate  # (B, D), the gate of this very pass
            gates.append(g.float().cpu())
            z_all.append(z.float().cpu())
            cols = _meta_columns(batch)
            cols["y_true"] = _targets(batch, task).numpy().astype(np.int64)
            cols["y_score"] = torch.sigmoid(logits[:, 0].float()).cpu().numpy()
            rows.append(pd.DataFrame(cols))
        if not gates:
            raise ValueError("cannot collect gates over an empty dataset")
        g = torch.cat(gates)  # (N, D)
        fused = (torch.cat(z_all) * g).abs()  # (N, D): |z * g|, what the classifier reads
        total = fused.sum(dim=1).clamp_min(1e-12)  # (N,)
        samples = pd.concat(rows, ignore_index=True)
        for m, sl in slices.items():
            samples[f"gate_{m}"] = g[:, sl].mean(dim=1).numpy()
            samples[f"share_{m}"] = (fused[:, sl].sum(dim=1) / total).numpy()
        logger.info("collected the gate of %d samples (%s)", len(samples),
                    ", ".join(f"{m}: {sl.stop - sl.start} values" for m, sl in slices.items()))
    return GateValues(gates=g.numpy(), slices=slices, samples=samples)


def aggregate_gates(samples: pd.DataFrame | GateValues, by: str | Sequence[str] = "subject") -> pd.DataFrame:
    """Mean gate (and share) of each modality per group of samples.

    Parameters
    ----------
    samples : DataFrame or GateValues
        :attr:`GateValues.samples` (one row per sample with ``gate_<m>`` / ``share_<m>`` columns).
    by : str or sequence of str
        Grouping columns: ``"subject"``, ``["subject", "trial"]``, ``"has_face"`` …

    Returns
    -------
    DataFrame
        One row per group: the grouping columns, ``n`` (samples), per modality ``gate_<m>``
        (mean over the group's samples of the per-sample mean gate), ``gate_<m>_sd`` (standard
        deviation over samples; 0 for a single sample), ``share_<m>`` (mean), and, for a fused
        model, ``gate_face_minus_bio``: positive where the face is let through more.
    """
    df = samples.samples if isinstance(samples, GateValues) else samples
    keys = [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise KeyError(f"cannot group by {missing}: the samples have columns {list(df.columns)}")
    mods = [c[len("gate_"):] for c in df.columns if c.startswith("gate_") and not c.endswith("_sd")]
    if not mods:
        raise ValueError("no gate_<modality> columns: pass GateValues or its .samples table")
    grouped = df.groupby(keys, sort=True)
    out = grouped.size().rename("n").to_frame()
    for m in mods:
        out[f"gate_{m}"] = grouped[f"gate_{m}"].mean()
        out[f"gate_{m}_sd"] = grouped[f"gate_{m}"].std(ddof=1).fillna(0.0)
        if f"share_{m}" in df.columns:
            out[f"share_{m}"] = grouped[f"share_{m}"].mean()
    if "face" in mods and "bio" in mods:
        out["gate_face_minus_bio"] = out["gate_face"] - out["gate_bio"]
    return out.reset_index()


# ------------------------------------------------------------------------------- degradation
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


def gaussian_blur(face: torch.Tensor, *, sigma: float) -> torch.Tensor:
    """Blur every frame of ``face`` ``(B, T, 3, S, S)`` with a Gaussian of ``sigma`` pixels.

    Separable kernel of size ``2 * ceil(3 * sigma) + 1`` (capped to fit the image), reflected
    borders; the output has the input's shape.
    """
    if face.ndim != 5:
        raise ValueError(f"face must be (B, T, 3, S, S), got {tuple(face.shape)}")
    B, T, C, H, W = face.shape
    radius = min(int(math.ceil(3 * sigma)), min(H, W) - 1)
    x = torch.arange(-radius, radius + 1, device=face.device, dtype=torch.float32)
    kern = torch.exp(-(x**2) / (2 * sigma**2))
    kern = (kern / kern.sum()).repeat(B * T * C, 1)  # (B*T*C, k): one kernel per plane
    planes = face.float().reshape(1, B * T * C, H, W)  # (B, T, C, H, W) -> (1, B*T*C, H, W)
    planes = F.pad(planes, (radius, radius, radius, radius), mode="reflect")
    planes = F.conv2d(planes, kern[:, None, None, :], groups=B * T * C)  # horizontal pass
    planes = F.conv2d(planes, kern[:, None, :, None], groups=B * T * C)  # vertical pass
    return planes.reshape(B, T, C, H, W)


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
                inputs = _inputs(model, batch, torch.device("cpu"))
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


# ---------------------------------------------------------------------- over the cells of a grid
def collect_cell_gates(cells: Sequence, dataset: Dataset, results_path: str | os.PathLike, *,
                       retrain: bool = True) -> pd.DataFrame:  # fmt: skip
    """The gate of every cell's trained model on the segments it may see, in one table.

    For each cell the model is reloaded (:func:`load_cell_model`) and its gate collected
    (:func:`collect_gates`) on its subject's segments (a per-subject model is applied to its own
    subject only; a pooled model to every segment).  Returns the per-segment rows of
    :attr:`GateValues.samples` with ``task``, ``protocol`` and ``tested`` (the segment was in the
    cell's test fold) added.
    """
    from emolab.train.sweep import cell_fold

    meta = dataset.metadata.reset_index(drop=True)
    tables = []
    for c in cells:
        fold, model = cell_fold(c, meta), load_cell_model(c, results_path, retrain=retrain)
        own = meta["subject"].eq(c.subject).to_numpy() if c.subject >= 0 else np.ones(len(meta), bool)
        idx = pd.RangeIndex(len(meta))[own]
        gv = collect_gates(model, torch.utils.data.Subset(dataset, idx.tolist()), task=c.task)
        tested = idx.isin(pd.Index(fold.test_idx))
        tables.append(gv.samples.assign(task=c.task, protocol=c.protocol, tested=tested))
    return pd.concat(tables, ignore_index=True)


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
