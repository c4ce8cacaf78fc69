"""Local-Medium-Global physiological encoder of GBV-Net (Yu et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, *, dilation: int = 1) -> nn.Sequential:
    """``Conv1d -> BatchNorm1d -> ReLU`` keeping the length ("same" padding, odd kernels)."""
    if kernel % 2 == 0:
        raise ValueError(f"kernel sizes must be odd to keep the length, got {kernel}")
    return nn.Sequential(
        nn.Conv1d(in_ch, out_ch, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation, bias=False),
        nn.BatchNorm1d(out_ch),
        nn.ReLU(inplace=True),
    )


class _GlobalBlock(nn.Module):
    """Depthwise conv -> pointwise conv -> self-attention -> feed-forward, residual around both.

    ``(B, c, L)`` -> ``(B, L, d)`` tokens, one per time step.
    """

    def __init__(
        self, in_ch: int, d: int, *, kernel: int, n_heads: int, dropout: float, attention_dropout: float
    ) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(in_ch, in_ch, kernel, padding=kernel // 2, groups=in_ch)
        self.pointwise = nn.Conv1d(in_ch, d, kernel_size=1)
        self.norm1 = nn.LayerNorm(d)
        self.attention = nn.MultiheadAttention(d, n_heads, dropout=attention_dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.feedforward = nn.Sequential(
            nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pointwise(self.depthwise(x))  # (B, c, L) -> (B, d, L)
        x = x.transpose(1, 2)  # (B, d, L) -> (B, L, d): one token per time step
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]  # (B, L, d)
        return x + self.feedforward(self.norm2(x))  # (B, L, d)


class GBVNetBioEncoder(nn.Module):
    """Physiological encoder of GBV-Net :cite:p:`yu2025gbvnet`: Local, Medium, Global stages.

    - **Local**: two ``Conv1d -> BatchNorm -> ReLU`` layers whose channel counts and kernel
      sizes decrease layer by layer: short-range patterns across all input channels.
    - **Medium**: a temporal convolutional network (TCN) of three ``Conv1d -> BatchNorm -> ReLU``
      layers with dilations 1, 2 and 4 (the paper's), the last one reducing to 8 feature
      channels (the paper's): patterns over a few hundred milliseconds.
    - **Global**: a depthwise then a pointwise convolution, multi-head self-attention over all
      time steps and a feed-forward block, each with a residual connection: the whole second.

    The tokens are averaged over time and mapped by a linear layer to the feature vector.

    Shapes: input ``(B, C, L)`` float32 (DEAP ``(B, 40, 128)``, MAHNOB-HCI ``(B, 38, 128)``);
    output ``(B, n_features)``.  Time is never downsampled, so any ``L`` works.

    Parameters
    ----------
    n_chans : int
        Input channels ``C``.
    n_times : int
        Samples per segment ``L`` (kept for the shared constructor shape).
    local_channels, local_kernels : sequence of int
        Widths and kernel sizes of the two Local layers (ours: ``(64, 32)`` and ``(7, 5)``,
        decreasing as the paper prescribes).
    tcn_channels : sequence of int
        Widths of the three TCN layers (ours ``(32, 16)`` then the paper's final 8).
    tcn_kernel : int
        Kernel size of the TCN layers (ours: 3).
    global_dim : int
        Token width after the pointwise convolution (ours: 32).
    n_heads : int
        Attention heads in the Global stage (ours: 4).
    global_kernel : int
        Kernel of the depthwise convolution (ours: 3).
    dropout : float
        Dropout in the feed-forward block of the Global stage (ours: 0.1).
    attention_dropout : float
        Dropout on the ``(B, heads, L, L)`` attention weights (ours: 0.0; it is costly on a CPU).
    n_features : int
        Output feature width (ours: 64, the same as the face encoder).

    Example::

        >>> enc = GBVNetBioEncoder(38, 128)
        >>> enc(torch.randn(4, 38, 128)).shape
        torch.Size([4, 64])
    """

    def __init__(
        self,
        n_chans: int = 40,
        n_times: int = 128,
        *,
        local_channels: Sequence[int] = (64, 32),
        local_kernels: Sequence[int] = (7, 5),
        tcn_channels: Sequence[int] = (32, 16, 8),
        tcn_kernel: int = 3,
        global_dim: int = 32,
        n_heads: int = 4,
        global_kernel: int = 3,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        n_features: int = 64,
    ) -> None:
        super().__init__()
        if len(local_channels) != 2 or len(local_kernels) != 2:
            raise ValueError("the Local stage has exactly two layers: give two channels and two kernels")
        if len(tcn_channels) != 3:
            raise ValueError("the Medium TCN has exactly three layers (dilations 1, 2, 4): give three widths")
        self.n_chans, self.n_times, self.n_features = n_chans, n_times, n_features
        c1, c2 = local_channels
        k1, k2 = local_kernels
        self.local = nn.Sequential(_conv_bn_relu(n_chans, c1, k1), _conv_bn_relu(c1, c2, k2))
        layers, width = [], c2
        for out, dilation in zip(tcn_channels, (1, 2, 4)):
            layers.append(_conv_bn_relu(width, out, tcn_kernel, dilation=dilation))
            width = out
        self.medium = nn.Sequential(*layers)
        self.global_block = _GlobalBlock(
            width,
            global_dim,
            kernel=global_kernel,
            n_heads=n_heads,
            dropout=dropout,
            attention_dropout=attention_dropout,
        )
        self.head = nn.Linear(global_dim, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local(x)  # (B, C, L) -> (B, c_local, L)
        x = self.medium(x)  # (B, c_local, L) -> (B, 8, L)
        x = self.global_block(x)  # (B, 8, L) -> (B, L, global_dim)
        x = x.mean(dim=1)  # (B, L, global_dim) -> (B, global_dim): average over time
        return self.head(x)  # (B, global_dim) -> (B, n_features)
