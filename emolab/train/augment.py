"""GBV-Net's batch augmentations, written in torch so they run on the training device.

GBV-Net :cite:`yu2025gbvnet` augments faces by horizontal flipping, colour jitter and Gaussian
blur, and physiological signals by additive noise, time shifting and amplitude scaling.  The
paper gives no magnitudes; ours are in :class:`~emolab.train.config.AugmentConfig`.

Every random draw comes from an explicit :class:`torch.Generator`, so a seeded run augments the
same way every time (and a resumed run the same way as an uninterrupted one).  Each transform is
drawn once per clip or segment: all frames of a clip get the same flip, jitter and blur, so the
augmentation never invents motion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from emolab.train.config import AugmentConfig


def _uniform(n: int, low: float, high: float, *, generator: torch.Generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def augment_face(face: torch.Tensor, config: AugmentConfig, *, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch of face clips.

    Parameters
    ----------
    face : torch.Tensor, float, shape (B, T, 3, H, W)
        RGB frames scaled to [0, 1].
    config : AugmentConfig
        Which transforms to apply and how strongly.
    generator : torch.Generator
        Source of randomness, on the same device as ``face``.

    Returns
    -------
    torch.Tensor, shape (B, T, 3, H, W), values in [0, 1]
        A new tensor; the input is not modified.
    """
    if face.ndim != 5 or face.shape[2] != 3:
        raise ValueError(f"face must be (B, T, 3, H, W), got {tuple(face.shape)}")
    B, dev = face.shape[0], face.device
    out = face
    if config.face_flip:
        flip = torch.rand(B, generator=generator, device=dev) < config.flip_p
        out = torch.where(flip[:, None, None, None, None], out.flip(-1), out)
    if config.face_color_jitter:
        view = (B, 1, 1, 1, 1)
        b = _uniform(B, 1 - config.brightness, 1 + config.brightness, generator=generator, device=dev)
        c = _uniform(B, 1 - config.contrast, 1 + config.contrast, generator=generator, device=dev)
        s = _uniform(B, 1 - config.saturation, 1 + config.saturation, generator=generator, device=dev)
        out = (out * b.view(view)).clamp(0, 1)
        grey = (0.299 * out[:, :, 0] + 0.587 * out[:, :, 1] + 0.114 * out[:, :, 2]).unsqueeze(2)
        mean = grey.mean(dim=(-1, -2, -3), keepdim=True)  # (B, T, 1, 1, 1): per-frame mean grey
        out = ((out - mean) * c.view(view) + mean).clamp(0, 1)
        grey = (0.299 * out[:, :, 0] + 0.587 * out[:, :, 1] + 0.114 * out[:, :, 2]).unsqueeze(2)
        out = ((out - grey) * s.view(view) + grey).clamp(0, 1)
    if config.face_blur:
        out = _gaussian_blur(out, config, generator=generator)
    return out


def _gaussian_blur(face: torch.Tensor, config: AugmentConfig, *, generator: torch.Generator) -> torch.Tensor:
    B, T, C, H, W = face.shape
    dev, k = face.device, int(config.blur_kernel)
    if k % 2 == 0 or k < 3:
        raise ValueError(f"blur_kernel must be an odd integer >= 3, got {k}")
    apply = torch.rand(B, generator=generator, device=dev) < config.blur_p
    sigma = _uniform(B, *config.blur_sigma, generator=generator, device=dev)
    x = torch.arange(k, device=dev, dtype=face.dtype) - k // 2
    kern = torch.exp(-(x[None, :] ** 2) / (2 * sigma[:, None].to(face.dtype) ** 2))  # (B, k)
    kern = kern / kern.sum(dim=1, keepdim=True)
    # identity kernel for clips that are not blurred
    ident = torch.zeros_like(kern)
    ident[:, k // 2] = 1.0
    kern = torch.where(apply[:, None], kern, ident)
    kern = kern.repeat_interleave(T * C, dim=0)  # (B*T*C, k): one kernel per channel image
    x = face.reshape(1, B * T * C, H, W)  # (B, T, C, H, W) -> (1, B*T*C, H, W) for a grouped conv
    pad = k // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, kern[:, None, None, :], groups=B * T * C)  # horizontal pass
    x = F.conv2d(x, kern[:, None, :, None], groups=B * T * C)  # vertical pass
    return x.reshape(B, T, C, H, W)


def augment_bio(bio: torch.Tensor, config: AugmentConfig, *, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch of physiological segments.

    Parameters
    ----------
    bio : torch.Tensor, float, shape (B, C, L)
        Segments, channels by time samples.
    config : AugmentConfig
        ``bio_noise``: Gaussian noise with standard deviation ``noise_std`` times each channel's
        own standard deviation; ``bio_time_shift``: circular shift by an integer number of samples
        in [-max_shift, max_shift], the same for all channels of a segment; ``bio_scale``: one
        amplitude factor in [1 - scale, 1 + scale] per segment.
    generator : torch.Generator
        Source of randomness, on the same device as ``bio``.

    Returns
    -------
    torch.Tensor, shape (B, C, L)
    """
    if bio.ndim != 3:
        raise ValueError(f"bio must be (B, C, L), got {tuple(bio.shape)}")
    B, C, L = bio.shape
    dev = bio.device
    out = bio
    if config.bio_time_shift and config.max_shift > 0:
        shift = torch.randint(-config.max_shift, config.max_shift + 1, (B,), generator=generator, device=dev)
        idx = (torch.arange(L, device=dev)[None, :] - shift[:, None]) % L  # (B, L)
        out = out.gather(2, idx[:, None, :].expand(B, C, L))
    if config.bio_scale:
        factor = _uniform(B, 1 - config.scale, 1 + config.scale, generator=generator, device=dev)
        out = out * factor.to(out.dtype)[:, None, None]
    if config.bio_noise:
        std = out.std(dim=-1, keepdim=True)  # (B, C, 1)
        noise = torch.randn(out.shape, generator=generator, device=dev, dtype=out.dtype)
        out = out + noise * std * config.noise_std
    return out
