"""CNN-LSTM face encoder for short frame sequences (Safavi et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SafaviFaceEncoder(nn.Module):
    """Face encoder of :cite:t:`safavi_deep_multimodal`: per-frame CNN, patch embedding, LSTM.

    Every frame goes through a small CNN (``Conv3x3 with stride 2 -> BatchNorm -> ReLU`` per
    stage; a strided convolution rather than convolution + max-pooling, which costs four times
    the arithmetic and memory traffic at full resolution), then a "transformer-inspired" convolutional patch embedding (a convolution whose
    kernel equals its stride cuts the map into non-overlapping patches and embeds each), and the
    embedded patches are flattened into one vector per frame.  An LSTM reads the frame vectors in
    order and a fully connected layer maps its last hidden state to the feature vector.

    The paper pre-trains the per-frame CNN on AFEW-VA (following DeepVANet
    :cite:p:`zhang2021deepvanet`).  No such weights are available here, so this CNN is trained
    from scratch together with the rest of the model.

    Shapes: input ``(B, T, 3, S, S)`` float32 RGB in [0, 1] (``S = image_size``, 64);
    output ``(B, n_features)``.

    Parameters
    ----------
    n_frames : int
        Frames per window ``T`` (DEAP 5 or 10, MAHNOB-HCI 12).  The LSTM accepts any length;
        the argument is kept for the shared constructor shape.
    image_size : int
        Side of the square face crop (64 in both papers' pipelines).
    cnn_channels : sequence of int
        Output channels of the CNN stages; each stage halves the image (ours: ``(16, 32)``,
        small enough that a batch of 256 trains on a laptop CPU; the paper gives no widths
        for the CNN it pre-trains).
    patch_size : int
        Kernel and stride of the patch embedding (ours: 4).
    embed_dim : int
        Channels of each embedded patch (ours: 32).
    lstm_hidden : int
        LSTM hidden size (ours: 64).
    dropout : float
        Dropout before the final layer (ours: 0.1).
    n_features : int
        Output feature width (the paper's: 64).

    Example::

        >>> enc = SafaviFaceEncoder(5)
        >>> enc(torch.rand(2, 5, 3, 64, 64)).shape
        torch.Size([2, 64])
    """

    def __init__(
        self,
        n_frames: int = 5,
        *,
        image_size: int = 64,
        cnn_channels: Sequence[int] = (16, 32),
        patch_size: int = 4,
        embed_dim: int = 32,
        lstm_hidden: int = 64,
        dropout: float = 0.1,
        n_features: int = 64,
    ) -> None:
        super().__init__()
        self.n_frames, self.image_size, self.n_features = n_frames, image_size, n_features
        stages: list[nn.Module] = []
        width, side = 3, image_size
        for out in cnn_channels:
            stages += [
                nn.Conv2d(width, out, kernel_size=3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            width, side = out, side // 2
        if side < patch_size or side % patch_size:
            raise ValueError(
                f"after {len(cnn_channels)} CNN stages the {image_size}x{image_size} frame is "
                f"{side}x{side}, which patch_size={patch_size} does not tile; "
                f"change image_size, cnn_channels or patch_size"
            )
        self.cnn = nn.Sequential(*stages)
        self.patch_embedding = nn.Conv2d(width, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.flatten = nn.Flatten()
        frame_features = embed_dim * (side // patch_size) ** 2
        self.lstm = nn.LSTM(frame_features, lstm_hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(lstm_hidden, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        x = x.flatten(0, 1)  # (B, T, 3, S, S) -> (B*T, 3, S, S): frames are independent here
        x = self.cnn(x)  # (B*T, 3, S, S) -> (B*T, c, S/2^k, S/2^k), k = number of stages
        x = self.patch_embedding(x)  # -> (B*T, embed_dim, P, P), P = S / 2^k / patch_size
        x = self.flatten(x).unflatten(0, (b, t))  # -> (B, T, embed_dim * P * P)
        _, (h, _) = self.lstm(x)  # h: (1, B, lstm_hidden), the state after the last frame
        return self.head(self.dropout(h[-1]))  # (B, lstm_hidden) -> (B, n_features)
