"""A model-agnostic trainer for binary valence/arousal classification.

In the spirit of minGPT's trainer, it knows nothing about the model: it receives any
``torch.nn.Module`` called as ``model(face=..., bio=...)`` that returns logits of shape (B, 1),
datasets whose items are the segment store's dicts (``"face"`` (T, 3, 64, 64) float in [0, 1],
``"bio"`` (C, L) float, ``"labels"`` (2,) [valence, arousal] in {0, 1}, integer metadata), and a
:class:`~emolab.train.config.TrainConfig`.  Models, data and training meet only in notebooks and in
:mod:`emolab.train.sweep`.

What it does, and why:

* Adam and binary cross-entropy on logits, as both papers (:cite:`safavi_deep_multimodal`,
  :cite:`yu2025gbvnet`).
* Model selection and early stopping on a **validation** set that the caller carves from the
  training fold (:func:`emolab.train.protocols.validation_split`).  The test fold is never seen
  during :meth:`Trainer.fit`; evaluate it once afterwards with :meth:`Trainer.evaluate`.  (Picking
  the epoch with the best *test* accuracy, as DeepVANet reports, turns the test fold into a
  validation set and overstates accuracy.)
* A checkpoint after every epoch, or after the first epoch that ends
  ``config.checkpoint_interval_s`` seconds after the last one, and always after the last epoch
  (model, optimiser, grad scaler, random states, early-stopping state, history); a run
  interrupted after the checkpoint of epoch k and started again with the same
  ``checkpoint_dir`` continues from epoch k + 1 and ends with the same weights and metrics as an
  uninterrupted run on the CPU.  The shuffling order and the augmentations of each epoch come from
  generators seeded by ``(seed, epoch)``; the global torch random state (dropout) is saved.
* A model whose ``forward`` takes a keyword ``return_branches`` is called with
  ``return_branches=True`` and returns a :class:`~emolab.models.ModelOutput`: the binary
  cross-entropy of each of its ``auxiliary`` logits (deep supervision, e.g.
  ``MultimodalModel(auxiliary_heads=True)`` in training mode) is added to the training loss, and
  its ``branches`` are kept in the predictions; validation and test score its ``logits`` only.
  The trainer reads nothing else from the model: no attribute is left behind by a forward pass.
* Folds gathered into memory (:class:`~emolab.train.batches.InMemorySegments`) are batched by
  indexing stacked tensors, face crops still uint8 until they reach the device.
* CUDA: autocast in bf16 (fp16 + gradient scaling on GPUs without bf16), pinned memory and
  non-blocking copies.  CPU: float32 and deterministic algorithms.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from emolab._logging import logger, use_log_level
from emolab.models.multimodal import ModelOutput
from emolab.store.dataset import META_KEYS, stack_items
from emolab.train.augment import augment_bio, augment_face
from emolab.train.balance import GradientModulation, encoder_param_groups
from emolab.train.batches import InMemorySegments
from emolab.train.checkpoints import load_checkpoint
from emolab.train.config import TASK_INDEX, TrainConfig
from emolab.train.device import resolve_device, resolve_precision
from emolab.train.metrics import binary_metrics
from emolab.train.scaling import Standardized

CHECKPOINT_NAME = "last.pt"
#: History fields that measure time (they differ between otherwise identical runs).
TIMING_KEYS = ("seconds", "samples_per_s", "val_seconds", "checkpoint_seconds")


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, NumPy's global generator and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def progress_disabled(progress: bool | None) -> bool:
    """tqdm's ``disable`` for a ``progress`` setting: ``None`` = show in notebooks and terminals."""
    if progress is not None:
        return not progress
    if "ipykernel" in sys.modules:
        return False
    return not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def model_inputs(batch: dict[str, torch.Tensor], modalities: Sequence[str], device: torch.device | str, *,
                 non_blocking: bool = False) -> dict[str, torch.Tensor | None]:  # fmt: skip
    """The keyword inputs of a model, ``{"face": ..., "bio": ...}``, from a batch of items.

    Each modality in ``modalities`` is moved to ``device`` as float32: ``"face"`` ``(B, T, 3, S, S)``
    in [0, 1] (uint8 crops, as :class:`~emolab.train.batches.InMemorySegments` keeps them, are
    divided by 255 on the device), ``"bio"`` ``(B, C, L)``; the others are ``None``.  The
    trainer's and the analyses' one way of feeding a batch to a model.

    Raises
    ------
    KeyError
        A modality in ``modalities`` is missing from the batch.
    """
    out: dict[str, torch.Tensor | None] = {"face": None, "bio": None}
    for m in modalities:
        if m not in batch:
            raise KeyError(f"the model reads {m!r} (modalities {tuple(modalities)}) but the dataset items "
                           f"have no {m!r} key")  # fmt: skip
        x = batch[m].to(device, non_blocking=non_blocking)
        # uint8 face crops travel as bytes and become float [0, 1] on the model's device
        out[m] = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    return out


def _takes_return_branches(model: torch.nn.Module) -> bool:
    """Whether ``model.forward`` accepts the keyword ``return_branches`` (see :class:`Trainer`).

    A wrapper that passes its keywords on (``torch.compile``'s module, ``DataParallel``) is asked
    about the model it wraps."""
    while True:
        inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module) and isinstance(model, torch.nn.DataParallel):
            inner = model.module
        if not isinstance(inner, torch.nn.Module):
            break
        model = inner
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # a builtin or C forward without a signature
        return False
    return "return_branches" in params


class WithTargets(Dataset):
    """Wrap a dataset and add ``item["target"]`` (float 0/1) from an array aligned with it.

    Used when the binary labels come from another rule than the stored one (per-subject mean or
    median threshold, :func:`emolab.train.protocols.make_labels`).  ``targets`` is exposed so the
    trainer can count classes without loading every item.
    """

    def __init__(self, dataset: Dataset, targets: np.ndarray) -> None:
        if len(targets) != len(dataset):
            raise ValueError(f"{len(targets)} targets for a dataset of {len(dataset)} items")
        self.dataset = dataset
        self.targets = np.asarray(targets, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        item["target"] = torch.tensor(self.targets[i])
        return item


def _targets_of(dataset: Dataset) -> np.ndarray | None:
    """The ``targets`` array of a :class:`WithTargets` or :class:`InMemorySegments` (also through
    ``Subset``), else None."""
    if isinstance(dataset, (WithTargets, InMemorySegments, Standardized)):
        return dataset.targets
    inner = getattr(dataset, "dataset", None)
    idx = getattr(dataset, "indices", None)
    if inner is not None and idx is not None:
        t = _targets_of(inner)
        return None if t is None else t[np.asarray(idx)]
    return None


class Trainer:
    """Train one model on one training set (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(face=..., bio=...)`` with ``None`` for modalities not in
        ``config.modalities``; returns logits (B, 1) or (B,).  A model whose ``forward`` takes
        ``return_branches`` gets ``return_branches=True`` and returns a
        :class:`~emolab.models.ModelOutput` (see the module docstring).
    config : TrainConfig
    checkpoint_dir : path, optional
        Folder for ``last.pt``; when it already holds a checkpoint of the same configuration,
        :meth:`fit` resumes from it (a different configuration is an error).
    callbacks : sequence of callables
        ``callback(trainer, record)`` after each epoch (and after its checkpoint is written).
    observers : sequence
        Objects whose ``batch(training, out, y)`` is called after every forward pass, in training
        (``training=True``) and in :meth:`predict`, with the model's
        :class:`~emolab.models.ModelOutput` (``None`` for a model without ``return_branches``)
        and the targets, and whose ``epoch_end(trainer, record)``, if they have one, at the end
        of every epoch before the record is kept and checkpointed (so what they add to it is
        resumed with it); they must not change anything (e.g.
        :class:`~emolab.train.balance.BranchProbes`).
    loss_weights : dict, optional
        ``{"fused": w, "face": w, "bio": w}``: the training loss is the weighted sum of the fused
        output's loss and each branch head's (a model with auxiliary heads; Gradient Blending,
        :func:`~emolab.train.balance.blending_weights`).  ``None``: the fused loss plus each
        auxiliary loss, unweighted.
    verbose : bool or str, optional
        Log level while training.

    Examples
    --------
    >>> trainer = Trainer(model, TrainConfig(task="valence", modalities=("bio",), epochs=20))
    >>> history = trainer.fit(train_set, val_set)          # doctest: +SKIP
    >>> metrics = trainer.evaluate(test_set)                # once, at the end  # doctest: +SKIP
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: TrainConfig,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        callbacks: Sequence[Callable[["Trainer", dict], None]] = (),
        observers: Sequence[Any] = (),
        loss_weights: dict[str, float] | None = None,
        verbose: bool | str | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.amp_dtype = resolve_precision(config.precision, self.device)
        self.model = model.to(self.device)
        modulate = config.balance is not None and config.balance.method == "ogm-ge"
        params = encoder_param_groups(self.model) if modulate else self.model.parameters()
        # fused: one kernel updates every parameter (CPU and CUDA); on the small models and
        # batches of the book's CPU runs the per-parameter update loop was up to a fifth of a step
        self.optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay,
                                          fused=self.device.type in ("cpu", "cuda"))
        self._modulation = None
        if modulate:
            self._modulation = GradientModulation(self.model, self.optimizer, lr=config.lr,
                                                  alpha=config.balance.alpha, noise=config.balance.noise,
                                                  seed=config.seed)  # fmt: skip
        self.observers = list(observers)
        self.loss_weights = None if loss_weights is None else {k: float(v) for k, v in loss_weights.items()}
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.callbacks = list(callbacks)
        self.verbose = verbose
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None
        self._best_score: float | None = None
        self._best_state: dict[str, torch.Tensor] | None = None
        self._bad_epochs = 0
        self._done = False
        self._pos_weight: float | None = None
        self._cuda = self.device.type == "cuda"
        self._branched = _takes_return_branches(self.model)

    # ------------------------------------------------------------------------------ plumbing
    @property
    def _keys(self) -> tuple[str, ...]:
        return (*self.config.modalities, "labels", "target", *META_KEYS)

    def _loader(self, dataset: Dataset, *, shuffle: bool, epoch: int = 0):
        """Batches of ``dataset``: cut from its tensors for :class:`InMemorySegments` (no per-item
        work), through a DataLoader for any other dataset.  The order of epoch ``epoch`` comes from
        a generator seeded by ``(seed, epoch)`` either way."""
        gen = torch.Generator()
        gen.manual_seed(self.config.seed * 1_000_003 + epoch)
        if isinstance(dataset, InMemorySegments):
            order = None
            if shuffle:
                # the same draws as DataLoader(shuffle=True, generator=gen): its base seed, then
                # the permutation, so both paths see the same batches
                torch.empty((), dtype=torch.int64).random_(generator=gen)
                order = torch.randperm(len(dataset), generator=gen)
            return dataset.batches(self.config.batch_size, order=order)
        return DataLoader(
            dataset, batch_size=self.config.batch_size, shuffle=shuffle, generator=gen,
            num_workers=self.config.num_workers, pin_memory=self._cuda,
            collate_fn=functools.partial(stack_items, keys=self._keys), drop_last=False,
        )

    def _inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | None]:
        return model_inputs(batch, self.config.modalities, self.device, non_blocking=self._cuda)

    def _target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "target" in batch:
            y = batch["target"]
        else:
            y = batch["labels"][:, TASK_INDEX[self.config.task]]
        return y.to(self.device, non_blocking=self._cuda).float()

    def _forward(self, inputs: dict[str, torch.Tensor | None]) -> tuple[torch.Tensor, ModelOutput | None]:
        """``(logits (B,) float32, the model's ModelOutput or None)`` of one forward pass."""
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype,
                            enabled=self.amp_dtype is not None):
            if self._branched:
                out = self.model(face=inputs["face"], bio=inputs["bio"], return_branches=True)
                if not isinstance(out, ModelOutput):
                    raise TypeError(f"{type(self.model).__name__}(..., return_branches=True) must return a "
                                    f"ModelOutput, got {type(out).__name__}")  # fmt: skip
                logits = out.logits
            else:
                out, logits = None, self.model(face=inputs["face"], bio=inputs["bio"])
        if logits.ndim == 2 and logits.shape[1] == 1:
            logits = logits[:, 0]  # (B, 1) -> (B,)
        if logits.ndim != 1:
            raise ValueError(f"model must return logits of shape (B, 1) or (B,), got {tuple(logits.shape)}")
        return logits.float(), out

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pw = None if self._pos_weight is None else torch.tensor(self._pos_weight, device=self.device)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)

    def _augment(self, inputs: dict, gen: torch.Generator | None) -> dict:
        aug = self.config.augment
        if gen is None:
            return inputs
        if inputs["face"] is not None and aug.any_face:
            inputs["face"] = augment_face(inputs["face"], aug, generator=gen)
        if inputs["bio"] is not None and aug.any_bio:
            inputs["bio"] = augment_bio(inputs["bio"], aug, generator=gen)
        return inputs

    # ----------------------------------------------------------------------------- training
    def _train_epoch(self, dataset: Dataset, epoch: int) -> tuple[float, int]:
        self.model.train()
        aug = self.config.augment
        gen = None
        if aug.any_face or aug.any_bio:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(self.config.seed * 1_000_003 + epoch + 7_919)
        total, n = 0.0, 0
        if self._modulation is not None:
            self._modulation.start_epoch(epoch)
        for batch in self._loader(dataset, shuffle=True, epoch=epoch):
            inputs = self._augment(self._inputs(batch), gen)
            y = self._target(batch)
            self.optimizer.zero_grad(set_to_none=True)
            logits, out = self._forward(inputs)
            for obs in self.observers:
                obs.batch(True, out, y)
            loss = self._training_loss(logits, out, y)
            self.scaler.scale(loss).backward()
            if self._modulation is not None:
                self._modulation.after_backward(out, y)
            if self.config.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += float(loss.detach()) * len(y)
            n += len(y)
        if n == 0:
            raise ValueError("the training set is empty")
        return total / n, n

    def _training_loss(self, logits: torch.Tensor, out: ModelOutput | None, y: torch.Tensor) -> torch.Tensor:
        if self.loss_weights is None:
            loss = self._loss(logits, y)
            # a model may return auxiliary logits of the same shape (deep supervision, e.g.
            # MultimodalModel(auxiliary_heads=True)): each adds its own loss
            for aux in out.auxiliary if out is not None else ():
                loss = loss + self._loss(aux.float().reshape(-1), y)
            return loss
        branches = out.branches if out is not None else {}
        missing = sorted(set(self.loss_weights) - {"fused", *branches})
        if missing:
            raise ValueError(f"loss_weights name heads {missing} that the model does not return; build it with "
                             f"auxiliary_heads=True (branch heads: {sorted(branches)})")  # fmt: skip
        loss = self.loss_weights.get("fused", 0.0) * self._loss(logits, y)
        for m, z in branches.items():
            loss = loss + self.loss_weights.get(m, 0.0) * self._loss(z.float().reshape(-1), y)
        return loss

    def _is_better(self, score: float) -> bool:
        if np.isnan(score):
            return self._best_score is None
        if self._best_score is None or np.isnan(self._best_score):
            return True
        if self.config.monitor == "val_loss":
            return score < self._best_score
        return score > self._best_score

    def fit(self, train_dataset: Dataset, val_dataset: Dataset | None = None) -> list[dict[str, float]]:
        """Train, with early stopping on ``val_dataset``; return the per-epoch history.

        Without a validation set (``None`` or empty), or with ``config.keep="last"``, all
        ``config.epochs`` epochs run and the last weights are kept.  Otherwise, on return the
        model holds the selected (best validation) weights.

        History records: ``epoch`` (1-based), ``train_loss``, ``seconds``, ``samples_per_s`` and,
        with a validation set, ``val_loss``, ``val_accuracy``, ``val_balanced_accuracy``,
        ``val_roc_auc``.
        """
        cfg = self.config
        has_val = val_dataset is not None and len(val_dataset) > 0
        det_before = torch.are_deterministic_algorithms_enabled()
        with use_log_level(self.verbose):
            start = self._resume() if self.checkpoint_dir is not None else 0
            if start == 0:
                torch.manual_seed(cfg.seed)
            if cfg.pos_weight == "balanced" and self._pos_weight is None:
                self._pos_weight = self._balanced_pos_weight(train_dataset)
            if cfg.deterministic and self.device.type == "cpu":
                torch.use_deterministic_algorithms(True, warn_only=True)
            try:
                self._run_epochs(train_dataset, val_dataset if has_val else None, start)
            finally:
                torch.use_deterministic_algorithms(det_before)
            if self._best_state is not None:
                self.model.load_state_dict(self._best_state)
            last = self.history[-1] if self.history else {}
            logger.info(
                "trained %d epoch(s) on %d samples, kept epoch %s%s",
                len(self.history), len(train_dataset), self.best_epoch,
                f" (val_loss {last.get('val_loss', float('nan')):.4f} at the end)" if has_val else "",
            )
        return self.history

    def _run_epochs(self, train_dataset: Dataset, val_dataset: Dataset | None, start: int) -> None:
        from tqdm.auto import tqdm

        cfg = self.config
        if self._done:
            return
        bar = tqdm(range(start, cfg.epochs), desc=f"train {cfg.task} ({'+'.join(cfg.modalities)})",
                   initial=start, total=cfg.epochs, disable=progress_disabled(cfg.progress),
                   mininterval=1.0, leave=False)
        last_save = time.perf_counter()
        for epoch in bar:
            t0 = time.perf_counter()
            train_loss, n = self._train_epoch(train_dataset, epoch)
            seconds = time.perf_counter() - t0
            rec: dict[str, float] = {"epoch": epoch + 1, "train_loss": train_loss,
                                     "seconds": seconds, "samples_per_s": n / max(seconds, 1e-9)}
            if self._modulation is not None:
                rec.update(self._modulation.epoch_record())
            if val_dataset is not None:
                t0 = time.perf_counter()
                pred = self.predict(val_dataset)
                m = binary_metrics(pred["y_true"], pred["y_score"])
                rec["val_seconds"] = time.perf_counter() - t0
                rec.update(val_loss=pred["loss"], val_accuracy=m["accuracy"],
                           val_balanced_accuracy=m["balanced_accuracy"], val_roc_auc=m["roc_auc"])
                score = rec[cfg.monitor]
                if cfg.keep == "last":
                    self.best_epoch, self._best_state = epoch + 1, None
                elif self._is_better(score):
                    self._best_score, self.best_epoch, self._bad_epochs = score, epoch + 1, 0
                    self._best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                else:
                    self._bad_epochs += 1
                self._done = cfg.keep == "best" and self._bad_epochs >= cfg.patience
            else:
                self.best_epoch, self._best_state = epoch + 1, None
            for obs in self.observers:  # their measurements belong to the epoch's record and checkpoint
                if hasattr(obs, "epoch_end"):
                    obs.epoch_end(self, rec)
            self._done = self._done or epoch + 1 >= cfg.epochs
            self.history.append(rec)
            bar.set_postfix({k: round(v, 4) for k, v in rec.items() if k in ("train_loss", "val_loss")})
            logger.debug("epoch %d: %s", epoch + 1,
                         ", ".join(f"{k} {v:.4g}" for k, v in rec.items() if k != "epoch"))
            if self.checkpoint_dir is not None and (
                self._done or time.perf_counter() - last_save >= cfg.checkpoint_interval_s
            ):
                t0 = time.perf_counter()
                self.save_checkpoint()
                last_save = time.perf_counter()
                rec["checkpoint_seconds"] = last_save - t0
            for cb in self.callbacks:
                cb(self, rec)
            if self._done:
                break
        bar.close()

    def _balanced_pos_weight(self, dataset: Dataset) -> float:
        y = _targets_of(dataset)
        if y is None:
            y = np.array([float(self._target(self._collate_one(dataset[i]))[0]) for i in range(len(dataset))])
        n_pos = float(np.sum(y))
        if n_pos == 0 or n_pos == len(y):
            raise ValueError('pos_weight="balanced" needs both classes in the training set')
        return (len(y) - n_pos) / n_pos

    def _collate_one(self, item: dict) -> dict:
        return stack_items([item], keys=("labels", "target"))

    # ---------------------------------------------------------------------------- inference
    @torch.no_grad()
    def predict(self, dataset: Dataset) -> dict[str, Any]:
        """Predicted probabilities of class 1 for every item, in dataset order.

        Returns a dict with ``y_true`` (n,) int, ``y_score`` (n,) float, ``logits`` (n,),
        ``loss`` (mean BCE) and the integer metadata keys present in the items (``subject``,
        ``trial``, ``segment`` …) as arrays, for per-subject and per-trial analyses.  A model
        that returns ``branches`` in its :class:`~emolab.models.ModelOutput` (a fused
        :class:`~emolab.models.MultimodalModel` with auxiliary heads) also gets
        ``logits_<branch>`` (n,): what each branch's own classifier answered.
        """
        self.model.eval()
        logits, ys, meta = [], [], {k: [] for k in META_KEYS}
        branches: dict[str, list[torch.Tensor]] = {}
        for batch in self._loader(dataset, shuffle=False):
            lg, out = self._forward(self._inputs(batch))
            for obs in self.observers:
                obs.batch(False, out, self._target(batch))
            logits.append(lg.cpu())
            # a model may return each branch's own logits (MultimodalModel with auxiliary heads)
            for m, b in (out.branches if out is not None else {}).items():
                branches.setdefault(m, []).append(b.detach().float().reshape(-1).cpu())
            ys.append(self._target(batch).cpu())
            for k in META_KEYS:
                if k in batch:
                    meta[k].append(batch[k])
        if not logits:
            raise ValueError("cannot predict on an empty dataset")
        lg, y = torch.cat(logits), torch.cat(ys)
        out: dict[str, Any] = {
            "y_true": y.numpy().astype(np.int64),
            "y_score": torch.sigmoid(lg).numpy(),
            "logits": lg.numpy(),
            "loss": float(self._loss(lg.to(self.device), y.to(self.device))),
        }
        out.update({k: torch.cat(v).numpy() for k, v in meta.items() if v})
        out.update({f"logits_{m}": torch.cat(v).numpy() for m, v in branches.items() if len(v) == len(logits)})
        return out

    def evaluate(self, dataset: Dataset) -> dict[str, float]:
        """Metrics (:func:`~emolab.train.metrics.binary_metrics`) and loss on ``dataset``."""
        pred = self.predict(dataset)
        return {**binary_metrics(pred["y_true"], pred["y_score"]), "loss": pred["loss"]}

    # --------------------------------------------------------------------------- checkpoints
    def _fingerprint(self) -> str:
        """The configuration's fingerprint, with the loss weights when given (Gradient Blending's
        come from a pilot run: a resumed run with other weights is another run)."""
        if self.loss_weights is None:
            return self.config.fingerprint()
        return self.config.fingerprint() + "|" + json.dumps(self.loss_weights, sort_keys=True)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly (read with ``weights_only=True``)."""
        np_state = np.random.get_state()
        return {
            "format": 1,
            "fingerprint": self._fingerprint(),
            "config": self.config.to_dict(),
            "epoch": len(self.history),
            "done": self._done,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best_state": self._best_state,
            "best_epoch": self.best_epoch,
            "best_score": self._best_score,
            "bad_epochs": self._bad_epochs,
            "pos_weight": self._pos_weight,
            "history": copy.deepcopy(self.history),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
                "python": random.getstate(),
            },
        }

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint_dir/last.pt`` atomically (a crash never leaves half a file)."""
        if self.checkpoint_dir is None:
            raise ValueError("this Trainer has no checkpoint_dir")
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        path = self.checkpoint_dir / CHECKPOINT_NAME
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def _resume(self) -> int:
        path = self.checkpoint_dir / CHECKPOINT_NAME
        if not path.is_file():
            return 0
        state = load_checkpoint(path, map_location="cpu")
        if state.get("fingerprint") != self._fingerprint():
            raise ValueError(
                f"{path} was written by a run with another configuration "
                f"({state.get('config')}); delete the folder or use a new checkpoint_dir"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self._best_state, self.best_epoch = state["best_state"], state["best_epoch"]
        self._best_score, self._bad_epochs = state["best_score"], state["bad_epochs"]
        self._pos_weight, self._done = state["pos_weight"], state["done"]
        self.history = list(state["history"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        npst = rng["numpy"]
        np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32), int(npst[2]), int(npst[3]), npst[4]))
        py = rng["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        logger.info("resumed from %s after epoch %d", path, state["epoch"])
        return int(state["epoch"])
