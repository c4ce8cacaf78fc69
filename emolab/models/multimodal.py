"""One wrapper for every ablation: optional face encoder + optional bio encoder + fusion head."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from emolab.data.record import MODALITIES

#: Modalities in the fixed order the wrapper hands them to a fusion head.


@dataclass
class ModelOutput:
    """What a model returns when called with ``return_branches=True`` — everything a trainer
    needs from one forward pass, handed over explicitly instead of left in attributes.

    Attributes
    ----------
    logits : torch.Tensor, shape (B, n_outputs)
        The model's prediction (the fused output for a fused model).
    auxiliary : list of torch.Tensor, each (B, n_outputs)
        Extra logits whose binary cross-entropy the trainer adds to the training loss (deep
        supervision); empty in evaluation mode and for models without auxiliary heads.
    branches : dict of str to torch.Tensor, each (B, n_outputs)
        Each branch's own logits, ``{"face": ..., "bio": ...}``, in either mode; the trainer's
        predictions keep them as ``logits_<branch>``.  Empty without auxiliary heads.
    features : dict of str to torch.Tensor, each (B, D_m)
        Each encoder's feature vector, detached (before any standardisation or modality
        dropout), for measurements that must not change the training: the linear probes and the
        gradient modulation of :mod:`emolab.train.balance`.
    """

    logits: torch.Tensor
    auxiliary: list[torch.Tensor] = field(default_factory=list)
    branches: dict[str, torch.Tensor] = field(default_factory=dict)
    features: dict[str, torch.Tensor] = field(default_factory=dict)


class MultimodalModel(nn.Module):
    """Face encoder and/or physiological encoder, then a fusion head: logits per sample.

    Bio-only, face-only and fused models are the same class with an encoder left out, so the
    unimodal ablations of both papers :cite:p:`safavi_deep_multimodal,yu2025gbvnet` run through
    the same code as the full models.  Build them with :func:`emolab.models.build_model`.

    Shapes: ``face`` ``(B, T, 3, S, S)`` float32 in [0, 1], ``bio`` ``(B, C, L)`` float32;
    output ``(B, n_outputs)`` logits (apply ``sigmoid`` for probabilities; valence and arousal
    are separate binary tasks, one logit each).

    Parameters
    ----------
    face_encoder, bio_encoder : nn.Module or None
        Encoders mapping their input to ``(B, n_features)``; each must expose ``n_features``
        (the face encoder also ``n_frames`` and ``image_size``, the bio encoder ``n_chans`` and
        ``n_times``, used to check inputs).  At least one is required.
    fusion : nn.Module
        A head from :mod:`emolab.models.fusion` whose ``in_features`` lists the present
        encoders' widths, face first.
    modality_dropout : float
        Training only, models with both modalities: the probability that a sample's features of
        one modality (face or bio, chosen at random) are replaced by zeros before the fusion
        head.  Ours (0 = off, the papers' setting): a fused model can fit its training data
        through whichever encoder learns fastest and leave the other untrained; dropping a
        modality now and then makes each encoder carry the task on its own.
    normalize_features : bool
        Models with both modalities: standardise each modality's feature vector (LayerNorm
        without learnable scale and shift) before the fusion head.  Ours (off in the papers):
        the two encoders' features can differ in scale by orders of magnitude, and the head
        then reads mostly the louder one.
    auxiliary_heads : bool
        Models with both modalities: add one linear classifier per modality on its own features.
        Called with ``return_branches=True``, the model returns a :class:`ModelOutput` whose
        ``auxiliary`` holds their logits in training mode (a list of ``(B, n_outputs)``), which
        :class:`~emolab.train.trainer.Trainer` adds to the loss (deep supervision); prediction
        still uses the fusion head only.  In either mode its ``branches`` holds them by modality
        (``{"face": (B, n_outputs), "bio": ...}``), which the trainer's predictions keep beside
        the fused output (``logits_face``, ``logits_bio``), so that a chapter can ask what each
        branch alone would have answered.  Ours (off in the
        papers): trained only through the fused output, an encoder whose modality fits the
        training data more slowly can be left behind, and the fused model can then score below
        its own better half (the modality imbalance of multimodal learning).
    """

    def __init__(self, face_encoder: nn.Module | None, bio_encoder: nn.Module | None, fusion: nn.Module,
                 *, modality_dropout: float = 0.0, normalize_features: bool = False,
                 auxiliary_heads: bool = False) -> None:  # fmt: skip
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
        self.modality_dropout = float(modality_dropout)
        self.normalize_features = bool(normalize_features)
        if face_encoder is None and bio_encoder is None:
            raise ValueError("a MultimodalModel needs a face encoder, a bio encoder or both")
        self.face_encoder = face_encoder
        self.bio_encoder = bio_encoder
        self.fusion = fusion
        widths = tuple(enc.n_features for enc in (face_encoder, bio_encoder) if enc is not None)
        if tuple(fusion.in_features) != widths:
            raise ValueError(
                f"the fusion head expects feature widths {tuple(fusion.in_features)} but the "
                f"encoders give {widths} ({', '.join(self.modalities)})"
            )
        self.n_outputs = fusion.n_outputs
        self.auxiliary = None
        if auxiliary_heads and len(widths) > 1:
            self.auxiliary = nn.ModuleList(nn.Linear(w, fusion.n_outputs) for w in widths)
        self.config = None  # set by build_model to its ModelConfig

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this model reads, in fusion order, e.g. ``("face", "bio")``."""
        present = {"face": self.face_encoder is not None, "bio": self.bio_encoder is not None}
        return tuple(m for m in MODALITIES if present[m])

    def _check_face(self, face: torch.Tensor) -> None:
        enc = self.face_encoder
        expected = (enc.n_frames, 3, enc.image_size, enc.image_size)
        if face.ndim != 5 or tuple(face.shape[1:]) != expected:
            raise ValueError(
                f"face input must be (B, {', '.join(map(str, expected))}) = (batch, frames, RGB, "
                f"height, width), got {tuple(face.shape)}; build the model with n_frames="
                f"{face.shape[1] if face.ndim == 5 else '?'} if the windows hold that many frames"
            )

    def _check_bio(self, bio: torch.Tensor) -> None:
        enc = self.bio_encoder
        if bio.ndim != 3 or tuple(bio.shape[1:]) != (enc.n_chans, enc.n_times):
            raise ValueError(
                f"bio input must be (B, {enc.n_chans}, {enc.n_times}) = (batch, channels, samples), "
                f"got {tuple(bio.shape)}; build the model with matching n_chans and n_times"
            )

    def encode(self, face: torch.Tensor | None = None, bio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The feature vector of each present modality, ``{"face": (B, D), "bio": (B, D)}``.

        An input whose encoder is absent is ignored (a bio-only model may be handed the whole
        batch); an input whose encoder is present is required.
        """
        features: dict[str, torch.Tensor] = {}
        if self.face_encoder is not None:
            if face is None:
                raise ValueError(f"this model reads {self.modalities} but no face input was given")
            self._check_face(face)
            features["face"] = self.face_encoder(face)  # (B, T, 3, S, S) -> (B, D_face)
        if self.bio_encoder is not None:
            if bio is None:
                raise ValueError(f"this model reads {self.modalities} but no bio input was given")
            self._check_bio(bio)
            features["bio"] = self.bio_encoder(bio)  # (B, C, L) -> (B, D_bio)
        return features

    def forward(self, face: torch.Tensor | None = None, bio: torch.Tensor | None = None, *,
                return_branches: bool = False) -> torch.Tensor | ModelOutput:  # fmt: skip
        """Logits ``(B, n_outputs)``; with ``return_branches=True`` a :class:`ModelOutput` holding
        them with the auxiliary heads' logits (the same fused logits either way)."""
        encoded = self.encode(face=face, bio=bio)
        features = [encoded[m] for m in self.modalities]  # fusion order: face first
        branches: dict[str, torch.Tensor] = {}
        if self.auxiliary is not None and return_branches:  # (B, n_outputs) per modality, also in eval mode
            branches = {m: h(f) for m, h, f in zip(self.modalities, self.auxiliary, features)}
        features = self._standardize(features)
        if self.training and self.modality_dropout > 0 and len(features) > 1:
            b, dev = features[0].shape[0], features[0].device
            dropped = torch.rand(b, device=dev) < self.modality_dropout  # (B,)
            which = torch.randint(len(features), (b,), device=dev)  # the modality dropped
            keep = [~(dropped & (which == i)) for i in range(len(features))]  # (B,) each
            features = [f * k.unsqueeze(1).to(f.dtype) for f, k in zip(features, keep)]
        logits = self.fusion(features)  # -> (B, n_outputs)
        if not return_branches:
            return logits
        detached = {m: f.detach() for m, f in encoded.items()}
        return ModelOutput(logits, list(branches.values()) if self.training else [], branches, detached)

    def _standardize(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.normalize_features and len(features) > 1:
            return [nn.functional.layer_norm(f, f.shape[-1:]) for f in features]  # (B, D) each
        return features

    @torch.no_grad()
    def alone(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the fusion head answers from each modality alone: its logits ``(B, n_outputs)``
        with every other modality's features replaced by zeros, ``{"face": ..., "bio": ...}``.

        ``features`` are the encoders' outputs (:attr:`ModelOutput.features`).  Ours, for
        :class:`~emolab.train.balance.GradientModulation`: OGM-GE :cite:p:`peng2022balanced`
        splits a linear fusion layer's output into one part per modality, which an MLP or gated
        head does not have; zeroing the other modality's features (what modality dropout does)
        asks any head the same question.  Computed without gradients, with the head in evaluation
        mode (no dropout, so no random number is drawn and the training's random stream is left
        as it was), in the head's parameter dtype (features of an autocast pass are cast); what
        a head keeps of its last forward pass (``last_gate``, ``last_logits``) is restored.
        """
        dtype = next(self.fusion.parameters()).dtype  # features from an autocast pass may be bf16/fp16
        feats = self._standardize([features[m].to(dtype) for m in self.modalities])
        was_training = self.fusion.training
        kept = {k: getattr(self.fusion, k) for k in ("last_gate", "last_logits") if hasattr(self.fusion, k)}
        self.fusion.eval()
        try:
            out = {}
            for i, m in enumerate(self.modalities):
                only = [f if j == i else torch.zeros_like(f) for j, f in enumerate(feats)]
                out[m] = self.fusion(only)  # (B, n_outputs)
        finally:
            self.fusion.train(was_training)
            for k, v in kept.items():  # what the head keeps of its last real forward pass stays so
                setattr(self.fusion, k, v)
        return out

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
        """Random inputs of the right shapes (face uniform in [0, 1], bio standard normal).

        For shape traces and FLOP counts only; they carry no emotion.
        """
        g = torch.Generator().manual_seed(seed)
        device = next(self.parameters()).device
        inputs: dict[str, torch.Tensor] = {}
        if self.face_encoder is not None:
            enc = self.face_encoder
            shape = (batch_size, enc.n_frames, 3, enc.image_size, enc.image_size)
            inputs["face"] = torch.rand(shape, generator=g).to(device)
        if self.bio_encoder is not None:
            shape = (batch_size, self.bio_encoder.n_chans, self.bio_encoder.n_times)
            inputs["bio"] = torch.randn(shape, generator=g).to(device)
        return inputs
