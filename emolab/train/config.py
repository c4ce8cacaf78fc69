"""Training settings as small, serialisable dataclasses.

Defaults marked *paper* follow both reproduced papers (Safavi et al. :cite:`safavi_deep_multimodal`
and GBV-Net :cite:`yu2025gbvnet`: Adam, learning rate 1e-3, batch 256, binary cross-entropy);
everything else is ours and says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any
from emolab.data.record import MODALITIES, TASKS

#: Values of :attr:`TrainConfig.bio_standardize` (:mod:`emolab.train.scaling`).
STANDARDIZE = (None, "train_fold")

#: Column of the ``"labels"`` / ``"ratings"`` arrays that holds each task.
TASK_INDEX = {"valence": 0, "arousal": 1}

#: Values of :attr:`BalanceConfig.method` (:mod:`emolab.train.balance`).
BALANCE_METHODS = ("joint", "late ensemble", "gradient blending", "ogm-ge")
#: The methods that train several models in one cell (:func:`emolab.train.sweep.run_balanced_fold`).
MULTI_MODEL_METHODS = ("late ensemble", "gradient blending")


@dataclass
class AugmentConfig:
    """Batch augmentations named by GBV-Net :cite:`yu2025gbvnet`; the magnitudes are ours.

    The paper names the transforms (faces: horizontal flip, colour jitter, Gaussian blur;
    signals: additive noise, time shift, amplitude scaling) but not their strengths, so the values
    here are conservative choices.  Each switch turns one transform on or off; all are off by
    default so that a plain run is the un-augmented baseline.
    """

    face_flip: bool = False
    face_color_jitter: bool = False
    face_blur: bool = False
    bio_noise: bool = False
    bio_time_shift: bool = False
    bio_scale: bool = False
    flip_p: float = 0.5
    #: Brightness, contrast and saturation factors are drawn from U(1 - x, 1 + x).
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    blur_p: float = 0.5
    #: Blur sigma in pixels, drawn from U(*blur_sigma); kernel size 5 suits 64x64 crops.
    blur_sigma: tuple[float, float] = (0.1, 1.5)
    blur_kernel: int = 5
    #: Noise standard deviation as a fraction of each channel's own standard deviation.
    noise_std: float = 0.05
    #: Largest circular time shift, in samples (0.1 s at 128 Hz).
    max_shift: int = 12
    #: Amplitude factors drawn from U(1 - scale, 1 + scale), one per segment.
    scale: float = 0.1

    @classmethod
    def all_on(cls, **overrides: Any) -> "AugmentConfig":
        """All six transforms enabled (the GBV-Net setting)."""
        on = {f: True for f in ("face_flip", "face_color_jitter", "face_blur", "bio_noise",
                                "bio_time_shift", "bio_scale")}
        on.update(overrides)
        return cls(**on)

    @property
    def any_face(self) -> bool:
        return self.face_flip or self.face_color_jitter or self.face_blur

    @property
    def any_bio(self) -> bool:
        return self.bio_noise or self.bio_time_shift or self.bio_scale


@dataclass
class BalanceConfig:
    """How a fused model's branches are trained or combined: the remedies for modality imbalance
    (:mod:`emolab.train.balance`, chapter 10).

    Attributes
    ----------
    method : {"joint", "late ensemble", "gradient blending", "ogm-ge"}
        ``"joint"``: one loss on the fused output, as both reproduced papers.  ``"late
        ensemble"``: one model per modality, trained apart, their probabilities averaged with one
        mixing weight chosen on held-out training trials :cite:p:`du2023unimodal`.  ``"gradient
        blending"``: a loss per branch head beside the fused one, weighted by each head's
        generalisation gain over its overfitting in a pilot run :cite:p:`wang2020makes`.
        ``"ogm-ge"``: on-the-fly gradient modulation with Gaussian noise
        :cite:p:`peng2022balanced`, adapted to Adam by lowering the leading encoder's learning
        rate.
    alpha : float
        OGM-GE's modulation strength (the authors' recommendation for CREMA-D, their smallest
        two-modality dataset: 0.8).
    noise : bool
        OGM-GE's generalisation enhancement (Gaussian noise with the gradient's own standard
        deviation added to each encoder's gradient).
    held_out_fraction : float
        Late ensemble and Gradient Blending: share of the training trials held out, by trial, to
        choose the mixing weight or to measure the pilot's generalisation (ours: a fold's
        validation split holds one or two trials, too few).
    pilot_epochs : int or None
        Gradient Blending's pilot run (``None``: the recipe's epochs).
    mix_steps : int
        Late ensemble: the mixing weights tried, ``mix_steps`` evenly spaced in [0, 1].
    """

    method: str = "joint"
    alpha: float = 0.8
    noise: bool = True
    held_out_fraction: float = 0.25
    pilot_epochs: int | None = None
    mix_steps: int = 11

    def __post_init__(self) -> None:
        if self.method not in BALANCE_METHODS:
            raise ValueError(f"balance method must be one of {BALANCE_METHODS}, got {self.method!r}")
        if self.alpha <= 0:
            raise ValueError(f"balance alpha must be positive, got {self.alpha}")
        if not 0.0 < self.held_out_fraction < 1.0:
            raise ValueError(f"balance held_out_fraction must be in (0, 1), got {self.held_out_fraction}")
        if self.pilot_epochs is not None and self.pilot_epochs < 1:
            raise ValueError(f"balance pilot_epochs must be >= 1 or None, got {self.pilot_epochs}")
        if self.mix_steps < 2:
            raise ValueError(f"balance mix_steps must be >= 2, got {self.mix_steps}")


@dataclass
class TrainConfig:
    """Everything the :class:`~emolab.train.trainer.Trainer` needs besides the model and data.

    Attributes
    ----------
    task : {"valence", "arousal"}
        Which binary label to learn (the papers train the two tasks separately).
    modalities : tuple of {"face", "bio"}
        Inputs handed to ``model(face=..., bio=...)``; the other argument is ``None``.
    lr, batch_size, optimizer, loss : *paper* (Adam, 1e-3, 256, BCE on logits).
    weight_decay : float
        Ours (0: the papers do not mention any).
    epochs : int
        Upper bound on epochs; early stopping usually ends sooner.  Neither paper states a number.
    patience : int
        Epochs without improvement of ``monitor`` on the validation split before stopping (ours).
    monitor : {"val_loss", "val_balanced_accuracy"}
        Model-selection criterion, measured on the validation split only — never on the test fold.
    keep : {"best", "last"}
        ``"best"`` (default): early stopping on ``monitor`` with ``patience``, and the weights of
        the best validation epoch are kept.  ``"last"``: all ``epochs`` run and the last weights
        are kept; the validation split is still scored every epoch (for the curves) but selects
        nothing.  Ours, for tiny validation splits (two or three trials), whose loss and accuracy
        are too noisy to choose an epoch on.
    val_fraction : float
        Share of the training fold held out for validation; 0 disables early stopping (the last
        epoch is kept).
    val_grouping : {"protocol", "trial", "subject", "segment"}
        How the validation split is carved.  ``"protocol"`` (default) groups it like the protocol
        groups its test fold: by trial for ``trial-kfold``, by subject for ``loso``, by segment for
        the leaky segment protocols (as the papers do).  A validation split that shares trials with
        the training data would reward memorising trials and pick the wrong epoch.
    pos_weight : {"none", "balanced"}
        ``"balanced"`` weights positive examples by n_negative / n_positive of the training data.
    augment : AugmentConfig
        GBV-Net's batch augmentations (all off by default).
    device : str
        ``"auto"`` = CUDA → MPS → CPU.
    precision : {"auto", "fp32", "bf16", "fp16"}
        ``"auto"`` = bf16 autocast on CUDA where supported (fp16 + grad scaling otherwise), fp32
        elsewhere.
    num_workers : int
        DataLoader worker processes (0 = load in the training process, reproducible and simplest).
    seed : int
        Seeds python, numpy and torch, the shuffling order and the augmentations.
    deterministic : bool
        ``torch.use_deterministic_algorithms(True)`` while training on the CPU.
    progress : bool or None
        tqdm bars; ``None`` shows them in notebooks and terminals and hides them in CI logs (the
        logger then reports each epoch at DEBUG level and a summary at INFO level).
    checkpoint_interval_s : float
        With a checkpoint folder: write the checkpoint after the first epoch that ends this many
        seconds after the last write, and after the last epoch (0 = after every epoch).  A run
        killed in between resumes from the last checkpoint and ends the same; the interval only
        trades the time of writing against the epochs a crash would repeat (ours).
    bio_standardize : {None, "train_fold"}
        ``"train_fold"``: :func:`~emolab.train.sweep.run_fold` standardises every physiological
        channel with one mean and one standard deviation computed on the fold's training rows
        (:class:`~emolab.train.scaling.ChannelStandardizer`) and applies them to the training,
        validation and test rows alike: a normalisation that is the same for every trial, so it
        stamps no trial signature, and never sees the test fold.  ``None`` (default): the
        segments as stored.
    in_memory : bool
        :func:`~emolab.train.sweep.run_fold` gathers the fold's segments into memory once
        (:class:`~emolab.train.batches.InMemorySegments`) instead of reading items through a
        DataLoader every epoch.  Off for folds too large for memory (the pooled protocols on the
        whole of DEAP); it changes speed, not the order or content of the batches' data.
    balance : BalanceConfig or None
        How the branches of a fused model are trained or combined (:class:`BalanceConfig`);
        ``None``: jointly, as the papers.
    """

    task: str = "valence"
    modalities: tuple[str, ...] = ("face", "bio")
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    epochs: int = 30
    patience: int = 5
    monitor: str = "val_loss"
    keep: str = "best"
    val_fraction: float = 0.1
    val_grouping: str = "protocol"
    pos_weight: str = "none"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    device: str = "auto"
    precision: str = "auto"
    num_workers: int = 0
    seed: int = 0
    deterministic: bool = True
    progress: bool | None = None
    grad_clip: float | None = None
    checkpoint_interval_s: float = 0.0
    in_memory: bool = True
    bio_standardize: str | None = None
    balance: BalanceConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.balance, dict):
            self.balance = BalanceConfig(**self.balance)
        if isinstance(self.augment, dict):
            aug = dict(self.augment)
            if "blur_sigma" in aug:
                aug["blur_sigma"] = tuple(aug["blur_sigma"])
            self.augment = AugmentConfig(**aug)
        self.modalities = tuple(self.modalities)
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {self.modalities!r}")
        if self.monitor not in ("val_loss", "val_balanced_accuracy"):
            raise ValueError(f'monitor must be "val_loss" or "val_balanced_accuracy", got {self.monitor!r}')
        if self.keep not in ("best", "last"):
            raise ValueError(f'keep must be "best" or "last", got {self.keep!r}')
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.val_grouping not in ("protocol", "trial", "subject", "segment"):
            raise ValueError(f"unknown val_grouping {self.val_grouping!r}")
        if self.pos_weight not in ("none", "balanced"):
            raise ValueError(f'pos_weight must be "none" or "balanced", got {self.pos_weight!r}')
        if self.checkpoint_interval_s < 0:
            raise ValueError(f"checkpoint_interval_s must be >= 0, got {self.checkpoint_interval_s}")
        if self.bio_standardize not in STANDARDIZE:
            raise ValueError(f"bio_standardize must be one of {STANDARDIZE}, got {self.bio_standardize!r}")
        if self.batch_size < 1 or self.epochs < 1 or self.patience < 1:
            raise ValueError("batch_size, epochs and patience must be positive")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``dataclasses.asdict`` with tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error (typos must not pass silently)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def fingerprint(self, *, exclude: tuple[str, ...] = ("progress", "num_workers", "checkpoint_interval_s",
                                                         "in_memory")) -> str:
        """Short hash of the settings that change results (used to refuse resuming a different run)."""
        d = {k: v for k, v in self.to_dict().items() if k not in exclude}
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
