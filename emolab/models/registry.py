"""Build the papers' models (and their ablations) by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from emolab.models.fusion import FUSION_HEADS
from emolab.models.gbvnet_bio import GBVNetBioEncoder
from emolab.models.gbvnet_face import GBVNetFaceEncoder
from emolab.models.multimodal import MODALITIES, MultimodalModel
from emolab.models.safavi_bio import SafaviBioEncoder
from emolab.models.safavi_face import SafaviFaceEncoder

# name -> (face encoder, bio encoder, the paper's fusion head)
_FAMILIES: dict[str, tuple[type[nn.Module], type[nn.Module], str]] = {
    "safavi": (SafaviFaceEncoder, SafaviBioEncoder, "concat"),
    "gbvnet": (GBVNetFaceEncoder, GBVNetBioEncoder, "gated"),
}

#: The model families :func:`build_model` knows.
MODEL_NAMES: tuple[str, ...] = tuple(_FAMILIES)
#: The fusion heads ``build_model(..., fusion=...)`` accepts.
FUSION_NAMES: tuple[str, ...] = tuple(FUSION_HEADS)


@dataclass
class ModelConfig:
    """Everything :func:`build_model` needs; saved next to results (``dataclasses.asdict``).

    ``build_model(**dataclasses.asdict(config))`` and ``config.build()`` give the same model.
    """

    name: str = "gbvnet"
    modalities: tuple[str, ...] = ("face", "bio")
    n_chans: int = 40
    n_times: int = 128
    n_frames: int = 5
    n_outputs: int = 1
    fusion: str | None = None  # None: the paper's head ("concat" for safavi, "gated" for gbvnet)
    image_size: int = 64
    face_kwargs: dict[str, Any] = field(default_factory=dict)
    bio_kwargs: dict[str, Any] = field(default_factory=dict)
    fusion_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    modality_dropout: float = 0.0
    normalize_features: bool = False
    auxiliary_heads: bool = False

    def build(self) -> MultimodalModel:
        """Build the model this config describes."""
        return build_model(**dataclasses.asdict(self))


def build_model(
    name: str,
    *,
    modalities: Sequence[str] = ("face", "bio"),
    n_chans: int = 40,
    n_times: int = 128,
    n_frames: int = 5,
    n_outputs: int = 1,
    fusion: str | None = None,
    image_size: int = 64,
    face_kwargs: dict[str, Any] | None = None,
    bio_kwargs: dict[str, Any] | None = None,
    fusion_kwargs: dict[str, Any] | None = None,
    seed: int | None = None,
    modality_dropout: float = 0.0,
    normalize_features: bool = False,
    auxiliary_heads: bool = False,
) -> MultimodalModel:
    """Build a paper's model, or one of its unimodal ablations, as a :class:`MultimodalModel`.

    Parameters
    ----------
    name : {"safavi", "gbvnet"}
        ``"safavi"``: Transformer bio encoder + CNN-LSTM face encoder + concatenation fusion
        :cite:p:`safavi_deep_multimodal`; ``"gbvnet"``: Local-Medium-Global bio encoder +
        ConvNeXt V2-lite/Transformer face encoder + gated fusion :cite:p:`yu2025gbvnet`.
    modalities : sequence of {"face", "bio"}
        Which encoders to include: ``("bio",)`` and ``("face",)`` are the unimodal ablations.
    n_chans, n_times : int
        Physiological input ``(C, L)``: DEAP ``(40, 128)``, MAHNOB-HCI ``(38, 128)``.
    n_frames : int
        Face frames per window ``T``: 5 (DeepVANet / Safavi on DEAP), 10 (GBV-Net on DEAP),
        12 (GBV-Net on MAHNOB-HCI).
    n_outputs : int
        Logits per sample: 1 for one binary task, 2 for valence and arousal at once.
    fusion : {"concat", "gated", "late", "attention"} or None
        Fusion head; ``None`` takes the paper's.
    image_size : int
        Side of the square face crop (64).
    face_kwargs, bio_kwargs, fusion_kwargs : dict or None
        Extra keyword arguments for the face encoder, the bio encoder and the fusion head
        (layer widths, depths, dropout; see each class).
    seed : int or None
        When given, the weights are initialised from this seed without touching the global
        random state, so the same seed always gives the same model.
    modality_dropout, normalize_features, auxiliary_heads : float, bool, bool
        See :class:`MultimodalModel` (ours; off, as in both papers).

    Returns
    -------
    MultimodalModel
        With ``model.config`` set to the :class:`ModelConfig` that rebuilds it.

    Example::

        >>> model = build_model("gbvnet", n_chans=38, n_frames=12, seed=0)
        >>> model(face=torch.rand(4, 12, 3, 64, 64), bio=torch.randn(4, 38, 128)).shape
        torch.Size([4, 1])
    """
    if name not in _FAMILIES:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
    unknown = set(modalities) - set(MODALITIES)
    if unknown or not modalities:
        raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {tuple(modalities)}")
    face_cls, bio_cls, paper_fusion = _FAMILIES[name]
    fusion_name = paper_fusion if fusion is None else fusion
    if fusion_name not in FUSION_HEADS:
        raise ValueError(f"unknown fusion {fusion_name!r}; choose one of {FUSION_NAMES}")
    config = ModelConfig(
        name=name,
        modalities=tuple(m for m in MODALITIES if m in modalities),
        n_chans=n_chans,
        n_times=n_times,
        n_frames=n_frames,
        n_outputs=n_outputs,
        fusion=fusion,
        image_size=image_size,
        face_kwargs=dict(face_kwargs or {}),
        bio_kwargs=dict(bio_kwargs or {}),
        fusion_kwargs=dict(fusion_kwargs or {}),
        seed=seed,
        modality_dropout=modality_dropout,
        normalize_features=normalize_features,
        auxiliary_heads=auxiliary_heads,
    )

    def _build() -> MultimodalModel:
        face = bio = None
        if "face" in config.modalities:
            face = face_cls(n_frames, image_size=image_size, **config.face_kwargs)
        if "bio" in config.modalities:
            bio = bio_cls(n_chans, n_times, **config.bio_kwargs)
        widths = [enc.n_features for enc in (face, bio) if enc is not None]
        head = FUSION_HEADS[fusion_name](widths, n_outputs, **config.fusion_kwargs)
        return MultimodalModel(face, bio, head, modality_dropout=modality_dropout,
                               normalize_features=normalize_features, auxiliary_heads=auxiliary_heads)

    if seed is None:
        model = _build()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build()
    model.config = config
    return model
