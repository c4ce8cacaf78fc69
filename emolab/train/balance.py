"""Modality imbalance: measuring it while a fused model trains, and the remedies of the
multimodal-learning literature (chapter 10).

Trained jointly through one loss on the fused output, the branch whose modality fits the
training data fastest can carry the loss alone and leave the other encoder under-trained
:cite:p:`wang2020makes,peng2022balanced,du2023unimodal`.  This module holds the pieces:

* :class:`BranchProbes` — a linear probe on each encoder's features, fitted after every epoch
  on the features the training batches produced, scored on held-out segments of the training
  trials and on the validation rows: how well, and how fast, each branch alone fits its training
  trials, and how much of that carries to new ones.  The probes read copies of detached features
  and draw from no torch random stream, so measuring changes nothing in the training (tested).
* :class:`GradientModulation` — OGM-GE :cite:p:`peng2022balanced` adapted to Adam.
* :func:`blending_weights` — Gradient Blending's loss weights from a pilot run
  :cite:p:`wang2020makes`.
* :func:`mixing_weight` — the late ensemble's mixing weight :cite:p:`du2023unimodal`.
* :func:`inner_split` — the held-out training trials the last two are measured on.

Modality dropout and auxiliary heads are options of :class:`~emolab.models.MultimodalModel`;
the fold runners of the late ensemble and of Gradient Blending are in
:func:`emolab.train.sweep.run_fold`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from emolab._logging import logger
from emolab.models.multimodal import ModelOutput
from emolab.train.protocols import validation_split

__all__ = ["BranchProbes", "GradientModulation", "HEADS", "blending_terms", "blending_weights", "encoder_param_groups",
           "head_losses", "inner_split", "mix", "mixing_weight"]  # fmt: skip

#: The heads of a fused model with auxiliary heads, as Gradient Blending weighs them.
HEADS = ("fused", "face", "bio")


def inner_split(metadata: pd.DataFrame, train_idx: np.ndarray, *, labels: np.ndarray, fraction: float,
                seed: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The training rows split by trial: ``(fit rows, held-out rows)``, about ``fraction`` of the
    training trials held out (at least one; :func:`~emolab.train.protocols.validation_split`
    grouped by trial).  Only ``train_idx`` is read: the test fold never enters.

    Raises ``ValueError`` when the training rows hold a single trial.
    """
    fit, held = validation_split(metadata, np.asarray(train_idx), grouping="trial", val_fraction=fraction,
                                 labels=labels, seed=seed)  # fmt: skip
    if len(held) == 0 or len(fit) == 0:
        raise ValueError(f"cannot hold out {fraction:.0%} of the training trials by trial: the training rows "
                         f"hold {len(train_idx)} segments of too few trials")  # fmt: skip
    return fit, held


# ------------------------------------------------------------------------------------- probes
def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class BranchProbes:
    """Linear probes on each encoder's features, fitted after every epoch (a diagnostic).

    Pass it to :class:`~emolab.train.trainer.Trainer` as an observer
    (:func:`~emolab.train.sweep.run_fold` does so for every fused
    :class:`~emolab.models.MultimodalModel`).  During an epoch it keeps a copy of the detached
    features of every training batch (:attr:`ModelOutput.features <emolab.models.ModelOutput>`,
    ``(B, D_m)`` per modality) with their targets, and those of the evaluation passes (the
    validation rows).  At the end of the epoch, before the epoch is recorded and checkpointed, it
    fits per modality a logistic regression on the standardised features and writes to the
    epoch's record:

    ``probe_<m>_train_loss`` / ``probe_<m>_train_accuracy``
        binary cross-entropy and accuracy on segments of the *training trials*, each scored by a
        probe fitted on the other training segments (``n_folds``-fold over segments, so the
        segments of one trial sit on both sides): how well a linear read-out of that encoder
        recognises the trials it trains on.  Not scored on the rows it was fitted on: with a few
        dozen rows and 64-128 features, a probe fits even random features perfectly;
    ``probe_<m>_val_loss`` / ``probe_<m>_val_accuracy``
        a probe fitted on all training segments, scored on the validation rows (new trials;
        NaN without them).

    The gap between the two is how much of a branch's fit is particular to the training trials.
    The features of a training batch are those the fusion head saw (training mode: dropout and
    augmentation on), collected as the weights change through the epoch; a cheap stand-in for a
    second pass over the training rows, which would cost a third of an epoch.  Nothing here draws
    from torch's random streams or touches a gradient, so a model trains identically with or
    without probes (``tests/test_balance.py``).  After :meth:`Trainer.predict
    <emolab.train.trainer.Trainer.predict>` on the test rows, :meth:`predict` gives each
    probe's logits on them (the probe of the epoch whose weights the trainer kept).

    Parameters
    ----------
    modalities : sequence of str
        The model's modalities, e.g. ``("face", "bio")``.
    C : float
        Inverse L2 strength of the logistic regressions (scikit-learn's default; the intercept is
        not penalised).
    n_folds : int
        Folds over the training segments for the training measures.
    seed : int
        Seeds the assignment of training segments to those folds (NumPy, not torch).
    """

    def __init__(self, modalities: Sequence[str], *, C: float = 1.0, n_folds: int = 3, seed: int = 0) -> None:
        self.modalities = tuple(modalities)
        self.C, self.n_folds, self.seed = float(C), int(n_folds), int(seed)
        self.fitted: dict[int, dict[str, object]] = {}  # epoch -> {modality: pipeline or None}
        self._epoch_open = False
        self._reset()

    def _reset(self, which: str = "both") -> None:
        if which in ("both", "train"):
            self._train = {m: [] for m in self.modalities}
            self._y_train: list[np.ndarray] = []
        if which in ("both", "eval"):
            self._eval = {m: [] for m in self.modalities}
            self._y_eval: list[np.ndarray] = []

    def batch(self, training: bool, out: ModelOutput | None, y: torch.Tensor) -> None:
        """Keep a copy of one batch's features (the trainer calls this after every forward pass).

        Raises ``ValueError`` when the model returned no features of its modalities."""
        if out is None or any(m not in out.features for m in self.modalities):
            raise ValueError(f"BranchProbes needs each encoder's features {self.modalities} in the model's "
                             f"ModelOutput (a MultimodalModel called with return_branches=True)")  # fmt: skip
        if training and not self._epoch_open:  # a new epoch: the evaluation rows start afresh
            self._reset()
            self._epoch_open = True
        buf, ys = (self._train, self._y_train) if training else (self._eval, self._y_eval)
        for m in self.modalities:
            buf[m].append(out.features[m].detach().float().cpu().numpy().copy())
        ys.append(y.detach().float().cpu().numpy().copy())

    def _fit(self, X: np.ndarray, y: np.ndarray):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if len(np.unique(y)) < 2:
            return None  # one class: nothing to separate
        # Newton steps on 60-odd rows of 64-128 features: a few milliseconds (lbfgs takes ten times longer)
        probe = LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=100)
        return make_pipeline(StandardScaler(), probe).fit(X, y)

    def _cross_fit(self, X: np.ndarray, y: np.ndarray, epoch: int) -> np.ndarray:
        """Each training segment's probability from a probe fitted on the other folds (NaN where a
        fold's complement holds one class)."""
        rng = np.random.default_rng(self.seed * 1_000_003 + epoch)
        folds = rng.permutation(len(y)) % self.n_folds
        p = np.full(len(y), np.nan)
        for k in range(self.n_folds):
            probe = self._fit(X[folds != k], y[folds != k])
            if probe is not None and (folds == k).any():
                p[folds == k] = probe.predict_proba(X[folds == k])[:, 1]
        return p

    def epoch_end(self, trainer, record: dict) -> None:
        """Fit each probe and write its losses and accuracies into ``record`` (the trainer calls
        this at the end of every epoch, before recording and checkpointing it)."""
        epoch = int(record["epoch"])
        y_tr = np.concatenate(self._y_train) if self._y_train else np.zeros(0)
        y_ev = np.concatenate(self._y_eval) if self._y_eval else np.zeros(0)
        self.fitted[epoch] = {}
        for m in self.modalities:
            stats = dict.fromkeys(("train_loss", "train_accuracy", "val_loss", "val_accuracy"), float("nan"))
            X_tr = np.concatenate(self._train[m]) if self._train[m] else np.zeros((0, 1))
            probe = self._fit(X_tr, y_tr) if len(y_tr) else None
            self.fitted[epoch][m] = probe
            if probe is not None:
                p = self._cross_fit(X_tr, y_tr, epoch)
                ok = ~np.isnan(p)
                if ok.any():
                    stats["train_loss"], stats["train_accuracy"] = _log_loss(y_tr[ok], p[ok]), float(np.mean((p[ok] >= 0.5) == y_tr[ok]))
                if len(y_ev):
                    q = probe.predict_proba(np.concatenate(self._eval[m]))[:, 1]
                    stats["val_loss"], stats["val_accuracy"] = _log_loss(y_ev, q), float(np.mean((q >= 0.5) == y_ev))
            record.update({f"probe_{m}_{k}": v for k, v in stats.items()})
        self._epoch_open = False
        self._reset("eval")

    def start_test(self) -> None:
        """Forget the evaluation features kept so far (call before predicting the test rows)."""
        self._reset("eval")

    def predict(self, epoch: int | None) -> dict[str, np.ndarray]:
        """Each probe's logits on the rows of the evaluation passes since :meth:`start_test`,
        ``{"probe_face": (n,), "probe_bio": (n,)}``, with the probes of ``epoch`` (the trainer's
        ``best_epoch``; ``None``: the last).  NaN where the probe could not be fitted (one
        class), and everywhere, with a warning, when ``epoch`` was trained before a resume from a
        checkpoint (its probes are not kept)."""
        if not self.fitted:
            return {}
        epoch = max(self.fitted) if epoch is None else int(epoch)
        probes = self.fitted.get(epoch)
        if probes is None:
            logger.warning("BranchProbes: epoch %d was trained before the run resumed, its probes are not kept; "
                           "the probes' test logits are NaN", epoch)  # fmt: skip
        out = {}
        for m in self.modalities:
            if not self._eval[m]:
                return {}
            X = np.concatenate(self._eval[m])
            probe = None if probes is None else probes[m]
            out[f"probe_{m}"] = (np.full(len(X), np.nan) if probe is None
                                 else probe.decision_function(X).astype(np.float64))  # fmt: skip
        return out


# -------------------------------------------------------------------------------- modulation
def encoder_param_groups(model: torch.nn.Module) -> list[dict]:
    """The model's parameters in optimiser groups ``[face encoder, bio encoder, the rest]``, each
    named by its ``"name"`` key, so that one encoder's learning rate can change alone."""
    groups = []
    seen: set[int] = set()
    for name in ("face", "bio"):
        enc = getattr(model, f"{name}_encoder", None)
        if enc is None:
            raise ValueError(f"gradient modulation needs a model with a face and a bio encoder; "
                             f"{type(model).__name__} has no {name}_encoder")  # fmt: skip
        params = list(enc.parameters())
        seen.update(id(p) for p in params)
        groups.append({"params": params, "name": name})
    groups.append({"params": [p for p in model.parameters() if id(p) not in seen], "name": "rest"})
    return groups


class GradientModulation:
    """On-the-fly gradient modulation with generalisation enhancement (OGM-GE,
    :cite:p:`peng2022balanced`), adapted to Adam.

    After each backward pass, each modality's score is the summed probability of the true class
    that the fusion head gives from that modality alone (:meth:`MultimodalModel.alone
    <emolab.models.MultimodalModel.alone>`; ours — the paper splits a linear fusion layer, which
    the MLP and gated heads here do not have).  With the ratio ``rho = score_face / score_bio``,
    the leading modality ``u`` (``rho_u > 1``) gets the coefficient ``k_u = 1 - tanh(alpha *
    rho_u)``, the other 1 (the paper's equation).  The paper multiplies the leading encoder's
    gradient by ``k_u`` under SGD; Adam divides every gradient by a running estimate of its own
    size, so a factor that changes slowly cancels out and the step stays the same.  Here the leading
    encoder's *learning rate* is multiplied by ``k_u`` instead, which Adam does not undo (ours).
    With ``noise``, Gaussian noise with each parameter's gradient standard deviation is added to
    the encoders' gradients (the paper's GE), drawn from a generator seeded by the training seed
    and the epoch.  Two differences from the authors' code, both ours: the noise goes to every
    encoder parameter with more than one element (their code: the convolution kernels), and it
    is added to the unscaled gradient, so under Adam it is slowed by the same learning-rate
    factor as the gradient.

    Every step's coefficients are kept; :meth:`epoch_record` gives the epoch's means
    (``ogm_coeff_face``, ``ogm_coeff_bio``, ``ogm_ratio``: mean face/bio score ratio,
    ``ogm_face_leads``: share of steps where the face led).

    Parameters
    ----------
    model : MultimodalModel
        With a face and a bio encoder.
    optimizer : torch.optim.Optimizer
        Built on :func:`encoder_param_groups` of ``model``.
    lr : float
        The recipe's learning rate.
    alpha : float
    noise : bool
    seed : int
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, lr: float, alpha: float,
                 noise: bool, seed: int) -> None:  # fmt: skip
        self.model, self.optimizer = model, optimizer
        self.lr, self.alpha, self.noise = float(lr), float(alpha), bool(noise)
        names = [g.get("name") for g in optimizer.param_groups]
        if names[:2] != ["face", "bio"]:
            raise ValueError(f"the optimiser's parameter groups must start with the face and bio encoders "
                             f"(encoder_param_groups), got {names}")  # fmt: skip
        self.seed = int(seed)
        self.generator = torch.Generator()
        self.start_epoch(0)
        self.steps: list[dict[str, float]] = []

    def start_epoch(self, epoch: int) -> None:
        """Seed GE's noise by ``(seed, epoch)``: a run resumed from a checkpoint draws the same."""
        self.generator.manual_seed(self.seed * 1_000_003 + int(epoch) * 7_919 + 17)

    def coefficients(self, out: ModelOutput, y: torch.Tensor) -> dict[str, float]:
        """``{"face": k_face, "bio": k_bio, "ratio": rho_face}`` for one batch."""
        alone = self.model.alone(out.features)
        yb = y.reshape(-1, 1).float()
        score = {}
        for m, z in alone.items():
            p = torch.sigmoid(z.float())
            score[m] = float((yb * p + (1 - yb) * (1 - p)).sum())
        ratio = score["face"] / max(score["bio"], 1e-12)
        k = {"face": 1.0, "bio": 1.0}
        if ratio > 1:
            k["face"] = 1.0 - math.tanh(self.alpha * ratio)
        elif ratio < 1:
            k["bio"] = 1.0 - math.tanh(self.alpha / max(ratio, 1e-12))
        return {**k, "ratio": ratio}

    def after_backward(self, out: ModelOutput, y: torch.Tensor) -> None:
        """Set this step's learning rates (and add GE's noise) before the optimiser steps."""
        if out is None or not out.features:
            raise ValueError("gradient modulation needs the model's features (a MultimodalModel called with "
                             "return_branches=True)")  # fmt: skip
        c = self.coefficients(out, y)
        for group in self.optimizer.param_groups[:2]:
            group["lr"] = self.lr * c[group["name"]]
            if self.noise:
                for p in group["params"]:
                    if p.grad is not None and p.grad.numel() > 1:
                        std = float(p.grad.detach().float().std())
                        noise = torch.randn(p.grad.shape, generator=self.generator) * (std + 1e-8)
                        p.grad.add_(noise.to(device=p.grad.device, dtype=p.grad.dtype))
        self.steps.append(c)

    def epoch_record(self) -> dict[str, float]:
        """The epoch's mean coefficients and score ratio; starts the next epoch's tally."""
        if not self.steps:
            return {}
        s = pd.DataFrame(self.steps)
        self.steps = []
        return {"ogm_coeff_face": float(s["face"].mean()), "ogm_coeff_bio": float(s["bio"].mean()),
                "ogm_ratio": float(s["ratio"].mean()), "ogm_face_leads": float((s["ratio"] > 1).mean())}  # fmt: skip


# ---------------------------------------------------------------------------------- blending
def blending_terms(curves: pd.DataFrame) -> pd.DataFrame:
    """Gradient Blending's two measurements per head from a pilot's curves (see
    :func:`blending_weights` for ``curves``): ``gain`` = held-out loss at the first row minus at
    the last, ``overfit`` = growth of (held-out minus training loss) between them; one row per
    head.  ``ValueError`` when a loss is missing or not finite."""
    need = {"epoch", "head", "train_loss", "held_loss"}
    if not need <= set(curves.columns):
        raise ValueError(f"pilot curves need columns {sorted(need)}, got {sorted(curves.columns)}")
    if not np.isfinite(curves[["train_loss", "held_loss"]].to_numpy(dtype=float)).all():
        raise ValueError("the pilot's losses hold NaN or infinite values; its weights cannot be measured")
    rows = {}
    for head, g in curves.sort_values("epoch").groupby("head", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        rows[head] = {"gain": first["held_loss"] - last["held_loss"],
                      "overfit": (last["held_loss"] - last["train_loss"]) - (first["held_loss"] - first["train_loss"])}
    return pd.DataFrame.from_dict(rows, orient="index")


def blending_weights(curves: pd.DataFrame, *, floor: float = 1e-3, min_fused: float = 0.01) -> dict[str, float]:
    """Gradient Blending's loss weights from a pilot run :cite:p:`wang2020makes`.

    For every head ``k`` (``"fused"``, ``"face"``, ``"bio"``) between the pilot's first and last
    rows: the generalisation gain ``G_k`` (how much the held-out loss fell) and the overfitting
    ``O_k`` (how much the gap between held-out and training loss grew).  The weight is
    proportional to ``G_k / O_k**2``: a head whose held-out loss falls while its training loss
    falls no faster gets much, a head that mostly memorises gets little.  ``G_k <= 0`` gives 0
    (the head did not generalise); ``O_k`` is floored at ``floor`` (ours: a head that did not
    overfit at all would otherwise take the whole weight from a division by zero; with the floor
    such a head still takes nearly all of it, which is what the formula says of a head that
    generalises without overfitting).  The weights
    sum to 1; when no head generalised, they are equal (and a warning says so).  The fused head,
    through which the model answers, keeps at least ``min_fused`` (ours): with weight 0 it would
    never train; under Adam a head's own parameters learn at the same pace for any positive
    weight (Adam divides each parameter's step by the size of its gradient), while the encoders'
    gradients still mix as the weights say.

    Parameters
    ----------
    curves : DataFrame
        One row per pilot epoch (0 = before training) and head: ``epoch``, ``head``,
        ``train_loss`` (on the rows the pilot trained on), ``held_loss`` (on the held-out
        training trials).

    Returns
    -------
    dict
        ``{head: weight}``.
    """
    terms = blending_terms(curves)
    raw = {head: (g / max(o, floor) ** 2 if g > 0 else 0.0) for head, (g, o) in terms.iterrows()}
    total = sum(raw.values())
    if total <= 0:
        logger.warning("gradient blending: no head's held-out loss fell in the pilot; the heads are weighted equally")
        return {h: 1.0 / len(raw) for h in raw}
    weights = {h: v / total for h, v in raw.items()}
    if "fused" in weights and weights["fused"] < min_fused:
        rest = 1.0 - weights["fused"]
        weights = {h: (min_fused if h == "fused" else w * (1 - min_fused) / rest) for h, w in weights.items()}
    return {h: float(w) for h, w in weights.items()}


# ---------------------------------------------------------------------------------- ensemble
def mix(p_face: np.ndarray, p_bio: np.ndarray, weight: float) -> np.ndarray:
    """The late ensemble's probability ``weight * p_face + (1 - weight) * p_bio``; where the face
    model has no answer (NaN: a segment without a detected face) the bio model's alone."""
    p_face, p_bio = np.asarray(p_face, dtype=float), np.asarray(p_bio, dtype=float)
    return np.where(np.isnan(p_face), p_bio, weight * p_face + (1 - weight) * p_bio)


def mixing_weight(p_face: np.ndarray, p_bio: np.ndarray, y: np.ndarray, *, steps: int = 11) -> tuple[float, pd.DataFrame]:
    """The face model's weight in the late ensemble :cite:p:`du2023unimodal`: of ``steps`` weights
    evenly spaced in [0, 1], the one whose mixed probabilities (:func:`mix`) have the lowest
    binary cross-entropy on ``y``, ties to the weight nearest 0.5.  Pass predictions on held-out
    *training* trials only.

    Returns ``(weight, table)``: the table has one row per weight tried (``weight``, ``loss``,
    ``accuracy``).
    """
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        raise ValueError("mixing_weight needs at least one held-out prediction")
    rows = []
    for w in np.linspace(0.0, 1.0, steps):
        p = mix(p_face, p_bio, w)
        rows.append({"weight": float(w), "loss": _log_loss(y, p), "accuracy": float(np.mean((p >= 0.5) == y))})
    table = pd.DataFrame(rows)
    best = table["loss"].min()
    tied = table[np.isclose(table["loss"], best, rtol=0, atol=1e-12)]
    weight = float(tied.loc[(tied["weight"] - 0.5).abs().idxmin(), "weight"])
    return weight, table


def head_losses(pred: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Binary cross-entropy of every head in a trainer's predictions (``logits`` = the fused head,
    ``logits_<m>`` = each branch's head)."""
    y = np.asarray(pred["y_true"], dtype=float)
    out = {}
    for head, col in (("fused", "logits"), *((m, f"logits_{m}") for m in ("face", "bio"))):
        if col in pred:
            z = torch.as_tensor(np.asarray(pred[col], dtype=np.float32))
            out[head] = float(torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(y).float()))
    return out
