"""Transformer encoder for one-second physiological segments (Safavi et al.)."""

from __future__ import annotations

import torch
from torch import nn


class SafaviBioEncoder(nn.Module):
    """Physiological encoder of :cite:t:`safavi_deep_multimodal`: a Transformer over time steps.

    A segment of ``C`` channels and ``L`` samples is read as a sequence of ``L`` time steps, each
    described by the ``C`` channel values.  Each step is projected to ``d_model`` features, a
    standard Transformer encoder :cite:p:`vaswani2017attention` (multi-head self-attention and a
    feed-forward block, each with a residual connection and LayerNorm) mixes the steps, and the
    whole sequence is flattened and mapped by one linear layer to the feature vector.

    Shapes: input ``(B, C, L)`` float32 (DEAP: ``(B, 40, 128)``, one second at 128 Hz);
    output ``(B, n_features)``.

    Parameters
    ----------
    n_chans : int
        Number of channels ``C`` (DEAP 40, MAHNOB-HCI 38).
    n_times : int
        Samples per segment ``L`` (128 = 1 s at 128 Hz).  Fixed at construction because the
        sequence is flattened before the last linear layer.
    d_model : int
        Width of each time step inside the Transformer (ours: 64; the paper does not state it).
    n_heads : int
        Attention heads (ours: 4).
    n_layers : int
        Stacked encoder layers (ours: 2).
    dim_feedforward : int
        Hidden width of the feed-forward block (ours: ``2 * d_model``).
    dropout : float
        Dropout on the feed-forward and residual paths of the encoder layers (ours: 0.1,
        PyTorch's default).
    attention_dropout : float
        Dropout on the attention weights (ours: 0.0; PyTorch's layer would use ``dropout``
        here too, but sampling a mask for every ``(B, heads, 128, 128)`` attention map was
        the single largest cost of a CPU training step).
    n_features : int
        Output feature width (the paper's: 64).

    Notes
    -----
    The paper's description of this encoder mentions no positional encoding and we add none:
    attention alone does not know the order of the time steps, and the flattening before the
    last linear layer is what tells them apart.  Example::

        >>> enc = SafaviBioEncoder(40, 128)
        >>> enc(torch.randn(8, 40, 128)).shape
        torch.Size([8, 64])
    """

    def __init__(
        self,
        n_chans: int = 40,
        n_times: int = 128,
        *,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int | None = None,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        n_features: int = 64,
    ) -> None:
        super().__init__()
        self.n_chans, self.n_times, self.n_features = n_chans, n_times, n_features
        self.input_projection = nn.Linear(n_chans, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward=dim_feedforward or 2 * d_model,
            dropout=dropout,
            batch_first=True,
        )
        layer.self_attn.dropout = attention_dropout  # copied into every layer below
        # enable_nested_tensor only matters with padding masks, which one-second windows never need.
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(n_times * d_model, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # (B, C, L) -> (B, L, C): L time steps of C features
        x = self.input_projection(x)  # (B, L, C) -> (B, L, d_model)
        x = self.transformer(x)  # (B, L, d_model)
        x = self.flatten(x)  # (B, L, d_model) -> (B, L * d_model)
        return self.head(x)  # (B, L * d_model) -> (B, n_features)
