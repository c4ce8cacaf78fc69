"""Named grids: what each chapter trains, in the one registry that the chapters, ``emolab sweep``
and the claim checks all read; and each model's paper protocol.

A :class:`Grid` says which cells to train — models × modality sets × tasks × protocols — and on
which data: ``synthetic`` lists the knobs of the synthetic data, one dataset per entry (``{}``:
the chapter's own data, synthetic or real), and ``preprocessing`` how its segments differ from
the profile's (:meth:`Grid.profile`).  A grid with knobs needs the synthetic generator (chapter
05's control, chapter 09's trial-signature sources); with a real data folder it is skipped with a
log line saying why (:func:`runnable_grids`).

The protocol name ``"paper"`` in a grid stands for each model's own paper protocol
(:func:`paper_protocol`, the one place that says which): Safavi et al. per subject over 1 s
segments (``"paper-segment-kfold"``) :cite:`safavi_deep_multimodal`, GBV-Net over every
subject's segments pooled (``"pooled-segment-kfold"``) :cite:`yu2025gbvnet`.  Every other name
is a protocol of :data:`emolab.train.protocols.PROTOCOLS` and means the same for every model:
chapter 05 runs both architectures under ``"paper-segment-kfold"`` so that they are compared on
one protocol, chapters 07-08 run each under its own paper's.

>>> ex.grid("unimodal").models                                               # doctest: +SKIP
('safavi', 'gbvnet')
>>> ex.run_grid(dataset, **ex.grid("unimodal").kwargs(), profile="smoke")   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from emolab._logging import logger

__all__ = ["BALANCE_ARMS", "FUSION_ARMS", "GRIDS", "MODALITY_DROPOUT", "NO_SIGNATURE_KNOBS", "NO_SIGNATURE_PREPROCESSING", "OPTION_ARMS",
           "PAPER_PROTOCOL", "PREPROCESSING",
           "SIGNATURE_SOURCES", "PAPER_PROTOCOLS", "Grid", "grid", "grids", "paper_protocol", "resolve_protocols",
           "runnable_grids"]

#: The grid protocol that stands for each model's own paper protocol (:func:`paper_protocol`).
PAPER_PROTOCOL = "paper"

#: The protocol each paper evaluates with: Safavi et al. per subject over shuffled 1 s segments
#: :cite:`safavi_deep_multimodal`, GBV-Net over every subject's segments pooled
#: :cite:`yu2025gbvnet`.
PAPER_PROTOCOLS = {"safavi": "paper-segment-kfold", "gbvnet": "pooled-segment-kfold"}


def paper_protocol(model: str) -> str:
    """The protocol ``model``'s paper evaluates with (:data:`PAPER_PROTOCOLS`); ``KeyError``
    naming the known models."""
    try:
        return PAPER_PROTOCOLS[model]
    except KeyError:
        raise KeyError(f"no paper protocol for model {model!r}; known: {sorted(PAPER_PROTOCOLS)}") from None


def resolve_protocols(model: str, protocols: Sequence[str]) -> tuple[str, ...]:
    """``protocols`` with :data:`PAPER_PROTOCOL` replaced by ``model``'s paper protocol."""
    return tuple(paper_protocol(model) if p == PAPER_PROTOCOL else p for p in protocols)


@dataclass(frozen=True)
class Grid:
    """One grid of cells and the data it runs on.

    Attributes
    ----------
    name : str
        The registry's name (:data:`GRIDS`), e.g. ``"unimodal"``.
    chapter : str
        The chapter that trains it, e.g. ``"05"``.
    models : tuple of str
    modalities : tuple of tuple of str
        Modality sets, e.g. ``(("bio",), ("face",))``.
    tasks, protocols : tuple of str
        ``"paper"`` among the protocols means each model's paper protocol
        (:func:`paper_protocol`).
    synthetic : tuple of dict
        Knobs of the synthetic data, one dataset per entry; ``({},)``: the chapter's own data.
    preprocessing : dict
        Changes of the profile's preprocessing for this grid (keys of :data:`PREPROCESSING`:
        ``baseline``, ``normalize``); ``{}``: the profile's own.  :meth:`profile` applies them.
    arm : str
        The fusion arm (a key of :data:`FUSION_ARMS`): ``"joint"`` is the papers' model trained
        jointly; another arm adds an option only a fused model can have (its model arguments and
        training settings), with the same recipe.
    """

    name: str
    chapter: str
    models: tuple[str, ...]
    modalities: tuple[tuple[str, ...], ...]
    tasks: tuple[str, ...] = ("valence", "arousal")
    protocols: tuple[str, ...] = ("paper-segment-kfold", "trial-kfold")
    synthetic: tuple[Mapping[str, Any], ...] = field(default=({},))
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    arm: str = "joint"

    def __post_init__(self) -> None:
        if self.arm not in FUSION_ARMS:
            raise ValueError(f"grid {self.name!r}: arm {self.arm!r} unknown; known: {list(FUSION_ARMS)}")
        unknown = sorted(set(self.preprocessing) - set(PREPROCESSING))
        if unknown:
            raise ValueError(f"grid {self.name!r}: preprocessing keys {unknown} unknown; known: {list(PREPROCESSING)}")
        object.__setattr__(self, "preprocessing", dict(self.preprocessing))
        for key in ("models", "tasks", "protocols"):
            value = getattr(self, key)
            if isinstance(value, str) or not isinstance(value, Sequence) or not value:
                raise ValueError(f"grid {self.name!r}: {key} must be a non-empty list, got {value!r}")
            object.__setattr__(self, key, tuple(value))
        mods = self.modalities
        if isinstance(mods, str) or not mods or not all(isinstance(m, Sequence) and not isinstance(m, str)
                                                         for m in mods):  # fmt: skip
            raise ValueError(f"grid {self.name!r}: modalities must be a list of lists, e.g. [[face, bio], [bio]], "
                             f"got {mods!r}")  # fmt: skip
        object.__setattr__(self, "modalities", tuple(tuple(m) for m in mods))
        synthetic = self.synthetic
        if isinstance(synthetic, Mapping):
            synthetic = (synthetic,)
        if not synthetic or not all(isinstance(s, Mapping) for s in synthetic):
            raise ValueError(f"grid {self.name!r}: synthetic must be a list of knob mappings, got {self.synthetic!r}")
        object.__setattr__(self, "synthetic", tuple(dict(s) for s in synthetic))

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """The :func:`~emolab.models.build_model` arguments of this grid's :attr:`arm`."""
        return dict(FUSION_ARMS[self.arm].get("model_kwargs", {}))

    @property
    def train(self) -> dict[str, Any]:
        """The training settings of this grid's :attr:`arm` (over the architecture's recipe)."""
        return copy.deepcopy(FUSION_ARMS[self.arm].get("train", {}))

    @property
    def synthetic_only(self) -> bool:
        """True when the grid sets knobs of the synthetic generator (it cannot run on real data)."""
        return any(self.synthetic)

    def profile(self, profile: Any = "smoke") -> Any:
        """``profile`` (a name or an :class:`~emolab.experiments.ExperimentProfile`) with this
        grid's :attr:`preprocessing` changes: the profile to prepare its segments and run it with."""
        from emolab.experiments.profiles import get_profile

        return get_profile(profile, **self.preprocessing)

    def kwargs(self) -> dict[str, Any]:
        """``models``, ``modalities``, ``tasks``, ``protocols`` (and an arm's ``model_kwargs`` and
        ``train``) as
        the keyword arguments of :func:`~emolab.experiments.grid_cells` and
        :func:`~emolab.experiments.run_grid`."""
        out = {"models": list(self.models), "modalities": [tuple(m) for m in self.modalities],
               "tasks": list(self.tasks), "protocols": list(self.protocols)}  # fmt: skip
        if self.model_kwargs:
            out["model_kwargs"] = self.model_kwargs
        if self.train:
            out["train"] = self.train
        return out

    def to_dict(self) -> dict[str, Any]:
        """The grid as the dict ``emolab sweep`` reads (:mod:`emolab.sweep_config`)."""
        out = {**self.kwargs(), "synthetic": [dict(s) for s in self.synthetic]}
        if self.preprocessing:
            out["preprocessing"] = dict(self.preprocessing)
        return out


def _balance(method: str) -> dict[str, Any]:
    """A fusion arm's training settings for a :class:`~emolab.train.config.BalanceConfig` method,
    with every setting written out (so that the results table names them)."""
    from emolab.train.config import BalanceConfig

    return {"balance": dataclasses.asdict(BalanceConfig(method=method))}


#: Ours: the share of training samples whose face or bio features (one of the two, at random) are
#: zeroed in the modality-dropout arm.  Half the samples then train one encoder alone; not tuned.
MODALITY_DROPOUT = 0.5

#: Options only a fused model can have, each an arm of its own beside the papers' joint model
#: (``{arm: {"model_kwargs": build_model arguments, "train": TrainConfig fields}}``), trained
#: with the architecture's one recipe.  Ours, chapters 06-07: one linear classifier per modality
#: beside the fused head, their losses added (:class:`~emolab.models.MultimodalModel`), and each
#: branch's features standardised before the fusion, so that neither branch dominates by scale
#: alone.  Chapter 10's remedies for modality imbalance (:data:`BALANCE_ARMS`,
#: :mod:`emolab.train.balance`): the late ensemble of unimodal models :cite:p:`du2023unimodal`,
#: Gradient Blending :cite:p:`wang2020makes`, OGM-GE :cite:p:`peng2022balanced` and modality
#: dropout.
FUSION_ARMS: dict[str, dict[str, Any]] = {
    "joint": {},
    "auxiliary heads": {"model_kwargs": {"auxiliary_heads": True}},
    "standardised features": {"model_kwargs": {"normalize_features": True}},
    "late ensemble": {"train": _balance("late ensemble")},
    "gradient blending": {"model_kwargs": {"auxiliary_heads": True}, "train": _balance("gradient blending")},
    "ogm-ge": {"train": _balance("ogm-ge")},
    "modality dropout": {"model_kwargs": {"modality_dropout": MODALITY_DROPOUT}},
}

#: Chapters 06-07's arms beside the joint model.
OPTION_ARMS = ("auxiliary heads", "standardised features")

#: Chapter 10's arms: joint training and each remedy for modality imbalance.
BALANCE_ARMS = ("joint", "late ensemble", "gradient blending", "ogm-ge", "modality dropout", "auxiliary heads")

#: Profile fields a grid may change (:attr:`Grid.preprocessing`).
PREPROCESSING = ("baseline", "normalize")

#: Synthetic knobs with every per-trial signature of the generator off: no trial fingerprint, no
#: per-trial recording nuisance, ratings without self-assessment noise.
NO_SIGNATURE_KNOBS = {"fingerprint": 0.0, "trial_nuisance": 0.0, "label_noise": 0.0}

#: Preprocessing that stamps no trial signature: nothing subtracted, each channel standardised
#: with statistics of the fold's training rows.
NO_SIGNATURE_PREPROCESSING = {"baseline": False, "normalize": "train_fold"}

#: Chapter 09's trial-signature sources, each switched on alone over the control
#: (``{source: (synthetic knobs, preprocessing)}``); ``"none"`` is the control and ``"all"`` the
#: book's own data and preprocessing.
#: The sources' data is bio-only (``face_subjects=0``: no video is rendered, so each store builds
#: in seconds), except ``"all"``: the data of chapters 05-08, whose bio-only cells chapter 05 trains.
_OFF = {**NO_SIGNATURE_KNOBS, "face_subjects": 0}
SIGNATURE_SOURCES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "none": (_OFF, NO_SIGNATURE_PREPROCESSING),
    "fingerprint": ({**_OFF, "fingerprint": 1.0}, NO_SIGNATURE_PREPROCESSING),
    "baseline template": (_OFF, {**NO_SIGNATURE_PREPROCESSING, "baseline": True}),
    "per-trial normalisation": (_OFF, {**NO_SIGNATURE_PREPROCESSING, "normalize": "baseline_std"}),
    "recording nuisances": ({**_OFF, "trial_nuisance": 1.0}, NO_SIGNATURE_PREPROCESSING),
    "rating noise": ({**_OFF, "label_noise": 0.5}, NO_SIGNATURE_PREPROCESSING),
    "all": ({}, {}),
}

_BOTH = ("safavi", "gbvnet")
_ALL_MODALITIES = (("bio",), ("face",), ("face", "bio"))

#: Every chapter's grids, by name: ``{name: (Grid, ...)}`` (a name may hold several grids, e.g.
#: the control's two modality × task pairs).
GRIDS: dict[str, tuple[Grid, ...]] = {
    # chapter 05: each modality alone, under segment k-fold per subject (Safavi et al.'s
    # protocol, the same for both architectures) and trial-kfold
    "unimodal": (Grid("unimodal", "05", _BOTH, (("bio",), ("face",))),),
    # chapter 05's control: the same, on synthetic data and preprocessing without any trial
    # signature, for the modality that carries each task
    "control": tuple(Grid("control", "05", _BOTH, ((mod,),), tasks=(task,), synthetic=(NO_SIGNATURE_KNOBS,),
                          preprocessing=NO_SIGNATURE_PREPROCESSING)
                     for mod, task in (("face", "valence"), ("bio", "arousal"))),  # fmt: skip
    # chapter 06: Safavi et al.'s concatenation fusion beside its halves
    "concat": (Grid("concat", "06", ("safavi",), _ALL_MODALITIES),),
    # chapter 06: each option only a fused model can have, as an arm of its own (leak-free)
    "concat arms": tuple(Grid("concat arms", "06", ("safavi",), (("face", "bio"),), protocols=("trial-kfold",),
                              arm=arm) for arm in OPTION_ARMS),
    # chapter 07: GBV-Net's gated fusion under its paper's protocol and trial-kfold (its
    # checkpoints are kept, for the gates)
    "gated": (Grid("gated", "07", ("gbvnet",), (("face", "bio"),), protocols=(PAPER_PROTOCOL, "trial-kfold")),),
    # chapter 07: both fusions beside their halves, leak-free
    "fusion": (Grid("fusion", "07", _BOTH, _ALL_MODALITIES, protocols=("trial-kfold",)),),
    # chapter 07: GBV-Net's fused model with each fused-only option, leak-free
    "gated arms": tuple(Grid("gated arms", "07", ("gbvnet",), (("face", "bio"),), protocols=("trial-kfold",),
                             arm=arm) for arm in OPTION_ARMS),
    # chapter 08: each architecture under its paper's protocol and both leak-free ones
    "results": (Grid("results", "08", _BOTH, _ALL_MODALITIES, protocols=(PAPER_PROTOCOL, "trial-kfold", "loso")),),
    # chapter 10: both fusions trained jointly and with each remedy for modality imbalance,
    # leak-free (the joint and auxiliary-heads cells are chapters 06-07's)
    "balance": tuple(Grid("balance", "10", _BOTH, (("face", "bio"),), protocols=("trial-kfold",), arm=arm)
                     for arm in BALANCE_ARMS),
    # chapter 09: one deep model, bio only, with each trial-signature source switched on alone
    # (SIGNATURE_SOURCES), under segment k-fold and trial-kfold
    "signatures": tuple(Grid("signatures", "09", ("gbvnet",), (("bio",),), tasks=("arousal",),
                             protocols=("paper-segment-kfold", "trial-kfold"), synthetic=(knobs,),
                             preprocessing=prep)
                        for knobs, prep in SIGNATURE_SOURCES.values()),
}  # fmt: skip


def grids(name: str) -> tuple[Grid, ...]:
    """The grids registered under ``name``, or every grid for ``"all"``; ``KeyError`` naming the
    known names."""
    if name == "all":
        return tuple(g for gs in GRIDS.values() for g in gs)
    try:
        return GRIDS[name]
    except KeyError:
        raise KeyError(f"unknown grid {name!r}; known: {sorted(GRIDS)} or 'all'") from None


def grid(name: str) -> Grid:
    """The one grid registered under ``name`` (``ValueError`` when the name holds several)."""
    found = grids(name)
    if len(found) != 1:
        raise ValueError(f"{name!r} holds {len(found)} grids; use grids({name!r})")
    return found[0]


def runnable_grids(found: Sequence[Grid], *, data_root: Any) -> list[Grid]:
    """``found`` without the grids that need the synthetic generator when ``data_root`` names
    real data, with a log line for each one left out."""
    if data_root is None:
        return list(found)
    kept = []
    for g in found:
        if g.synthetic_only:
            logger.warning("grid %r (chapter %s) is skipped: it sets knobs of the synthetic generator %s, "
                           "which real data (%s) does not have", g.name, g.chapter, list(g.synthetic), data_root)  # fmt: skip
        else:
            kept.append(g)
    return kept
