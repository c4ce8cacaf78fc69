"""Fusion heads: turn one feature vector per modality into logits.

Every head shares one constructor shape, ``Head(in_features, n_outputs, *, ...)``, where
``in_features`` lists the width of each modality's feature vector in a fixed order (the wrapper
uses face first, then bio), and one call shape, ``head([f_1, f_2, ...]) -> (B, n_outputs)``
logits.  With a single modality every head except cross-modal attention still works, so
unimodal ablations use the same head as the fused model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from emolab.models.layers import mlp


class _FusionHead(nn.Module):
    """Shared checks of the fusion heads."""

    def __init__(self, in_features: Sequence[int], n_outputs: int) -> None:
        super().__init__()
        self.in_features = tuple(int(d) for d in in_features)
        if not self.in_features:
            raise ValueError("a fusion head needs at least one modality's feature width")
        self.n_outputs = n_outputs

    def _check(self, features: Sequence[torch.Tensor]) -> None:
        widths = tuple(f.shape[-1] for f in features)
        if widths != self.in_features:
            raise ValueError(
                f"{type(self).__name__} was built for feature widths {self.in_features} "
                f"but received {widths}"
            )


class ConcatFusion(_FusionHead):
    """Feature-level fusion by concatenation and an MLP classifier :cite:p:`safavi_deep_multimodal`.

    ``z = [f_face, f_bio]`` (``(B, sum(in_features))``, 128 for two 64-d features) goes through
    an MLP that narrows step by step to ``n_outputs`` logits.  The paper's head ends in a
    sigmoid; here the sigmoid lives in the loss (``BCEWithLogitsLoss``), which is numerically
    safer and mathematically the same.

    Parameters
    ----------
    in_features : sequence of int
        Feature width of each modality.
    n_outputs : int
        Logits per sample (1 for one binary task, 2 for valence and arousal together).
    hidden : sequence of int
        Hidden widths of the MLP (ours: ``(64, 32)``, halving as the paper describes).
    dropout : float
        Dropout after each hidden layer (ours: 0.25).
    """

    def __init__(
        self,
        in_features: Sequence[int],
        n_outputs: int = 1,
        *,
        hidden: Sequence[int] = (64, 32),
        dropout: float = 0.25,
    ) -> None:
        super().__init__(in_features, n_outputs)
        self.classifier = mlp(sum(self.in_features), hidden, n_outputs, dropout=dropout)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        self._check(features)
        z = torch.cat(list(features), dim=-1)  # M x (B, D_m) -> (B, sum D_m)
        return self.classifier(z)  # (B, sum D_m) -> (B, n_outputs)


class GatedFusion(_FusionHead):
    """Gated attention fusion of GBV-Net :cite:p:`yu2025gbvnet`.

    ``z = [f_face, f_bio]``; a small MLP turns ``z`` into one gate value per feature,
    ``g = sigmoid(MLP(z))`` in (0, 1); the fused vector ``z * g`` keeps, sample by sample, the
    features that look informative and damps the rest; a classifier MLP gives the logits.
    The gate of the latest forward pass is kept in :attr:`last_gate` (``(B, sum D_m)``,
    detached) so a notebook can plot which features, and which modality, the model lets through.

    Parameters
    ----------
    in_features : sequence of int
        Feature width of each modality.
    n_outputs : int
        Logits per sample.
    gate_hidden : int
        Hidden width of the gate MLP (ours: 64).
    hidden : sequence of int
        Hidden widths of the classifier after the gate (ours: ``(64,)``).
    dropout : float
        Dropout in the classifier (ours: 0.25).
    """

    def __init__(
        self,
        in_features: Sequence[int],
        n_outputs: int = 1,
        *,
        gate_hidden: int = 64,
        hidden: Sequence[int] = (64,),
        dropout: float = 0.25,
    ) -> None:
        super().__init__(in_features, n_outputs)
        width = sum(self.in_features)
        self.gate = nn.Sequential(nn.Linear(width, gate_hidden), nn.ReLU(), nn.Linear(gate_hidden, width))
        self.classifier = mlp(width, hidden, n_outputs, dropout=dropout)
        self.last_gate: torch.Tensor | None = None

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        self._check(features)
        z = torch.cat(list(features), dim=-1)  # M x (B, D_m) -> (B, D), D = sum D_m
        g = torch.sigmoid(self.gate(z))  # (B, D), each value in (0, 1)
        self.last_gate = g.detach()
        return self.classifier(z * g)  # (B, D) -> (B, n_outputs)


class LateFusion(_FusionHead):
    """Decision-level (late) fusion: one classifier per modality, logits mixed by learned weights.

    Not in either paper; the book uses it as the classic baseline for "does fusing *features*
    help more than fusing *decisions*?".  Each modality gets its own MLP to ``n_outputs`` logits,
    and the output is their weighted sum with weights ``softmax(w)`` (one learnable ``w`` per
    modality, starting equal).  :attr:`last_logits` (``(B, M, n_outputs)``) and
    :meth:`modality_weights` show what each modality decided and how much it counted.

    Parameters
    ----------
    in_features : sequence of int
        Feature width of each modality.
    n_outputs : int
        Logits per sample.
    hidden : sequence of int
        Hidden widths of each modality's classifier (ours: ``(32,)``).
    dropout : float
        Dropout in the classifiers (ours: 0.25).
    """

    def __init__(
        self,
        in_features: Sequence[int],
        n_outputs: int = 1,
        *,
        hidden: Sequence[int] = (32,),
        dropout: float = 0.25,
    ) -> None:
        super().__init__(in_features, n_outputs)
        self.classifiers = nn.ModuleList(mlp(d, hidden, n_outputs, dropout=dropout) for d in self.in_features)
        self.weight_logits = nn.Parameter(torch.zeros(len(self.in_features)))
        self.last_logits: torch.Tensor | None = None

    def modality_weights(self) -> torch.Tensor:
        """The mixing weights, ``(M,)``, positive and summing to 1."""
        return torch.softmax(self.weight_logits, dim=0)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        self._check(features)
        logits = torch.stack([c(f) for c, f in zip(self.classifiers, features)], dim=1)  # (B, M, n_out)
        self.last_logits = logits.detach()
        w = self.modality_weights()  # (M,)
        return (logits * w[None, :, None]).sum(dim=1)  # (B, M, n_out) -> (B, n_out)


class CrossModalAttentionFusion(_FusionHead):
    """Cross-modal attention fusion: each modality's tokens attend to the other modalities' tokens.

    Not in either paper (ours, for the book's comparisons; the idea is common in multimodal
    Transformers).  Each modality's feature vector ``(B, D_m)`` is cut into ``n_tokens`` chunks
    that are projected to ``d_model`` and tagged with a learned modality embedding:
    ``(B, n_tokens, d_model)``.  For every modality, multi-head attention with its tokens as
    queries and the other modalities' tokens as keys and values adds what the other modality
    says about each chunk (residual + LayerNorm).  Tokens are averaged per modality, the
    averages concatenated and classified by an MLP.  The attention weights of the latest pass
    are kept in :attr:`last_attention` (one ``(B, n_tokens, n_tokens * (M - 1))`` tensor per
    modality, averaged over heads).

    Needs at least two modalities: with one there is nothing to attend to (use ``"concat"`` or
    ``"gated"`` for unimodal models).

    Parameters
    ----------
    in_features : sequence of int
        Feature width of each modality; each must be divisible by ``n_tokens``.
    n_outputs : int
        Logits per sample.
    n_tokens : int
        Tokens cut from each feature vector (ours: 8).
    d_model : int
        Token width (ours: 32).
    n_heads : int
        Attention heads (ours: 4).
    hidden : sequence of int
        Hidden widths of the classifier (ours: ``(64,)``).
    dropout : float
        Dropout in attention and classifier (ours: 0.1).
    """

    def __init__(
        self,
        in_features: Sequence[int],
        n_outputs: int = 1,
        *,
        n_tokens: int = 8,
        d_model: int = 32,
        n_heads: int = 4,
        hidden: Sequence[int] = (64,),
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_features, n_outputs)
        if len(self.in_features) < 2:
            raise ValueError(
                "cross-modal attention fusion needs two modalities; for a unimodal model "
                "use fusion='concat' or fusion='gated'"
            )
        for d in self.in_features:
            if d % n_tokens:
                raise ValueError(f"feature width {d} is not divisible by n_tokens={n_tokens}")
        m = len(self.in_features)
        self.n_tokens = n_tokens
        self.token_projections = nn.ModuleList(nn.Linear(d // n_tokens, d_model) for d in self.in_features)
        self.modality_embedding = nn.Parameter(torch.zeros(m, 1, d_model))
        nn.init.trunc_normal_(self.modality_embedding, std=0.02)
        self.attentions = nn.ModuleList(
            nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True) for _ in range(m)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(m))
        self.classifier = mlp(m * d_model, hidden, n_outputs, dropout=dropout)
        self.last_attention: list[torch.Tensor] | None = None

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        self._check(features)
        tokens = [
            proj(f.unflatten(-1, (self.n_tokens, -1))) + self.modality_embedding[i]
            for i, (proj, f) in enumerate(zip(self.token_projections, features))
        ]  # M x (B, D_m) -> M x (B, n_tokens, D_m / n_tokens) -> M x (B, n_tokens, d_model)
        pooled, attention = [], []
        for i, (attn, norm) in enumerate(zip(self.attentions, self.norms)):
            others = torch.cat([t for j, t in enumerate(tokens) if j != i], dim=1)  # (B, n_tokens*(M-1), d)
            out, weights = attn(tokens[i], others, others, need_weights=True)  # (B, n_tokens, d_model)
            attention.append(weights.detach())  # (B, n_tokens, n_tokens*(M-1)), mean over heads
            pooled.append(norm(tokens[i] + out).mean(dim=1))  # (B, n_tokens, d) -> (B, d)
        self.last_attention = attention
        return self.classifier(torch.cat(pooled, dim=-1))  # (B, M*d_model) -> (B, n_outputs)


#: Fusion heads by the name :func:`emolab.models.build_model` accepts.
FUSION_HEADS: dict[str, type[_FusionHead]] = {
    "concat": ConcatFusion,
    "gated": GatedFusion,
    "late": LateFusion,
    "attention": CrossModalAttentionFusion,
}
