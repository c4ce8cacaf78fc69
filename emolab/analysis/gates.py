"""What a trained gated fusion model relies on: its learned gate, per sample, subject and trial.

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
* :func:`collect_cell_gates` does it for every cell of a sweep.

A model's accuracy when a modality is missing or degraded, for any fusion head, is in
:mod:`emolab.analysis.degradation`.

All functions leave the model in evaluation mode, run without gradients on the device the model
is on, and read items shaped as the segment store's (:class:`emolab.store.SegmentDataset`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from emolab._logging import logger, use_log_level
from emolab.models.fusion import GatedFusion
from emolab.store.dataset import META_KEYS, collate_segments
from emolab.train.config import TASK_INDEX
from emolab.train.trainer import model_inputs

#: Integer metadata copied from the items into the per-sample tables.
#: The item keys that identify a gate row (the store item's metadata less ``has_face``).
GATE_KEYS = tuple(k for k in META_KEYS if k != "has_face")


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
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate_segments)


def _targets(batch: dict, task: str) -> torch.Tensor:
    if "target" in batch:  # emolab.train.WithTargets: labels from another rule
        return batch["target"].float()
    if "labels" not in batch:
        raise KeyError("dataset items need a 'labels' (2,) or a 'target' entry to be scored")
    return batch["labels"][:, TASK_INDEX[task]].float()


def _inputs(model: torch.nn.Module, batch: dict, device: torch.device) -> dict[str, torch.Tensor | None]:
    """The model's inputs from a batch, as the trainer feeds them (:func:`~emolab.train.trainer.model_inputs`)."""
    return model_inputs(batch, getattr(model, "modalities", ("face", "bio")), device)


def _meta_columns(batch: dict) -> dict[str, np.ndarray]:
    cols = {k: np.asarray(batch[k]) for k in GATE_KEYS if k in batch}
    if "has_face" in batch:
        cols["has_face"] = np.asarray(batch["has_face"]).astype(bool)
    return cols


def load_cell_model(cell, results_path: str | os.PathLike, *, retrain: bool = False,
                    map_location: str = "cpu") -> torch.nn.Module:  # fmt: skip
    """The trained model of a finished sweep cell, in eval mode, for analysis.

    :func:`~emolab.train.sweep.run_sweep` with ``keep_checkpoints=True`` leaves each cell's last
    checkpoint in its folder; :meth:`~emolab.train.cells.CellDir.load_model` rebuilds the model
    from the cell's factory and arguments and loads the weights the trainer selected on the
    validation split (the last epoch's when there was no validation split) — the weights that
    were scored on the test fold.

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
    from emolab.train.cells import CellDir
    from emolab.train.sweep import run_cell

    folder = CellDir.for_cell(results_path, cell)
    if not folder.checkpoint_path.is_file() and retrain:
        logger.info("no kept checkpoint for %s: training the cell again to recover its weights", cell.cell_id)
        run_cell(cell, folder.path)
    try:
        return folder.load_model(cell, map_location=map_location)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc} (its row in {Path(results_path)} stays as it is)") from None


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
