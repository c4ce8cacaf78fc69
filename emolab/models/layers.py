"""Small building blocks shared by several encoders and fusion heads.

Dimension letters used in shape comments throughout :mod:`emolab.models`:
``B`` batch, ``T`` face frames per window, ``C`` signal channels, ``L`` signal samples,
``H``/``W`` image height/width, ``D`` feature width, ``N`` tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a ``(B, D, H, W)`` feature map (ConvNeXt's
    "channels-first" LayerNorm :cite:p:`woo2023convnextv2`).

    Parameters
    ----------
    n_features : int
        Number of channels ``D``.
    eps : float
        Added to the variance for numerical stability.
    """

    def __init__(self, n_features: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(n_features, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, D, H, W) -> (B, H, W, D)
        x = self.norm(x)
        return x.permute(0, 3, 1, 2)  # (B, H, W, D) -> (B, D, H, W)


class GlobalResponseNorm(nn.Module):
    """Global response normalisation (GRN) of ConvNeXt V2 :cite:p:`woo2023convnextv2`.

    For every channel, the L2 norm of its map over the spatial positions is divided by the mean
    of these norms across channels; the feature map is rescaled by that ratio through a learnable
    affine term and added back (``x + gamma * (x * ratio) + beta``), which encourages channels
    to compete instead of collapsing onto the same response.  ``gamma`` and ``beta`` start at zero,
    so an untrained block is the identity here.

    Input and output: ``(B, H, W, D)`` (channels last, as inside a ConvNeXt block).
    """

    def __init__(self, n_features: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, n_features))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, n_features))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the L2 norm as the root of a sum of squares: twice as fast as linalg.vector_norm on the
        # CPU for these small maps (its backward also is); the tiny constant keeps the gradient
        # finite for an all-zero map
        norms = (x.square().sum(dim=(1, 2), keepdim=True) + 1e-12).sqrt()  # (B, 1, 1, D)
        ratio = norms / (norms.mean(dim=-1, keepdim=True) + self.eps)  # (B, 1, 1, D)
        # x + gamma * (x * ratio) + beta, with one pass over the large tensor instead of three
        return torch.addcmul(self.beta, x, 1 + self.gamma * ratio)


class PixelStandardization(nn.Module):
    """Standardise every pixel of ``(B, 3, S, S)`` frames with running statistics of the training
    frames: subtract the running mean frame and divide by its running standard deviation, per
    channel, row and column (a :class:`torch.nn.BatchNorm1d` over the ``3 * S * S`` positions,
    without learnable scale and shift).  In training mode the batch's statistics are used and the
    running ones updated; in evaluation mode the running ones.

    Why (ours): face crops aligned on the eyes share most of their content — the same face in
    the same place — and an expression is a small deviation from it.  A network that normalises
    each sample on its own (LayerNorm, as ConvNeXt does) keeps the shared content and sees the
    deviation as a tiny change on top of it; subtracting the mean frame leaves the deviation.
    """

    def __init__(self, channels: int, size: int, *, momentum: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(channels * size * size, affine=False, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(1)).view_as(x)  # (B, 3, S, S) -> (B, 3*S*S) -> (B, 3, S, S)


class LearnedPositionalEmbedding(nn.Module):
    """A learned vector per sequence position, added to ``(B, N, D)`` tokens.

    Parameters
    ----------
    max_len : int
        Longest sequence accepted (for faces: the number of frames per window).
    n_features : int
        Token width ``D``.
    """

    def __init__(self, max_len: int, n_features: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.zeros(1, max_len, n_features))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        if n > self.max_len:
            raise ValueError(
                f"sequence of {n} positions but the positional embedding holds {self.max_len}; "
                f"build the model with a larger n_frames"
            )
        return x + self.weight[:, :n]


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    *,
    dropout: float = 0.0,
    activation: type[nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """``Linear -> activation -> Dropout`` for each hidden width, then a final ``Linear``.

    ``mlp(128, (64,), 1)`` maps ``(B, 128)`` to ``(B, 1)`` through one 64-unit hidden layer.
    """
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), activation(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)
